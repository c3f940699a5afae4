"""`triage demo`: bundled sample messages through the whole pipeline, nothing left behind."""

from __future__ import annotations

import datetime as dt
import json
import tempfile
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

from rich.console import Console
from rich.panel import Panel
from rich.table import Table
from sqlalchemy import select

from triage_desk.app import build_app
from triage_desk.classifier.predict import Classifier
from triage_desk.clock import FixedClock, system_clock
from triage_desk.config import Config
from triage_desk.intake.email.parse import inbound_from_email
from triage_desk.storage.models import OutboxItem, Ticket, TicketStatus

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def sample_instant(when: dict[str, str], today: dt.date, zone: dt.tzinfo) -> dt.datetime:
    """The first instant on or after ``today`` that a sample's ``received`` names: a weekday
    (``{"weekday": "fri", "at": "16:30"}``) or a day of the year (``{"date": "12-23", ...}``),
    so the demo shows the same situations (Friday afternoon, a weekend night, the eve of the
    Christmas holidays) whatever the date it runs on."""
    hour, minute = (int(part) for part in when["at"].split(":"))
    if "weekday" in when:
        ahead = (WEEKDAYS.index(when["weekday"]) - today.weekday()) % 7
        day = today + dt.timedelta(days=ahead)
    else:
        month, day_of_month = (int(part) for part in when["date"].split("-"))
        day = dt.date(today.year, month, day_of_month)
        if day < today:
            day = day.replace(year=today.year + 1)
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=zone)


def sample_emails(today: dt.date, zone: dt.tzinfo) -> list[tuple[bytes, str, dt.datetime]]:
    """(raw mail, desk address, received instant in UTC) for each bundled sample."""
    text = (Path(__file__).parent / "samples" / "messages.json").read_text("utf-8")
    samples = []
    for sample in json.loads(text):
        received = sample_instant(sample["received"], today, zone)
        mail = EmailMessage()
        mail["From"] = sample["from"]
        mail["To"] = sample["to"]
        mail["Subject"] = sample["subject"]
        mail["Date"] = format_datetime(received)
        mail["Message-ID"] = make_msgid(domain="demo.example")
        mail.set_content(sample["body"])
        samples.append((bytes(mail), sample["to"], received.astimezone(dt.UTC)))
    return samples


def run_demo(
    console: Console,
    config: Config,
    start: dt.datetime | None = None,
    classifier: Classifier | None = None,
) -> None:
    """Print the samples' tickets and one acknowledgement; ``start`` (default now) dates them."""
    with tempfile.TemporaryDirectory(prefix="triage-demo-") as temp:
        folder = Path(temp)
        config = config.model_copy(
            update={
                "outbound": config.outbound.model_copy(
                    update={"transport": "file", "file_dir": folder / "outbox"}
                ),
            }
        )
        # The demo plays each sample's arrival: the clock stands at the moment it comes in.
        start = start or system_clock()
        clock = FixedClock(start)
        app = build_app(
            config,
            database_url=f"sqlite:///{folder / 'demo.sqlite'}",
            classifier=classifier,
            clock=clock,
        )
        table = Table(
            "ticket",
            "desk",
            "lang",
            "category",
            "conf.",
            "feedback",
            "received (local)",
            "clock start",
            "response due",
            "resolution due",
            "first reply",
            title="Triage Desk demo: bundled messages through the pipeline",
        )
        zone = app.desks.default.calendar.zone
        samples = sample_emails(start.astimezone(zone).date(), zone)
        for raw, address, received in samples:
            desk = app.desks.for_address(address)
            assert desk is not None
            clock.set(received)
            result = app.pipeline.process(inbound_from_email(raw, desk.name, received))
            zone = desk.calendar.zone

            def local(instant: dt.datetime | None, zone: dt.tzinfo = zone) -> str:
                return instant.astimezone(zone).strftime("%a %d.%m %H:%M") if instant else "—"

            due = result.due
            prediction = result.prediction
            with app.sessions() as session:
                kinds = session.scalars(
                    select(OutboxItem.kind).where(OutboxItem.ticket_id == result.ticket_id)
                ).all()
            table.add_row(
                result.ticket_number,
                desk.name,
                prediction.language if prediction else "",
                result.category,
                f"{prediction.confidence:.2f}" if prediction else "",
                prediction.feedback_type if prediction else "",
                local(received),
                local(due.clock_start) if due else "",
                local(due.response_due if due else None),
                local(due.resolution_due if due else None),
                ", ".join(kinds) or "—",
            )
        clock.set(max(received for _raw, _address, received in samples))
        report = app.dispatcher.run_once()
        console.print(table)
        with app.sessions() as session:
            # The out-of-hours acknowledgement shows the queue promise and the assistant.
            shown = session.scalars(
                select(OutboxItem)
                .join(Ticket, OutboxItem.ticket_id == Ticket.id)
                .where(OutboxItem.kind == "acknowledgement", Ticket.status == TicketStatus.QUEUED)
                .order_by(OutboxItem.id)
            ).all()
            for item in shown[:1]:
                console.print(
                    Panel(
                        f"To: {item.recipient}\nSubject: {item.subject}\n\n{item.body_text}",
                        title="one acknowledgement as sent",
                        expand=False,
                    )
                )
        console.print(
            f"{report.sent} acknowledgements written as .eml; model "
            f"{app.classifier.version}; all of it in a temporary folder, now removed."
        )
        app.engine.dispose()
