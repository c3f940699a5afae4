"""Webhook mode for real: uvicorn on 127.0.0.1, real HTTP POSTs with httpx as Telegram sends
them, the inbound queue on both databases, and the real python-telegram-bot calling our Bot
API stand-in's setWebhook. No internet."""

from __future__ import annotations

import asyncio
import re
import socket
import tomllib

import httpx
import pytest
from sqlalchemy import select
from telegram.error import Conflict

from tests.conftest import EXAMPLE_CONFIG
from tests.telegram_api import BotApiStandIn
from tests.telegram_channel import CHAT, IN_HOURS, QUESTION
from triage_desk.app import build_app, telegram_pollers, telegram_webhooks
from triage_desk.clock import FixedClock
from triage_desk.config import ConfigError, parse_config
from triage_desk.intake.queue import InboundQueue
from triage_desk.intake.telegram.links import make_bot
from triage_desk.intake.telegram.poller import ALLOWED_UPDATES
from triage_desk.intake.telegram.webhook import MAX_BODY_BYTES, SECRET_HEADER
from triage_desk.service import serve
from triage_desk.storage.models import QueuedInbound, Ticket
from triage_desk.web.server import WebServer

SECRET = "Webhook_secret-0f-the-municipal-desk"
URL = "https://atbalsts.example.lv/telegram/municipal"
PATH = "/telegram/municipal"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def raw_config(api: BotApiStandIn, tmp_path, port: int) -> dict:
    raw = tomllib.loads(EXAMPLE_CONFIG.read_text(encoding="utf-8"))
    raw["telegram"] = {"api_base_url": api.base_url}
    raw["desks"]["municipal"]["telegram"] = {
        "token_env": "TRIAGE_TEST_BOT", "mode": "webhook", "webhook_url": URL,
        "secret_token_env": "TRIAGE_TEST_WEBHOOK_SECRET",
    }  # fmt: skip
    raw["web"] = {"host": "127.0.0.1", "port": port}
    # Its own SMTP port too: the other database's run of these tests may serve at once.
    raw["smtp_listener"] = {**raw.get("smtp_listener", {}), "port": free_port()}
    raw.setdefault("outbound", {})["file_dir"] = str(tmp_path / "outbox")
    return raw


@pytest.fixture
def hooked(database_url, classifier, monkeypatch, tmp_path):
    """The municipal desk's bot in webhook mode, its app, and the stand-in."""
    with BotApiStandIn() as api:
        monkeypatch.setenv("TRIAGE_TEST_BOT", api.token)
        monkeypatch.setenv("TRIAGE_TEST_WEBHOOK_SECRET", SECRET)
        config = parse_config(raw_config(api, tmp_path, free_port()))
        app = build_app(
            config, migrate=False, classifier=classifier, database_url=database_url,
            clock=FixedClock(IN_HOURS),
        )  # fmt: skip
        yield api, app
        app.dispatcher.transports["telegram"].close()
        app.close_telegram_files()
        app.engine.dispose()


def queued(app) -> list[QueuedInbound]:
    with app.sessions() as session:
        return list(session.scalars(select(QueuedInbound)))


def test_the_webhook_takes_only_telegrams_posts_and_answers_after_the_commit(hooked):
    api, app = hooked
    queue = InboundQueue(app.sessions, app.clock)
    seen_at_wake: list[int] = []
    update = api.push_message(CHAT, QUESTION)

    def wake() -> None:  # told after the commit, before the answer goes out
        seen_at_wake.append(len(queued(app)))

    async def scenario() -> None:
        [hook] = telegram_webhooks(app.config)
        server = WebServer(
            app.config.web.model_copy(update={"port": 0}), [hook.router(queue, wake)]
        )
        await server.start()
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}") as client:
                missing = await client.post(PATH, json=update)
                wrong = await client.post(
                    PATH, json=update, headers={SECRET_HEADER: SECRET[:-1] + "x"}
                )
                assert (missing.status_code, wrong.status_code) == (403, 403)
                assert queued(app) == []
                right = {SECRET_HEADER: SECRET}
                big = {**update, "padding": "x" * MAX_BODY_BYTES}
                assert (await client.post(PATH, json=big, headers=right)).status_code == 413
                assert (await client.post(PATH, content=b"{nope", headers=right)).status_code == 400
                assert queued(app) == []
                answer = await client.post(PATH, json=update, headers=right)
                assert answer.status_code == 200
                [row] = await asyncio.to_thread(queued, app)  # committed when answered
                assert row.external_id == f"{CHAT}:1" and row.desk == "municipal"
                assert seen_at_wake == [1]
                group = {
                    "update_id": 99,
                    "message": {**update["message"], "chat": {"id": -5, "type": "group"}},
                }
                assert (await client.post(PATH, json=group, headers=right)).status_code == 200
                assert len(queued(app)) == 1  # confirmed to Telegram, not taken in
        finally:
            await server.stop()

    asyncio.run(scenario())


def test_a_database_failure_is_no_200_and_telegrams_retry_is_taken(hooked):
    api, app = hooked
    queue = InboundQueue(app.sessions, app.clock)
    update = api.push_message(CHAT, QUESTION)

    def move_table(old: str, new: str) -> None:
        with app.engine.begin() as connection:
            connection.exec_driver_sql(f"ALTER TABLE {old} RENAME TO {new}")

    async def scenario() -> None:
        [hook] = telegram_webhooks(app.config)
        server = WebServer(
            app.config.web.model_copy(update={"port": 0}), [hook.router(queue, lambda: None)]
        )
        await server.start()
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}") as client:
                headers = {SECRET_HEADER: SECRET}
                await asyncio.to_thread(move_table, "inbound_queue", "inbound_queue_away")
                try:
                    failed = await client.post(PATH, json=update, headers=headers)
                finally:
                    await asyncio.to_thread(move_table, "inbound_queue_away", "inbound_queue")
                assert failed.status_code == 503
                assert queued(app) == []
                retried = await client.post(PATH, json=update, headers=headers)
                assert retried.status_code == 200 and len(queued(app)) == 1
        finally:
            await server.stop()

    asyncio.run(scenario())


def test_triage_run_sets_the_webhook_serves_it_and_polls_nothing(hooked):
    api, app = hooked
    update = api.push_message(CHAT, QUESTION)
    assert telegram_pollers(app.config, InboundQueue(app.sessions), lambda: None) == []
    answers: list[int] = []

    async def run() -> None:
        stop = asyncio.Event()
        service = asyncio.create_task(serve(app, stop, workers=0))
        try:
            for _ in range(600):
                if api.calls_to("setWebhook"):
                    break
                await asyncio.sleep(0.05)
            port = app.config.web.port
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
                answer = await client.post(PATH, json=update, headers={SECRET_HEADER: SECRET})
                answers.append(answer.status_code)
            for _ in range(600):
                if api.sent(CHAT):
                    break
                await asyncio.sleep(0.05)
        finally:
            stop.set()
            await asyncio.wait_for(service, 60)

    asyncio.run(run())
    [call] = api.calls_to("setWebhook")
    assert call.params["url"] == URL and call.params["secret_token"] == SECRET
    assert call.params["allowed_updates"] == list(ALLOWED_UPDATES)  # as the poller asks
    assert {"message", "edited_message", "callback_query"} <= set(ALLOWED_UPDATES)
    assert api.bots[api.token].webhook == {"url": URL, "secret_token": SECRET}
    assert answers == [200]
    with app.sessions() as session:
        [ticket] = session.scalars(select(Ticket))
    [ack] = api.sent(CHAT)
    assert ticket.number in ack.text
    assert api.calls_to("getUpdates") == []  # no poller for a desk in webhook mode

    async def poll() -> None:  # and Telegram refuses one while the webhook is set
        async with make_bot(app.config, "municipal") as bot:
            await bot.get_updates(timeout=0)

    with pytest.raises(Conflict):
        asyncio.run(poll())


def test_the_web_section_is_validated_with_the_key_named(monkeypatch, tmp_path):
    with BotApiStandIn() as api:
        monkeypatch.setenv("TRIAGE_TEST_BOT", api.token)
        monkeypatch.setenv("TRIAGE_TEST_WEBHOOK_SECRET", SECRET)
        raw = raw_config(api, tmp_path, 8080)
        assert parse_config(raw).web.host == "127.0.0.1"
        for web, named in (({"port": 70000}, "web.port"), ({"host": "a b"}, "web.host")):
            with pytest.raises(ConfigError, match=re.escape(named)):
                parse_config({**raw, "web": web})
        raw["desks"]["eparaksts"]["telegram"] = {
            **raw["desks"]["municipal"]["telegram"], "token_env": "TRIAGE_TEST_BOT_2",
        }  # fmt: skip
        monkeypatch.setenv("TRIAGE_TEST_BOT_2", "654321:ANOTHER-token-of-a-desk-bot")
        with pytest.raises(ConfigError, match=re.escape("desks.eparaksts.telegram.webhook_url")):
            parse_config(raw)  # two desks at one path
