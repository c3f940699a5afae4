"""The municipal desk's bot as ``triage run`` serves it, against the Bot API stand-in,
driven a step at a time (shared by the Telegram end-to-end tests)."""

from __future__ import annotations

import asyncio
import datetime as dt
import tomllib

import pytest
from sqlalchemy import func, select

from tests.conftest import EXAMPLE_CONFIG
from tests.telegram_api import BotApiStandIn
from triage_desk.app import App, build_app, telegram_pollers
from triage_desk.clock import FixedClock
from triage_desk.config import parse_config
from triage_desk.intake.telegram.poller import TelegramPoller
from triage_desk.storage.models import Direction, Message, Ticket

IN_HOURS = dt.datetime(2026, 11, 30, 8, 0, tzinfo=dt.UTC)  # Monday 10:00 in Riga
OUT_OF_HOURS = dt.datetime(2026, 11, 30, 19, 0, tzinfo=dt.UTC)  # Monday 21:00 in Riga
CHAT = 424242
QUESTION = "Nevaru pieslēgties pašvaldības portālam, parole netiek pieņemta jau divas dienas."


class Channel:
    """The municipal desk's bot as ``triage run`` serves it, driven a step at a time."""

    def __init__(
        self,
        url: str,
        api: BotApiStandIn,
        classifier,
        monkeypatch,
        tmp_path,
        desk: str = "municipal",
        **telegram,
    ) -> None:
        monkeypatch.setenv("TRIAGE_TEST_BOT", api.token)
        raw = tomllib.loads(EXAMPLE_CONFIG.read_text(encoding="utf-8"))
        raw["telegram"] = {"api_base_url": api.base_url}
        raw["desks"][desk]["telegram"] = {
            "token_env": "TRIAGE_TEST_BOT", "reopen_days": 5, **telegram
        }  # fmt: skip
        raw.setdefault("outbound", {})["file_dir"] = str(tmp_path / "outbox")
        raw["web"] = {"port": 0}  # the example's web form: any free port, never a shared one
        self.api, self.clock, self.url = api, FixedClock(IN_HOURS), url
        self.app: App = build_app(
            parse_config(raw), migrate=False, classifier=classifier, database_url=url,
            clock=self.clock,
        )  # fmt: skip
        self.runner = asyncio.Runner()  # the bot's HTTP client stays on one loop
        self.poller = self.new_poller()

    def new_poller(self) -> TelegramPoller:
        [poller] = telegram_pollers(self.app.config, self.app.queue_runner().queue, lambda: None)
        poller.poll_seconds = 0
        return poller

    def poll(self, poller: TelegramPoller | None = None) -> int:
        return self.runner.run((poller or self.poller).poll_once())

    def work(self) -> None:
        """What the runners of ``triage run`` do next: store the queue, send the outbox."""
        self.app.queue_runner().drain()
        while self.app.dispatcher.run_once().sent:
            pass

    def round(self) -> None:
        self.poll()
        self.work()

    def bot_says(self, chat: int = CHAT) -> list[str]:
        return [m.text for m in self.api.sent(chat)]

    def tickets(self) -> list[Ticket]:
        with self.app.sessions() as session:
            return list(session.scalars(select(Ticket).order_by(Ticket.id)))

    def inbound(self) -> int:
        with self.app.sessions() as session:
            query = select(func.count(Message.id)).where(Message.direction == Direction.INBOUND)
            return int(session.scalar(query) or 0)

    def close(self) -> None:
        self.runner.close()
        self.app.close_telegram_files()
        self.app.dispatcher.transports["telegram"].close()
        self.app.engine.dispose()


@pytest.fixture
def channel(database_url, classifier, monkeypatch, tmp_path):
    with BotApiStandIn() as api:
        found = Channel(database_url, api, classifier, monkeypatch, tmp_path)
        yield found
        found.close()
