"""Configuration is validated once; every error names the key, the value and the fix."""

from __future__ import annotations

import copy
import tomllib

import pytest

from tests.conftest import EXAMPLE_CONFIG
from triage_desk.config import ConfigError, load_config, parse_config
from triage_desk.sla.targets import Target, Unit


@pytest.fixture
def raw() -> dict:
    return tomllib.loads(EXAMPLE_CONFIG.read_text(encoding="utf-8"))


def test_example_config_carries_the_seed_rules(example_config):
    municipal = example_config.desks["municipal"]
    assert municipal.addresses == ["atbalsts@example.lv"]
    assert municipal.calendar.zone == "Europe/Riga"
    assert (municipal.calendar.open.hour, municipal.calendar.close.hour) == (9, 17)
    table = {
        name: (c.response, c.resolution, c.submitted_by, c.allowed_late_share)
        for name, c in municipal.categories.items()
    }
    bh, bd, months = Unit.BUSINESS_HOURS, Unit.BUSINESS_DAYS, Unit.MONTHS
    assert table == {
        "emergency": (Target(2, bh), Target(16, bh), "anyone", 5),
        "serious_error": (Target(2, bh), Target(40, bh), "anyone", 7),
        "error": (Target(8, bh), Target(6, months), "anyone", 10),
        "inaccuracy": (Target(8, bh), Target(6, months), "representative", 5),
        "data_processing": (Target(8, bh), None, "representative", None),
        "consultation": (Target(8, bh), Target(5, bd), "representative", 5),
        "feedback": (None, None, "anyone", None),
    }
    eparaksts = example_config.desks["eparaksts"]
    assert eparaksts.addresses == ["eparaksts@example.lv"]
    assert eparaksts.calendar.close.hour == 18
    assert eparaksts.categories["application"].resolution == Target(1, bd)
    assert eparaksts.categories["suspension"].around_the_clock
    assert eparaksts.categories["feedback"].resolution == Target(1, bd)
    for desk in (municipal, eparaksts):
        assert set(desk.feedback_types) == {
            "suggestion",
            "praise",
            "complaint_service",
            "complaint_customer_service",
        }


def _error(data: dict) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_config(data, "test.toml")
    return str(caught.value)


def test_a_bad_unit_names_key_value_and_fix(raw):
    raw["desks"]["municipal"]["categories"]["error"]["response"] = "8 bussiness_hours"
    message = _error(raw)
    assert "desks.municipal.categories.error.response" in message
    assert "'8 bussiness_hours'" in message
    assert "business_hours" in message  # the fix: the units that exist


def test_an_unknown_key_is_an_error_not_a_silent_default(raw):
    raw["desks"]["municipal"]["calendar"]["opne"] = "08:00"
    message = _error(raw)
    assert "desks.municipal.calendar.opne" in message and "unknown key" in message


def test_open_after_close_is_refused(raw):
    raw["desks"]["eparaksts"]["calendar"]["open"] = "19:00"
    assert "open 19:00 is not before close 18:00" in _error(raw)


def test_unknown_zone_and_country(raw):
    bad = copy.deepcopy(raw)
    bad["desks"]["municipal"]["calendar"]["zone"] = "Europe/Rigga"
    assert "Europe/Rigga" in _error(bad) and "IANA" in _error(bad)
    bad = copy.deepcopy(raw)
    bad["desks"]["municipal"]["calendar"]["holidays_country"] = "XX"
    assert "holidays_country" in _error(bad)


def test_secrets_are_never_read_from_the_file(raw):
    raw["outbound"]["smtp"]["password"] = "hunter2"
    message = _error(raw)
    assert "password_env" in message and "environment variable" in message
    assert "hunter2" not in message


def test_a_secret_named_by_env_must_be_set_when_used(raw, monkeypatch):
    raw["outbound"]["transport"] = "smtp"
    raw["outbound"]["smtp"]["password_env"] = "TRIAGE_TEST_UNSET_SECRET"
    monkeypatch.delenv("TRIAGE_TEST_UNSET_SECRET", raising=False)
    assert "TRIAGE_TEST_UNSET_SECRET" in _error(raw)
    monkeypatch.setenv("TRIAGE_TEST_UNSET_SECRET", "s3cret")
    config = parse_config(raw)
    assert config.outbound.smtp.password() == "s3cret"


def test_one_address_cannot_route_to_two_desks(raw):
    raw["desks"]["eparaksts"]["addresses"] = ["atbalsts@example.lv"]
    assert "belongs to desks" in _error(raw)


def test_categories_need_labels_in_every_language(raw):
    del raw["desks"]["municipal"]["categories"]["error"]["labels"]["ru"]
    message = _error(raw)
    assert "desks.municipal.categories.error.labels" in message and "'ru'" in message


def test_missing_file_and_bad_toml(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("[desks\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(broken)


def test_database_url_from_environment_wins(example_config, monkeypatch):
    monkeypatch.setenv("TRIAGE_DATABASE_URL", "postgresql://x@127.0.0.1/y")
    assert example_config.database_url() == "postgresql://x@127.0.0.1/y"
    monkeypatch.delenv("TRIAGE_DATABASE_URL")
    assert example_config.database_url() == "sqlite:///var/triage.sqlite"
