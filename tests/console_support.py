"""The staff console over a real database and the real intake: what its HTTP and browser
tests share. Mail goes in through ``EmailIntake.ingest`` (parse, classify, store, queue the
acknowledgement), so the console shows what a desk would."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

import pytest
from fastapi import FastAPI

from tests.console_server import serving
from triage_desk.app import App, build_app, build_desk_service
from triage_desk.classifier.predict import Classifier
from triage_desk.clock import FixedClock
from triage_desk.config import Config
from triage_desk.console import create_console
from triage_desk.desk_service import DeskService
from triage_desk.desk_service.staff import StaffAccounts

# Monday 30 November 2026, 10:00 in Riga: the desk is open.
NOW = dt.datetime(2026, 11, 30, 8, 0, tzinfo=dt.UTC)
PASSWORD = "correct horse battery"
USERS = {"agnese": "agent", "sandra": "supervisor", "arturs": "admin"}


@dataclass
class ConsoleWorld:
    app: App
    clock: FixedClock
    service: DeskService
    accounts: StaffAccounts
    web: FastAPI

    def mail(self, raw: bytes, minutes_ago: float = 0) -> str:
        """Ingest one mail as SMTP intake would; the ticket number it opened or joined."""
        at = self.clock() - dt.timedelta(minutes=minutes_ago)
        outcome = self.app.email_intake.ingest(raw, "municipal", "smtp", received_at=at)
        assert outcome.ticket_number, outcome
        return outcome.ticket_number


def console_config(config: Config, tmp_path: Path) -> Config:
    return config.model_copy(
        update={
            "service": config.service.model_copy(
                update={"semantic_stage": "off", "models_dir": tmp_path / "models"}
            ),
            "outbound": config.outbound.model_copy(update={"file_dir": tmp_path / "outbox"}),
            "console": config.console.model_copy(update={"enabled": True, "port": 0}),
        }
    )


def make_world(
    config: Config, database_url: str, classifier: Classifier, tmp_path: Path
) -> ConsoleWorld:
    clock = FixedClock(NOW)
    app = build_app(
        console_config(config, tmp_path),
        migrate=False,
        classifier=classifier,
        database_url=database_url,
        clock=clock,
    )
    service = build_desk_service(app)
    accounts = StaffAccounts(app.sessions, clock)
    for name, role in USERS.items():
        accounts.add_user(name, PASSWORD, role, language="en")
    web = create_console(app, clock, service=service, accounts=accounts)
    return ConsoleWorld(app, clock, service, accounts, web)


def mail(
    subject: str,
    text: str | None = None,
    html: str | None = None,
    sender: str = "Ilze Kalniņa <ilze@novads.example.lv>",
    at: dt.datetime = NOW,
) -> bytes:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = "atbalsts@example.lv"
    message["Subject"] = subject
    message["Date"] = format_datetime(at)
    message["Message-ID"] = f"<{abs(hash((subject, text, html)))}@novads.example.lv>"
    if text is not None:
        message.set_content(text)
        if html is not None:
            message.add_alternative(html, subtype="html")
    else:
        message.set_content(html or "", subtype="html")
    return bytes(message)


@pytest.fixture
def world(
    database_url: str, example_config: Config, classifier: Classifier, tmp_path: Path
) -> Iterator[ConsoleWorld]:
    """A console world over the test's database (import it into a test module to use it)."""
    built = make_world(example_config, database_url, classifier, tmp_path)
    yield built
    built.app.engine.dispose()


@pytest.fixture
def base(world: ConsoleWorld) -> Iterator[str]:
    """The world's console served over real HTTP on a loopback port: its base URL."""
    with serving(world.web) as url:
        yield url
