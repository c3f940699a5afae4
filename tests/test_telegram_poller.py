"""The getUpdates loop with the real python-telegram-bot against our Bot API stand-in: updates
committed to the queue before the offset confirms them, one poller per bot, 409 waited out."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from sqlalchemy import func, select
from telegram import Bot
from telegram.error import Conflict

from tests.telegram_api import BotApiStandIn
from triage_desk.clock import FixedClock
from triage_desk.intake.queue import InboundQueue
from triage_desk.intake.telegram.poller import NotHolder, TelegramPoller
from triage_desk.storage.db import make_engine, make_session_factory
from triage_desk.storage.leases import Lease
from triage_desk.storage.models import QueuedInbound

NOW = dt.datetime(2026, 11, 30, 8, 0, tzinfo=dt.UTC)
CHAT = 424242


@pytest.fixture
def api():
    with BotApiStandIn() as stand_in:
        yield stand_in


@pytest.fixture
def run():
    """One event loop for the test: the bot's HTTP client belongs to the loop it first ran on."""
    with asyncio.Runner() as runner:
        yield runner.run


@pytest.fixture
def queue(database_url):
    engine = make_engine(database_url)
    yield InboundQueue(make_session_factory(engine), FixedClock(NOW))
    engine.dispose()


def poller(api: BotApiStandIn, queue: InboundQueue, holder: str = "a", **options) -> TelegramPoller:
    bot = Bot(api.token, base_url=f"{api.base_url}/bot", base_file_url=f"{api.base_url}/file/bot")
    lease = Lease(queue.sessions, "telegram-poll:123456", 85, holder=holder, clock=queue.clock)
    return TelegramPoller("municipal", bot, queue, lease, poll_seconds=0, **options)


def queued(queue: InboundQueue) -> list[tuple[str | None, str]]:
    with queue.sessions() as session:
        rows = session.execute(select(QueuedInbound.external_id, QueuedInbound.channel))
        return sorted((external_id, channel) for external_id, channel in rows)


def offsets(api: BotApiStandIn) -> list[str | None]:
    return [call.params.get("offset") for call in api.calls_to("getUpdates")]


def test_updates_are_committed_before_the_next_round_confirms_them(api, queue, run):
    api.push_message(CHAT, "Portāls nestrādā")
    api.push_update({"message": {"message_id": 9, "chat": {"id": -5, "type": "group"},
                                 "date": 0, "text": "grupā"}})  # fmt: skip
    api.push_message(CHAT, "Vēl viena ziņa")
    first = poller(api, queue)
    woken = []
    first.wake = lambda: woken.append(True)
    assert run(first.poll_once()) == 2
    assert queued(queue) == [(f"{CHAT}:1", "telegram"), (f"{CHAT}:2", "telegram")]
    assert woken == [True] and first.offset == 4
    bot = api.bots[api.token]
    assert [u["update_id"] for u in bot.updates] == [1, 2, 3]  # committed, not yet confirmed
    assert run(first.poll_once()) == 0
    assert bot.updates == [] and offsets(api) == [None, "4"]


def test_a_poller_that_died_before_confirming_gets_the_same_updates_again(api, queue, run):
    api.push_message(CHAT, "Portāls nestrādā")
    assert run(poller(api, queue).poll_once()) == 1  # then killed: no next round
    successor = poller(api, queue, holder="a")  # the same process restarted, say
    assert run(successor.poll_once()) == 1
    # The same external id twice: the queue runner's deduplication makes it one message.
    assert queued(queue) == [(f"{CHAT}:1", "telegram")] * 2


def test_one_poller_per_bot_until_its_lease_runs_out(api, queue, run):
    api.push_message(CHAT, "Sveiki")
    holder, other = poller(api, queue, holder="a"), poller(api, queue, holder="b")
    assert run(holder.poll_once()) == 1
    with pytest.raises(NotHolder):
        run(other.poll_once())
    assert len(api.calls_to("getUpdates")) == 1  # the second never asked Telegram
    queue.clock.advance(seconds=86)  # the holder died: its lease runs out
    assert run(other.poll_once()) == 1
    with pytest.raises(NotHolder):
        run(holder.poll_once())
    other.lease.release()
    assert other.lease.holder_now() is None and holder.lease.take()


def test_a_409_is_waited_out_and_polling_goes_on(api, queue, run, caplog):
    async def scenario() -> None:
        api.bots[api.token].webhook = {"url": "https://desk.example.lv/hook"}
        stop = asyncio.Event()
        task = asyncio.create_task(poller(api, queue, retry_seconds=0.05).run(stop))
        await until(lambda: len([c for c in api.calls_to("getUpdates") if c.status == 409]) >= 2)
        api.bots[api.token].webhook = None
        api.push_message(CHAT, "Pēc webhook")
        await until(lambda: len(queued(queue)) == 1)
        stop.set()
        await asyncio.wait_for(task, 5)

    run(scenario())
    assert "Telegram refused getUpdates" in caplog.text
    assert queued(queue) == [(f"{CHAT}:1", "telegram")]
    with queue.sessions() as session:
        assert session.scalar(select(func.count()).select_from(QueuedInbound)) == 1


def test_the_conflict_is_telegrams_own_409(api, queue, run):
    api.bots[api.token].webhook = {"url": "https://desk.example.lv/hook"}
    with pytest.raises(Conflict, match="webhook is active"):
        run(poller(api, queue).poll_once())


async def until(condition, seconds: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)
