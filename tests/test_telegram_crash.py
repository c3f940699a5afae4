"""The Telegram channel under a 429 storm, with a blocked chat, and with ``triage run``
killed (SIGKILL) mid-conversation: no message lost, no reply sent twice (but the one in
flight at the kill, which is reported). The real python-telegram-bot against the Bot API
stand-in; the storm and the blocked chat in this process at the app's FixedClock, the kill
on a real ``python -m triage_desk run`` subprocess; both databases."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from email import policy
from email.parser import BytesParser
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select, update

from tests import telegram_channel
from tests.conftest import EXAMPLE_CONFIG
from tests.telegram_api import BotApiStandIn
from tests.telegram_channel import CHAT, QUESTION, Channel
from triage_desk.classifier.store import ModelStore
from triage_desk.cli import main
from triage_desk.desk_service import DeskService
from triage_desk.desk_service.errors import NotAllowed
from triage_desk.responders.chat_pacing import ChatPacer
from triage_desk.responders.telegram_ids import message_key
from triage_desk.service import serve
from triage_desk.storage.db import make_engine, make_session_factory
from triage_desk.storage.models import (
    AuditEvent,
    Direction,
    Lease,
    Message,
    OutboxItem,
    OutboxStatus,
    RequesterAddress,
)

channel = telegram_channel.channel  # the fixture

ROOT = Path(__file__).resolve().parent.parent
STAFF = "atbalsts-komanda@example.lv"
OTHER_CHAT = 515151
QUESTIONS = (
    "Nevaru pieslēgties pašvaldības portālam, parole netiek pieņemta.",
    "Atskaišu modulī poga 'Izveidot' nestrādā, cita ceļa nav.",
    "Rēķinu sarakstā filtrs pēc datuma rāda tukšu sarakstu.",
)


class VirtualTime:
    """The chat pacer's time: a pause moves it on at once (the pace is not under test)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds


def _unpaced(channel: Channel) -> None:
    clock = VirtualTime()
    sender = channel.app.dispatcher.transports["telegram"]
    sender.pacer = ChatPacer(monotonic=clock.monotonic, sleep=clock.sleep)  # type: ignore[attr-defined]


def _telegram_items(sessions) -> list[OutboxItem]:  # type: ignore[no-untyped-def]
    with sessions() as session:
        return list(
            session.scalars(
                select(OutboxItem).where(OutboxItem.channel == "telegram").order_by(OutboxItem.id)
            )
        )


def _inbound_ids(sessions) -> list[str]:  # type: ignore[no-untyped-def]
    with sessions() as session:
        return list(
            session.scalars(
                select(Message.external_id).where(
                    Message.direction == Direction.INBOUND, Message.channel == "telegram"
                )
            )
        )


def _audits(sessions, action: str) -> list[AuditEvent]:  # type: ignore[no-untyped-def]
    with sessions() as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def _is_message(text: str) -> bool:
    """What becomes a stored message: text, or ``/new <question>``; other commands not."""
    return not text.startswith("/") or (text.startswith("/new ") and len(text) > 5)


# ------------------------------------------------------------------ 429 storm


def test_a_429_storm_loses_no_message_and_sends_no_reply_twice(channel):
    _unpaced(channel)
    api = channel.api
    chats = [600_000 + n for n in range(8)]
    flooded = chats[::3]
    pushed = []
    for n, chat in enumerate(chats):
        pushed.append(api.push_message(chat, QUESTIONS[n % 3]))
        pushed.append(api.push_message(chat, "/status"))
    for chat in flooded:
        api.flood(chat, retry_after=7, times=3)
    for round_ in range(14):
        if round_ == 2:  # more arrive mid-storm, one of them delivered twice, more floods
            for n, chat in enumerate(chats):
                pushed.append(api.push_message(chat, f"/new {QUESTIONS[(n + 1) % 3]}"))
            api.push_update({"message": pushed[-1]["message"]})
            api.flood(chats[1], retry_after=3, times=2)
        channel.poll()
        channel.app.queue_runner().drain()
        channel.app.dispatcher.run_once()
        channel.clock.advance(seconds=3)

    # No message lost, none twice: each the person sent is stored once.
    sent_ids = [
        message_key(u["message"]["chat"]["id"], u["message"]["message_id"])
        for u in pushed
        if _is_message(u["message"]["text"])
    ]
    assert sorted(_inbound_ids(channel.app.sessions)) == sorted(sent_ids)
    # Every reply went, once: each chat shows exactly its outbox items' texts.
    items = _telegram_items(channel.app.sessions)
    assert items and all(i.status == OutboxStatus.SENT for i in items)
    for chat in chats:
        ours = Counter(i.body_text for i in items if i.recipient == str(chat))
        assert Counter(m.text for m in api.sent(chat)) == ours
    calls = api.calls_to("sendMessage")
    assert sum(c.status == 200 for c in calls) == len(items)
    refused = Counter(int(c.params["chat_id"]) for c in calls if c.status == 429)
    assert refused == {**{chat: 3 for chat in flooded}, chats[1]: 2}  # the storm happened
    assert sum(i.throttled for i in items) == sum(refused.values())
    assert _audits(channel.app.sessions, "telegram_possible_repeat") == []


# ------------------------------------------------------------------ a blocked chat


def test_a_blocked_chat_keeps_its_ticket_tells_staff_once_and_nothing_is_retried(
    channel, tmp_path, monkeypatch
):
    _unpaced(channel)
    api = channel.api
    api.push_message(CHAT, QUESTION)
    api.push_message(CHAT, "/status")
    api.push_message(OTHER_CHAT, QUESTIONS[1])
    api.block(CHAT)
    channel.poll()
    channel.app.queue_runner().drain()
    ticket = channel.tickets()[0]  # the chat's (its message came first)
    channel.work()
    items = _telegram_items(channel.app.sessions)
    mine = [i for i in items if i.recipient == str(CHAT)]
    assert len(mine) == 2 and all(i.status == OutboxStatus.DEAD for i in mine)
    assert [i.status for i in items if i.recipient == str(OTHER_CHAT)] == [OutboxStatus.SENT]
    # One request reached Telegram (403); the item behind it died without one.
    assert [c.status for c in api.calls_to("sendMessage") if c.params["chat_id"] == str(CHAT)] == [
        403
    ]
    with channel.app.sessions() as session:
        row = session.scalar(
            select(RequesterAddress).where(
                RequesterAddress.channel == "telegram", RequesterAddress.address == str(CHAT)
            )
        )
        assert row.undeliverable and "blocked" in row.undeliverable_reason
        assert ticket.number in row.undeliverable_reason
    assert channel.tickets()[0].status == ticket.status  # kept as it was, for staff
    # Staff are told once, by mail.
    folder = Path(channel.app.config.outbound.file_dir)
    parser = BytesParser(policy=policy.default)
    notices = [
        parser.parsebytes(p.read_bytes()) for p in folder.glob("*-chat_undeliverable_notice.eml")
    ]
    assert [n["To"] for n in notices] == [STAFF]
    assert str(CHAT) in notices[0]["Subject"] and ticket.number in notices[0].get_content()
    # Hours later nothing has been tried again.
    channel.clock.advance(hours=6)
    channel.work()
    assert len([c for c in api.calls_to("sendMessage") if c.params["chat_id"] == str(CHAT)]) == 1
    # A staff reply is refused in a chat's words, by the desk service and the command line.
    service = DeskService.from_config(
        channel.app.config, channel.clock, sessions=channel.app.sessions
    )
    with pytest.raises(NotAllowed) as refused:
        service.reply(ticket.number, "Vai problēma atrisināta?", "jberzins")
    assert f"the Telegram chat {CHAT} cannot be reached" in str(refused.value)
    assert "mail" not in str(refused.value) and "bounces" not in str(refused.value)
    config = tmp_path / "config.toml"
    config.write_text(
        EXAMPLE_CONFIG.read_text(encoding="utf-8")
        + f'\n[telegram]\napi_base_url = "{api.base_url}"\n'
        + '\n[desks.municipal.telegram]\ntoken_env = "TRIAGE_TEST_BOT"\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("TRIAGE_DATABASE_URL", channel.url)
    result = CliRunner().invoke(
        main, ["--config", str(config), "reply", ticket.number, "--text", "Vai atrisināts?"]
    )
    assert result.exit_code == 1 and "Telegram chat" in result.output
    assert "mail to" not in result.output
    # Forced anyway: it dies at once, not retried, and Telegram is not asked.
    service.reply(ticket.number, "Vai problēma atrisināta?", "jberzins", force=True)
    channel.work()
    channel.clock.advance(hours=6)
    channel.work()
    [forced] = [i for i in _telegram_items(channel.app.sessions) if i.kind == "staff_reply"]
    assert forced.status == OutboxStatus.DEAD and forced.attempts == 1
    assert len([c for c in api.calls_to("sendMessage") if c.params["chat_id"] == str(CHAT)]) == 1
    assert len(list(folder.glob("*-chat_undeliverable_notice.eml"))) == 1


# ------------------------------------------------------------------ shutdown


def test_triage_run_closes_the_telegram_sender_when_it_stops(channel, monkeypatch):
    sender = channel.app.dispatcher.transports["telegram"]
    closed = []
    close = sender.close
    monkeypatch.setattr(sender, "close", lambda: (closed.append(True), close())[1])
    channel.api.push_message(CHAT, QUESTION)

    async def run() -> None:
        stop = asyncio.Event()
        service = asyncio.create_task(serve(channel.app, stop, workers=0))
        for _ in range(600):
            if channel.bot_says():
                break
            await asyncio.sleep(0.05)
        stop.set()
        await asyncio.wait_for(service, 60)

    asyncio.run(run())
    assert len(channel.bot_says()) == 1
    assert closed == [True]
    with pytest.raises(RuntimeError, match="closed"):  # its loop is gone with it
        sender._loop.run(asyncio.sleep(0))


# ------------------------------------------------------------------ SIGKILL of triage run

KILL_CHATS = [700_000 + n for n in range(5)]
HELD = 700_099  # writes first while replies go out; its first reply is in flight at the kill


@pytest.fixture(scope="module")
def models(tmp_path_factory, classifier) -> Path:
    """The session's model on disk, where the subprocess's config looks (var/models)."""
    folder = tmp_path_factory.mktemp("run") / "var" / "models"
    ModelStore(folder).save(classifier.model, classifier.meta)
    return folder


def _config(api: BotApiStandIn, folder: Path) -> Path:
    text = EXAMPLE_CONFIG.read_text(encoding="utf-8")
    text = text.replace('semantic_stage = "deferred"', 'semantic_stage = "off"', 1)
    text = text.replace("[smtp_listener]\nenabled = true", "[smtp_listener]\nenabled = false", 1)
    assert 'semantic_stage = "off"' in text and "enabled = false" in text
    text += (
        f'\n[telegram]\napi_base_url = "{api.base_url}"\n'
        '\n[desks.municipal.telegram]\ntoken_env = "TRIAGE_TEST_BOT"\n'
        # The example's web form: any free port (two of these runs may overlap under xdist).
        "\n[web]\nport = 0\n"
    )
    path = folder / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _start(config: Path, url: str, token: str, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "TRIAGE_DATABASE_URL": url, "TRIAGE_TEST_BOT": token}
    with log.open("ab") as out:  # a file, not a pipe: a full pipe would stall the service
        return subprocess.Popen(
            [sys.executable, "-m", "triage_desk", "--config", str(config), "run", "--workers", "0"],
            cwd=config.parent,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def _wait(condition, seconds: float, process: subprocess.Popen[bytes], log: Path) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        if process.poll() is not None:
            raise AssertionError(f"triage run exited ({process.returncode}): {log.read_text()}")
        time.sleep(0.2)
    raise AssertionError(f"not reached within {seconds} s: {log.read_text()[-3000:]}")


class Arrivals:
    """People writing while the service runs: a message every 100 ms, in a thread; the
    held chat among them."""

    def __init__(self, api: BotApiStandIn) -> None:
        self.api, self.pushed, self.stop = api, [], threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        chats = [*KILL_CHATS[:2], HELD, *KILL_CHATS[2:]]
        n = 0
        while not self.stop.is_set():
            text = QUESTIONS[n % 3] if n % 4 else f"/new {QUESTIONS[n % 3]} ({n})"
            self.pushed.append(self.api.push_message(chats[n % len(chats)], text))
            n += 1
            self.stop.wait(0.1)

    def __enter__(self) -> Arrivals:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self._thread.join(10)


def _expected(pushed: list) -> list[str]:  # type: ignore[type-arg]
    return sorted(
        message_key(u["message"]["chat"]["id"], u["message"]["message_id"])
        for u in pushed
        if _is_message(u["message"]["text"])
    )


def test_a_sigkilled_triage_run_loses_no_message_and_repeats_only_the_send_in_flight(
    database_url, models
):
    engine = make_engine(database_url)
    sessions = make_session_factory(engine)
    log = models.parent.parent / "run.log"
    with BotApiStandIn() as api:
        config = _config(api, models.parent.parent)
        pushed = [api.push_message(chat, QUESTIONS[n % 3]) for n, chat in enumerate(KILL_CHATS)]
        hold = api.hold(HELD)
        first = _start(config, database_url, api.token, log)
        try:
            # Running: the first replies are going out. Then people write, the held chat too.
            _wait(lambda: len(api.calls_to("sendMessage")) >= 2, 180, first, log)
            with Arrivals(api) as arrivals:
                if not hold.reached.wait(120):
                    raise AssertionError(f"no send reached chat {HELD}: {log.read_text()}")
                first.send_signal(signal.SIGKILL)  # mid-send, mid-arrivals
                first.wait(30)
                time.sleep(0.5)  # a few more arrive while nothing runs
            pushed += arrivals.pushed
        finally:
            if first.poll() is None:
                first.kill()
                first.wait(30)
        assert first.returncode == -signal.SIGKILL
        hold.release.set()
        in_flight = next(i for i in _telegram_items(sessions) if i.recipient == str(HELD))
        assert in_flight.status == OutboxStatus.PENDING and in_flight.delivered_parts == [None]
        assert len(_inbound_ids(sessions)) < len(_expected(pushed))  # some were still to come
        # What the dead process held runs out (the poll lease after 85 s, the send's claim
        # after 5 min); the test moves those times to now instead of waiting for them.
        now = dt.datetime.now(dt.UTC)
        with sessions.begin() as session:
            session.execute(update(Lease).values(expires_at=now))
            session.execute(
                update(OutboxItem)
                .where(OutboxItem.claimed_at.is_not(None))
                .values(next_attempt_at=now)
            )
        second = _start(config, database_url, api.token, log)
        try:

            def done() -> bool:
                return sorted(_inbound_ids(sessions)) == _expected(pushed) and all(
                    i.status != OutboxStatus.PENDING for i in _telegram_items(sessions)
                )

            _wait(done, 180, second, log)
        finally:
            second.send_signal(signal.SIGTERM)
            try:
                second.wait(60)
            finally:
                if second.poll() is None:
                    second.kill()
                    second.wait(30)
        assert second.returncode == 0, log.read_text()[-3000:]
        assert "Traceback" not in log.read_text(), log.read_text()[-3000:]
    items = _telegram_items(sessions)
    assert all(i.status == OutboxStatus.SENT for i in items)
    # Every reply reached its chat once, except the one in flight at the kill: twice.
    for chat in [*KILL_CHATS, HELD]:
        ours = Counter(i.body_text for i in items if i.recipient == str(chat))
        if chat == HELD:
            ours[in_flight.body_text] += 1
        assert Counter(m.text for m in api.sent(chat)) == ours, chat
    # ... and that repeat is on record.
    [repeat] = _audits(sessions, "telegram_possible_repeat")
    assert repeat.details == {"outbox_id": in_flight.id, "part": 1, "parts": 1}
    with sessions() as session:
        inbound = session.scalar(
            select(func.count(Message.id)).where(Message.direction == Direction.INBOUND)
        )
    assert inbound == len(_expected(pushed))
    engine.dispose()
