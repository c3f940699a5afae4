"""[telegram] and [desks.<desk>.telegram]: validated once at start, each refusal naming the
key and the fix; the bot token only ever read from the environment."""

from __future__ import annotations

import tomllib

import pytest

from tests.conftest import EXAMPLE_CONFIG
from triage_desk.config import ConfigError, parse_config

TOKEN = "123456:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"


@pytest.fixture
def raw(monkeypatch) -> dict:
    monkeypatch.setenv("TRIAGE_TEST_BOT", TOKEN)
    monkeypatch.setenv("TRIAGE_TEST_HOOK_SECRET", "s3cret_-value")
    monkeypatch.delenv("TRIAGE_TEST_UNSET", raising=False)
    return tomllib.loads(EXAMPLE_CONFIG.read_text(encoding="utf-8"))


def _bot(raw: dict, desk: str = "municipal", **keys) -> dict:
    raw["desks"][desk]["telegram"] = {"token_env": "TRIAGE_TEST_BOT", **keys}
    return raw


def _error(data: dict) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_config(data, "test.toml")
    return str(caught.value)


def test_the_example_needs_no_token_and_defaults_to_telegram(raw):
    config = parse_config(raw)
    assert config.telegram.api_base_url == "https://api.telegram.org"
    assert all(desk.telegram is None for desk in config.desks.values())


def test_a_polling_bot_and_a_webhook_bot(raw):
    _bot(raw, staff_chat_id=-100123, staff_user_ids=[42], reopen_days=3)
    _bot(
        raw,
        "eparaksts",
        token_env="TRIAGE_TEST_BOT2",
        mode="webhook",
        webhook_url="https://desk.example.lv/telegram/eparaksts",
        secret_token_env="TRIAGE_TEST_HOOK_SECRET",
    )
    raw["telegram"] = {"api_base_url": "http://127.0.0.1:8081/"}
    with pytest.MonkeyPatch.context() as env:
        env.setenv("TRIAGE_TEST_BOT2", "654321:BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB")
        config = parse_config(raw)
    municipal, eparaksts = config.desks["municipal"].telegram, config.desks["eparaksts"].telegram
    assert (municipal.mode, municipal.staff_chat_id, municipal.reopen_days) == (
        "polling",
        -100123,
        3,
    )
    assert municipal.token() == TOKEN
    assert eparaksts.mode == "webhook" and eparaksts.secret_token() == "s3cret_-value"
    assert config.telegram.api_base_url == "http://127.0.0.1:8081"  # no trailing slash


def test_the_token_variable_must_be_set(raw):
    message = _error(_bot(raw, token_env="TRIAGE_TEST_UNSET"))
    assert "desks.municipal.telegram.token_env = 'TRIAGE_TEST_UNSET'" in message
    assert "not set" in message and "export it" in message


def test_the_token_variable_must_hold_a_token_which_is_never_shown(raw, monkeypatch):
    monkeypatch.setenv("TRIAGE_TEST_BOT", "not a token at all")
    message = _error(_bot(raw))
    assert "does not hold a bot token" in message and "not a token at all" not in message


def test_a_token_in_the_file_is_refused(raw):
    raw["desks"]["municipal"]["telegram"] = {"token": TOKEN}
    message = _error(raw)
    assert "looks like a secret" in message and "token_env" in message and TOKEN not in message


def test_webhook_mode_needs_url_and_secret(raw):
    message = _error(_bot(raw, mode="webhook"))
    assert "desks.municipal.telegram" in message
    assert "needs webhook_url and secret_token_env" in message
    message = _error(_bot(raw, mode="webhook", webhook_url="https://desk.example.lv/tg"))
    assert "needs secret_token_env" in message


def test_webhook_url_must_be_https(raw):
    message = _error(
        _bot(
            raw,
            mode="webhook",
            webhook_url="http://desk.example.lv/tg",
            secret_token_env="TRIAGE_TEST_HOOK_SECRET",
        )
    )
    assert "webhook_url = 'http://desk.example.lv/tg'" in message and "https://" in message


def test_webhook_keys_in_polling_mode_are_refused(raw):
    message = _error(_bot(raw, webhook_url="https://desk.example.lv/tg"))
    assert "are for mode = 'webhook'" in message


def test_the_webhook_secret_must_be_set_and_acceptable_to_telegram(raw, monkeypatch):
    hook = {"mode": "webhook", "webhook_url": "https://desk.example.lv/tg"}
    message = _error(_bot(raw, **hook, secret_token_env="TRIAGE_TEST_UNSET"))
    assert "secret_token_env = 'TRIAGE_TEST_UNSET'" in message and "not set" in message
    monkeypatch.setenv("TRIAGE_TEST_HOOK_SECRET", "has spaces!")
    message = _error(_bot(raw, **hook, secret_token_env="TRIAGE_TEST_HOOK_SECRET"))
    assert "Telegram accepts" in message and "has spaces!" not in message


def test_an_unknown_mode_and_a_negative_reopen_window(raw):
    assert "mode" in _error(_bot(raw, mode="push"))
    assert "reopen_days" in _error(_bot(raw, reopen_days=-1))


def test_one_bot_serves_one_desk(raw):
    _bot(raw)
    message = _error(_bot(raw, "eparaksts"))
    assert (
        "desks.eparaksts.telegram.token_env" in message
        and "same bot as desk 'municipal'" in message
    )


@pytest.mark.parametrize(
    ("url", "fix"),
    [("ftp://example.lv", "http(s) URL"), ("https://api.telegram.org/bot", "ends in '/bot'")],
)
def test_the_api_base_url_is_a_server_root(raw, url, fix):
    raw["telegram"] = {"api_base_url": url}
    message = _error(raw)
    assert "telegram.api_base_url" in message and fix in message


def test_an_unknown_telegram_key_is_an_error(raw):
    assert "desks.municipal.telegram.poll_secs: unknown key" in _error(_bot(raw, poll_secs=3))
