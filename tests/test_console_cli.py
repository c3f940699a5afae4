"""`triage user add` (password from $TRIAGE_PASSWORD) and `triage run` serving the console."""

from __future__ import annotations

import asyncio
import re

import httpx
from click.testing import CliRunner

from tests.console_support import console_config
from triage_desk.app import build_app
from triage_desk.cli import main
from triage_desk.desk_service.staff import StaffAccounts
from triage_desk.service import start_console


def test_user_add_takes_the_password_from_the_environment(sqlite_url, tmp_path, monkeypatch):
    monkeypatch.setenv("TRIAGE_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("TRIAGE_PASSWORD", "a long passphrase")
    result = CliRunner().invoke(main, ["user", "add", "Ieva", "--role", "supervisor"])
    assert result.exit_code == 0, result.output
    assert "ieva" in result.output
    again = CliRunner().invoke(main, ["user", "add", "ieva", "--role", "agent"])
    assert again.exit_code == 1 and "exists" in again.output
    short = CliRunner().invoke(main, ["user", "add", "x", "--role", "agent"], env={
        "TRIAGE_PASSWORD": "short"})  # fmt: skip
    assert short.exit_code == 2 and "--password" in short.output
    from triage_desk.storage.db import make_engine, make_session_factory

    accounts = StaffAccounts(make_session_factory(make_engine(sqlite_url)))
    assert accounts.authenticate("ieva", "a long passphrase").role == "supervisor"
    assert accounts.authenticate("ieva", "wrong") is None


def test_triage_run_serves_the_console_on_its_configured_address(
    sqlite_url, example_config, classifier, tmp_path
):
    app = build_app(
        console_config(example_config, tmp_path),
        migrate=False,
        classifier=classifier,
        database_url=sqlite_url,
    )
    server = start_console(app)
    assert server is not None
    try:
        port = server.server.servers[0].sockets[0].getsockname()[1]
        assert server.server.config.host == "127.0.0.1"
        page = httpx.get(f"http://127.0.0.1:{port}/login", timeout=30)
        assert page.status_code == 200 and re.search(r'name="username"', page.text)
    finally:
        asyncio.run(asyncio.to_thread(server.stop))
        app.engine.dispose()


def test_console_settings_are_validated_and_errors_name_the_key():
    import tomllib

    import pytest

    from tests.conftest import EXAMPLE_CONFIG
    from triage_desk.config import ConfigError, parse_config

    data = tomllib.loads(EXAMPLE_CONFIG.read_text(encoding="utf-8"))
    assert parse_config(data).console.port == 8000
    for key, value in (("enabled", "maybe"), ("port", 70000), ("colour", "blue")):
        broken = {**data, "console": {**data["console"], key: value}}
        with pytest.raises(ConfigError, match=rf"console\.{key}"):
            parse_config(broken)
