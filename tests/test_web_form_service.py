"""`triage run` serves the public form when a desk enables it: the real service (queue
runner loop, dispatcher) behind the real HTTP server; and the form's configuration is
checked at start, each error naming its key."""

from __future__ import annotations

import asyncio
import logging
import re
import tomllib

import httpx
import pytest

from tests.conftest import EXAMPLE_CONFIG
from triage_desk.app import build_app
from triage_desk.config import ConfigError, parse_config
from triage_desk.service import serve


def _raw() -> dict:
    return tomllib.loads(EXAMPLE_CONFIG.read_text(encoding="utf-8"))


def test_the_service_serves_the_form_and_its_queue_runner_numbers_the_ticket(
    sqlite_url, classifier, tmp_path, caplog
):
    raw = _raw()
    raw["smtp_listener"]["enabled"] = False
    raw["service"]["semantic_stage"] = "off"
    raw["outbound"]["file_dir"] = str(tmp_path / "outbox")
    raw["web"] = {"host": "127.0.0.1", "port": 0}
    app = build_app(
        parse_config(raw), migrate=False, classifier=classifier, database_url=sqlite_url
    )
    caplog.set_level(logging.INFO, logger="triage_desk.web.server")

    async def run() -> tuple[int, str]:
        stop = asyncio.Event()
        service = asyncio.create_task(serve(app, stop, workers=0))
        port = None
        for _ in range(600):
            found = re.search(r"HTTP server listening on 127\.0\.0\.1:(\d+)", caplog.text)
            if found:
                port = int(found.group(1))
                break
            await asyncio.sleep(0.05)
        assert port, caplog.text
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            page = await client.get("/form/municipal?lang=en")
            token = re.search(r'name="token" value="([^"]+)"', page.text).group(1)
            data = {"token": token, "email": "ilze@novads.example.lv", "language": "en"}
            data["message"] = "I cannot log in to the portal, it shows error 500."
            answer = await client.post("/form/municipal", data=data)
            assert answer.status_code == 303
            shown = await client.get(answer.headers["location"])
        stop.set()
        await asyncio.wait_for(service, 60)
        return shown.status_code, shown.text

    try:
        status, text = asyncio.run(run())
    finally:
        app.engine.dispose()
    # The POST waited for the service's queue runner: the number is on the page at once.
    assert status == 200 and re.search(r'id="ticket-number">MUN-2026-\d{6}<', text), text[:600]


@pytest.mark.parametrize(
    ("key", "value", "named"),
    [
        ("wait_seconds", 60, "desks.municipal.web_form.wait_seconds"),
        ("max_files", -1, "desks.municipal.web_form.max_files"),
        ("submissions_per_ip_per_hour", 0, "desks.municipal.web_form.submissions_per_ip_per_hour"),
        ("enabld", True, "desks.municipal.web_form.enabld: unknown key"),
    ],
)
def test_form_settings_are_checked_at_start_naming_the_key(key, value, named):
    raw = _raw()
    raw["desks"]["municipal"]["web_form"][key] = value
    with pytest.raises(ConfigError) as caught:
        parse_config(raw, "config.toml")
    assert named in str(caught.value)


def test_the_form_is_off_unless_a_desk_enables_it():
    config = parse_config(_raw())
    assert config.desks["municipal"].web_form.enabled  # the example shows it (`make run`)
    assert not config.desks["eparaksts"].web_form.enabled
