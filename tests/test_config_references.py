"""Configuration that names things: a reply template, a ticket prefix, a representative.

Each used to pass validation and fail later, at the worst moment: a missing reply template at
the first certificate suspension, a shared prefix at the second desk's first ticket (an
integrity error), a representative that is no address never matching anyone.
"""

from __future__ import annotations

import tomllib

import pytest

from tests.conftest import EXAMPLE_CONFIG
from triage_desk.addresses import is_email_address
from triage_desk.config import ConfigError, parse_config


@pytest.fixture
def raw() -> dict:
    return tomllib.loads(EXAMPLE_CONFIG.read_text(encoding="utf-8"))


def _problem(raw: dict) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_config(raw, "config.toml")
    return str(caught.value)


def test_a_reply_template_that_does_not_exist_is_refused_with_the_key(raw):
    raw["desks"]["eparaksts"]["categories"]["suspension"]["reply_template"] = "nonexistent"
    problem = _problem(raw)
    assert "desks.eparaksts.categories.suspension.reply_template = 'nonexistent'" in problem
    assert "no such template" in problem and "'urgent_route'" in problem


def test_a_reply_template_for_another_purpose_is_refused(raw):
    raw["desks"]["eparaksts"]["categories"]["suspension"]["reply_template"] = "staff_reply"
    problem = _problem(raw)
    assert "desks.eparaksts.categories.suspension.reply_template" in problem
    assert "not a first reply" in problem


def test_reply_template_acknowledgement_means_the_usual_reply(raw):
    raw["desks"]["municipal"]["categories"]["emergency"]["reply_template"] = "acknowledgement"
    config = parse_config(raw)
    assert config.desks["municipal"].categories["emergency"].reply_template is None
    assert config.desks["eparaksts"].categories["suspension"].reply_template == "urgent_route"


def test_two_desks_with_one_ticket_prefix_are_refused(raw):
    raw["desks"]["eparaksts"]["ticket_prefix"] = "MUN"
    problem = _problem(raw)
    assert "desks.eparaksts.ticket_prefix = 'MUN'" in problem
    assert "desk 'municipal'" in problem and "own prefix" in problem


@pytest.mark.parametrize("bad", ["Jānis Bērziņš", "it.nodala", "x@localhost", "a@b@c.lv"])
def test_a_representative_must_be_an_email_address(raw, bad):
    raw["clients"][0]["representatives"] = ["it.nodala@novads.example.lv", bad]
    problem = _problem(raw)
    assert "clients.0.representatives" in problem and repr(bad) in problem
    assert "name@domain.tld" in problem


def test_representatives_are_kept_lower_case(raw):
    raw["clients"][0]["representatives"] = [" IT.Nodala@Novads.Example.LV "]
    assert parse_config(raw).clients[0].representatives == ["it.nodala@novads.example.lv"]


def test_what_counts_as_an_email_address():
    assert is_email_address("ilze@novads.example.lv")
    assert is_email_address("jānis@pašvaldība.lv") and is_email_address('"a b"@x.lv')
    for bad in ("nobody", "_info@firma.lv?=", "a b@c.lv", "a@b", "a..b@x.lv", "@x.lv"):
        assert not is_email_address(bad), bad
