"""The desk commands over the desk service: `ticket show`, the sorted and marked `tickets`,
`reopen`, `outbox retry`, `quarantine discard`, and how refusals come out (one line, exit
status 1 or 2)."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from tests.conftest import EXAMPLE_CONFIG
from tests.test_desk_service import add_outbox, add_quarantined, add_ticket
from triage_desk.cli import main
from triage_desk.storage.db import make_engine, make_session_factory
from triage_desk.storage.models import (
    AuditEvent,
    Message,
    OutboxStatus,
    QuarantinedMail,
    StoredAttachment,
    Ticket,
    TicketStatus,
)

ESC = "\x1b[2J"  # clears a terminal
# The command line reads the wall clock (it is the application): its tickets are placed
# around the real now, far enough apart that the run's own duration cannot matter.
REAL_NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
DAY = dt.timedelta(days=1)


@pytest.fixture
def db(database_url):
    engine = make_engine(database_url)
    yield database_url, make_session_factory(engine)
    engine.dispose()


def triage(database_url: str, *args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(
        main,
        ["--config", str(EXAMPLE_CONFIG), *args],
        env={"TRIAGE_DATABASE_URL": database_url, "TRIAGE_STAFF": "jberzins", "COLUMNS": "200"},
    )


def one_line_error(result, status: int) -> str:  # type: ignore[no-untyped-def]
    assert result.exit_code == status, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    return lines[0]


# --------------------------------------------------------------------------- ticket show


def test_ticket_show_json_has_the_keys_scripts_rely_on(db):
    url, sessions = db
    received = dt.datetime(2026, 11, 30, 8, 0, tzinfo=dt.UTC)
    add_ticket(
        sessions,
        "MUN-2026-000001",
        received=received,
        response_due=received + dt.timedelta(hours=2),
    )
    with sessions.begin() as session:
        ticket_id = session.scalar(select(Ticket.id))
        session.add(
            Message(
                ticket_id=ticket_id,
                direction="in",
                channel="telegram",
                external_id="42:1",
                sender="42",
                text="Vai ir ziņas?",
                received_at=received + dt.timedelta(hours=1),
            )
        )
    result = triage(url, "ticket", "show", "mun-2026-000001", "--json")
    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)
    assert list(shown)[:8] == [
        "number",
        "desk",
        "status",
        "category",
        "feedback_type",
        "response_due",
        "resolution_due",
        "messages",
    ]
    assert {k: shown[k] for k in list(shown)[:7]} == {
        "number": "MUN-2026-000001",
        "desk": "municipal",
        "status": "open",
        "category": "error",
        "feedback_type": "none",
        "response_due": "2026-11-30T12:00:00+02:00",  # the desk's zone
        "resolution_due": None,
    }
    promised = ("direction", "channel", "sender", "text", "received_at")
    assert [{k: m[k] for k in promised} for m in shown["messages"]] == [
        {
            "direction": "in",
            "channel": "email",
            "sender": "ilze@novads.example.lv",
            "text": "Labdien! Atskaite neveidojas.",
            "received_at": "2026-11-30T10:00:00+02:00",
        },
        {
            "direction": "in",
            "channel": "telegram",
            "sender": "42",
            "text": "Vai ir ziņas?",
            "received_at": "2026-11-30T11:00:00+02:00",
        },
    ]


def test_ticket_show_prints_the_whole_ticket_with_mail_text_escaped(db):
    url, sessions = db
    add_ticket(sessions, "MUN-2026-000001", confirmed=False, address=f"x{ESC}@evil.lv")
    with sessions.begin() as session:
        message = session.scalar(select(Message))
        message.text = f"Sveiki{ESC}\n[bold]otrā rinda[/bold]"
        message.subject = f"Tēma{ESC}"
        session.add(
            StoredAttachment(
                message_id=message.id,
                filename=f"rēķins{ESC}.pdf",
                content_type="application/pdf",
                size=1234,
                md5="0" * 32,
                data=b"%PDF",
            )
        )
    assert triage(url, "decide", "MUN-2026-000001", "--confirm", "--reason", "labi").exit_code == 0
    result = triage(url, "ticket", "show", "MUN-2026-000001")
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert "\x1b" not in text
    assert "Sveiki\\x1b[2J\n[bold]otrā rinda[/bold]" in text  # kept lines, markup as written
    assert "x\\x1b[2J@evil.lv" in text and "Tēma\\x1b[2J" in text
    assert "rēķins\\x1b[2J.pdf" in text and "1234 bytes" in text
    assert "category_confirmed" in text and "jberzins" in text  # the audit trail
    assert "MUN-2026-000001  open  desk municipal" in text


def test_ticket_show_of_an_unknown_ticket_is_one_line_and_status_1(db):
    url, _ = db
    line = one_line_error(triage(url, "ticket", "show", "MUN-2026-999999"), 1)
    assert "no ticket 'MUN-2026-999999'" in line and "`triage tickets`" in line


# --------------------------------------------------------------------------- tickets


def test_tickets_are_sorted_by_response_due_and_marked(db):
    url, sessions = db
    add_ticket(
        sessions, "MUN-2026-000001", received=REAL_NOW - DAY, response_due=REAL_NOW + 5 * DAY
    )
    add_ticket(  # overdue, and its category was never confirmed
        sessions,
        "MUN-2026-000002",
        received=REAL_NOW - 3 * DAY,
        response_due=REAL_NOW - 2 * DAY,
        confirmed=False,
    )
    add_ticket(sessions, "MUN-2026-000003", category="feedback", response_due=None)
    add_ticket(sessions, "MUN-2026-000004", response_due=REAL_NOW + dt.timedelta(hours=1))
    rows = [json.loads(line) for line in triage(url, "tickets", "--json").stdout.splitlines()]
    assert [r["number"] for r in rows] == [
        "MUN-2026-000002",
        "MUN-2026-000004",
        "MUN-2026-000001",
        "MUN-2026-000003",
    ]
    assert [(r["overdue"], r["needs_review"]) for r in rows] == [
        (True, True),
        (False, False),
        (False, False),
        (False, False),
    ]
    newest = triage(url, "tickets", "--json", "--newest").stdout.splitlines()
    assert [json.loads(line)["number"] for line in newest] == [
        "MUN-2026-000004",
        "MUN-2026-000003",
        "MUN-2026-000002",
        "MUN-2026-000001",
    ]

    table = triage(url, "tickets").stdout
    [marked] = [line for line in table.splitlines() if "MUN-2026-000002" in line]
    assert "overdue review" in marked
    [plain] = [line for line in table.splitlines() if "MUN-2026-000004" in line]
    assert "overdue" not in plain and "review" not in plain

    def listed(*options: str) -> list[str]:
        result = triage(url, "tickets", "--json", *options)
        assert result.exit_code == 0, result.output
        return [json.loads(line)["number"] for line in result.stdout.splitlines()]

    assert listed("--overdue") == ["MUN-2026-000002"]
    assert listed("--needs-review") == ["MUN-2026-000002"]
    assert listed("--due-within", "2h") == ["MUN-2026-000002", "MUN-2026-000004"]
    assert listed("--due-within", "1d", "--overdue") == ["MUN-2026-000002"]


def test_tickets_refuse_bad_filters_in_one_line_with_status_2(db):
    url, _ = db
    line = one_line_error(triage(url, "tickets", "--status", "bogus"), 2)
    assert "--status" in line and "unknown status 'bogus'" in line and "'robot'" in line
    result = triage(url, "tickets", "--due-within", "soon")
    assert result.exit_code == 2 and "90m, 2h, 1d" in result.stderr


# --------------------------------------------------------------------------- actions


def test_decide_without_a_reason_is_invalid_input_status_2(db):
    url, sessions = db
    add_ticket(sessions, "MUN-2026-000001")
    line = one_line_error(triage(url, "decide", "MUN-2026-000001", "--category", "consultation"), 2)
    assert "--reason" in line and "clause 33" in line
    line = one_line_error(
        triage(url, "decide", "MUN-2026-000001", "--category", "error", "--reason", "x"), 1
    )
    assert "already error; use --confirm" in line


def test_reopen_a_resolved_ticket(db):
    url, sessions = db
    add_ticket(sessions, "MUN-2026-000001", first_response=REAL_NOW - DAY)
    line = one_line_error(triage(url, "reopen", "MUN-2026-000001"), 1)
    assert "not resolved" in line
    assert triage(url, "resolve", "MUN-2026-000001").exit_code == 0
    result = triage(url, "reopen", "MUN-2026-000001", "--reason", "atkal")
    assert result.exit_code == 0, result.output
    assert "MUN-2026-000001: reopened" in result.stdout
    with sessions() as session:
        ticket = session.scalar(select(Ticket))
        assert ticket.status in (TicketStatus.OPEN, TicketStatus.QUEUED)
        assert ticket.resolved_at is None and ticket.first_response_at is None
        event = session.scalar(select(AuditEvent).where(AuditEvent.action == "reopened"))
        assert event.actor == "jberzins" and event.details["reason"] == "atkal"


def test_outbox_retry_requeues_a_dead_letter(db):
    url, sessions = db
    add_ticket(sessions, "MUN-2026-000001")
    dead = add_outbox(sessions, OutboxStatus.DEAD, "550 no such user")
    result = triage(url, "outbox", "retry", str(dead), "--reason", "address fixed")
    assert result.exit_code == 0, result.output
    assert f"outbox #{dead} requeued" in result.stdout
    assert "pending" in triage(url, "outbox", "list").stdout
    line = one_line_error(triage(url, "outbox", "retry", str(dead)), 1)
    assert "is pending, not dead" in line
    line = one_line_error(triage(url, "outbox", "retry", "99999"), 1)
    assert "no outbox item #99999" in line


def test_quarantine_discard_keeps_the_mail_out_of_the_held_list(db):
    url, sessions = db
    item = add_quarantined(sessions)
    result = triage(url, "quarantine", "discard", str(item), "--reason", "reklāma")
    assert result.exit_code == 0, result.output
    assert f"#{item} discarded" in result.stdout
    assert f"\n│ {item} " not in triage(url, "quarantine", "list").stdout
    assert "discarded" in triage(url, "quarantine", "list", "--all").stdout
    shown = triage(url, "quarantine", "show", str(item))
    assert "discarded by jberzins" in shown.stderr and "reklāma" in shown.stderr
    with sessions() as session:
        assert session.get(QuarantinedMail, item).raw  # kept
    line = one_line_error(triage(url, "quarantine", "discard", str(item)), 1)
    assert "already discarded" in line
    line = one_line_error(triage(url, "quarantine", "discard", "99999"), 1)
    assert "no quarantined mail #99999" in line
