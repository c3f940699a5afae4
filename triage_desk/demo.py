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
from triage_desk.config import Config
from triage_desk.intake.email_parse import inbound_from_email
from triage_desk.storage.models import OutboxItem, Ticket, TicketStatus


def sample_emails(zone: dt.tzinfo) -> list[tuple[bytes, str, dt.datetime]]:
    """(raw mail, desk address, received instant) for each bundled sample."""
    text = (Path(__file__).parent / "samples" / "messages.json").read_text("utf-8")
    samples = []
    for sample in json.loads(text):
        received = dt.datetime.fromisoformat(sample["received_local"]).replace(tzinfo=zone)
        mail = EmailMessage()
        mail["From"] = sample["from"]
        mail["To"] = sample["to"]
        mail["Subject"] = sample["subject"]
        mail["Date"] = format_datetime(received)
        mail["Message-ID"] = make_msgid(domain="demo.example")
        mail.set_content(sample["body"])
        samples.append((bytes(mail), sample["to"], received.astimezone(dt.UTC)))
    return samples


def run_demo(console: Console, config: Config) -> None:
    with tempfile.TemporaryDirectory(prefix="triage-demo-") as temp:
        folder = Path(temp)
        config = config.model_copy(
            update={
                "outbound": config.outbound.model_copy(
                    update={"transport": "file", "file_dir": folder / "outbox"}
                ),
            }
        )
        app = build_app(config, database_url=f"sqlite:///{folder / 'demo.sqlite'}")
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
        for raw, address, received in sample_emails(app.desks.default.calendar.zone):
            desk = app.desks.for_address(address)
            assert desk is not None
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
