"""Phone requests (terms clauses 27, 29, 32): a call logged through the desk service, the
console (real HTTP) or the command line (a real process under faketime) goes through the
inbound queue, and its ticket's response due counts from the call: a call at 16:30 on a
Friday for a two-hour category is due on Monday at 10:30, and across the Christmas
holidays on the Monday after them."""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import subprocess
import sys
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from tests.conftest import EXAMPLE_CONFIG
from tests.console_server import serving
from tests.test_console_http import sign_in
from triage_desk.desk_service import InvalidInput
from triage_desk.sla.due import due_times
from triage_desk.storage.models import (
    AuditEvent,
    Message,
    OutboxItem,
    QueuedInbound,
    Suggestion,
    Ticket,
)

RIGA = ZoneInfo("Europe/Riga")
CALL = "Zvanīja: pašvaldības sistēma pilnībā nepieejama visiem lietotājiem kopš rīta."
FRIDAY_CALL = dt.datetime(2026, 12, 4, 16, 30, tzinfo=RIGA)
MONDAY_DUE = dt.datetime(2026, 12, 7, 10, 30, tzinfo=RIGA)


def stored(world) -> Ticket:  # type: ignore[no-untyped-def]
    assert world.app.queue_runner().drain() == 1
    with world.app.sessions() as session:
        [ticket] = session.scalars(select(Ticket)).all()
        session.expunge(ticket)
        return ticket


def audits(world, action: str) -> list[AuditEvent]:  # type: ignore[no-untyped-def]
    with world.app.sessions() as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


# --------------------------------------------------------------------------- desk service


def test_a_friday_afternoon_call_is_due_on_monday_counted_from_the_call(world):
    world.clock.set(dt.datetime(2026, 12, 4, 17, 10, tzinfo=RIGA))  # logged after closing
    logged = world.service.log_call(
        "municipal", "Ilze@Novads.Example.LV", CALL, FRIDAY_CALL, "agnese"
    )
    assert logged.received_at == FRIDAY_CALL and logged.address == "ilze@novads.example.lv"
    with world.app.sessions() as session:
        [row] = session.scalars(select(QueuedInbound)).all()
        assert row.channel == "phone" and row.received_at == FRIDAY_CALL
    ticket = stored(world)
    assert ticket.category == "emergency"  # a two-hour response target
    assert ticket.received_at == FRIDAY_CALL and ticket.clock_start == FRIDAY_CALL
    assert ticket.response_due == MONDAY_DUE
    assert world.service.ticket_number_of(logged.external_id) == ticket.number
    [event] = audits(world, "call_logged")
    assert event.actor == "agnese" and event.details["address"] == "ilze@novads.example.lv"
    assert event.details["call_at"] == FRIDAY_CALL.astimezone(dt.UTC).isoformat()
    with world.app.sessions() as session:
        [message] = session.scalars(select(Message).where(Message.direction == "in")).all()
        assert message.headers == {"Via": "phone", "Logged-By": "agnese"}
        [ack] = session.scalars(select(OutboxItem)).all()
    # The caller's confirmation goes by email, with the number.
    assert (ack.channel, ack.recipient) == ("email", "ilze@novads.example.lv")
    assert ticket.number in ack.body_text


def test_a_call_before_the_christmas_holidays_is_due_after_them(world):
    world.clock.set(dt.datetime(2026, 12, 23, 17, 5, tzinfo=RIGA))
    call = dt.datetime(2026, 12, 23, 16, 30, tzinfo=RIGA)  # Wednesday; 24-27 are days off
    world.service.log_call("municipal", "janis@example.com", CALL, call, "sandra")
    ticket = stored(world)
    assert ticket.category == "emergency"
    assert ticket.response_due == dt.datetime(2026, 12, 28, 10, 30, tzinfo=RIGA)


def test_an_out_of_hours_call_starts_the_clock_at_the_next_opening(world):
    world.clock.set(dt.datetime(2026, 12, 5, 11, 5, tzinfo=RIGA))
    call = dt.datetime(2026, 12, 5, 11, 0, tzinfo=RIGA)  # Saturday
    world.service.log_call("municipal", "janis@example.com", CALL, call, "agnese")
    ticket = stored(world)
    assert ticket.status == "queued" and ticket.received_at == call
    assert ticket.clock_start == dt.datetime(2026, 12, 7, 9, 0, tzinfo=RIGA)
    assert ticket.response_due == dt.datetime(2026, 12, 7, 11, 0, tzinfo=RIGA)


def test_a_category_staff_chose_is_the_tickets_confirmed_with_its_own_due(world):
    world.clock.set(dt.datetime(2026, 12, 4, 17, 10, tzinfo=RIGA))
    world.service.log_call(
        "municipal", "janis@example.com", CALL, FRIDAY_CALL, "agnese", category="error"
    )
    ticket = stored(world)
    desk = world.app.desks.by_name["municipal"]
    expected = due_times(desk.calendar, desk.config.categories["error"], FRIDAY_CALL)
    assert ticket.category == "error" and ticket.category_confirmed
    assert ticket.response_due == expected.response_due != MONDAY_DUE
    with world.app.sessions() as session:
        [suggestion] = session.scalars(select(Suggestion)).all()
    assert suggestion.category == "emergency"  # the model's own suggestion is kept as it was
    [event] = audits(world, "call_logged")
    assert event.details["category"] == "error"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"at": dt.timedelta(minutes=5)}, "at"),  # in the future
        ({"at": -dt.timedelta(days=7, minutes=1)}, "at"),  # older than a week
        ({"address": "not-an-address"}, "address"),
        ({"text": "   "}, "text"),
        ({"desk": "nope"}, "desk"),
        ({"staff": " "}, "staff"),
        ({"category": "no_such_category"}, "category"),
    ],
)
def test_a_call_that_cannot_be_logged_names_the_field(world, change, field):
    now = world.clock()
    values = {"desk": "municipal", "address": "janis@example.com", "text": CALL}
    values |= {"staff": "agnese", "at": now}
    for key, value in change.items():
        values[key] = now + value if key == "at" else value
    with pytest.raises(InvalidInput) as refused:
        world.service.log_call(**values)
    assert refused.value.field == field
    with world.app.sessions() as session:
        assert session.scalars(select(QueuedInbound)).all() == []
    assert audits(world, "call_logged") == []


# --------------------------------------------------------------------------- console


def test_an_agent_logs_a_call_in_the_console(world):
    world.clock.set(dt.datetime(2026, 12, 4, 17, 10, tzinfo=RIGA))
    with serving(world.web) as base:
        browser, csrf = sign_in(base, "agnese")
        page = browser.get("/tickets/new")
        assert page.status_code == 200 and 'value="2026-12-04T17:10"' in page.text
        form = {"csrf_token": csrf, "desk": "municipal", "address": "ilze@novads.example.lv"}
        form |= {"at": "2026-12-04T16:30", "text": CALL, "category": ""}
        future = browser.post("/tickets/new", data={**form, "at": "2026-12-04T17:30"})
        assert future.status_code == 400 and 'data-field="at"' in future.text
        no_csrf = browser.post("/tickets/new", data={**form, "csrf_token": "wrong"})
        assert no_csrf.status_code == 403
        answer = browser.post("/tickets/new", data=form)
        assert answer.status_code == 303, answer.text[:300]
        location = answer.headers["location"]
        waiting = browser.get(location)
        assert 'id="call-logged"' in waiting.text and 'id="call-ticket"' not in waiting.text
        ticket = stored(world)
        shown = browser.get(location)
        found = re.search(r'id="call-ticket">([^<]+)<', shown.text)
        assert found and found.group(1) == ticket.number
    assert ticket.response_due == MONDAY_DUE
    [event] = audits(world, "call_logged")
    assert event.actor == "agnese"


def test_the_console_passes_the_category_staff_chose(world):
    with serving(world.web) as base:
        browser, csrf = sign_in(base, "agnese")
        assert (
            '<option value="">(the model suggests one)</option>' in browser.get("/tickets/new").text
        )
        form = {"csrf_token": csrf, "desk": "municipal", "address": "janis@example.com"}
        form |= {"at": "2026-11-30T09:30", "text": CALL, "category": "error"}
        assert browser.post("/tickets/new", data=form).status_code == 303
        bad = browser.post("/tickets/new", data={**form, "category": "nope"})
        assert bad.status_code == 400 and 'data-field="category"' in bad.text
    ticket = stored(world)
    assert ticket.category == "error" and ticket.category_confirmed


# --------------------------------------------------------------------------- command line


def test_the_command_line_logs_a_call_due_from_its_time(world, database_url, tmp_path):
    faketime = shutil.which("faketime")
    assert faketime, "faketime is installed with the test tools (.ci/run)"
    env = {
        **os.environ,
        "TRIAGE_DATABASE_URL": database_url,
        "TZ": "UTC",
        "FAKETIME_DONT_FAKE_MONOTONIC": "1",
    }
    run = subprocess.run(
        [
            faketime,
            "-f",
            "@2026-12-04 15:10:00",  # UTC: Friday 17:10 in Riga, after closing
            sys.executable,
            "-m",
            "triage_desk",
            "--config",
            str(EXAMPLE_CONFIG),
            "ticket",
            "new",
            "--channel",
            "phone",
            "--from",
            "ilze@novads.example.lv",
            "--at",
            "2026-12-04T16:30",  # the desk's zone
            "--staff",
            "sandra",
        ],
        input=CALL,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert "ilze@novads.example.lv" in run.stdout and "municipal" in run.stdout
    # faketime's clock ran on from 17:10 while the process started: the row is due later.
    world.clock.set(dt.datetime(2026, 12, 4, 17, 15, tzinfo=RIGA))
    ticket = stored(world)
    assert ticket.received_at == FRIDAY_CALL and ticket.response_due == MONDAY_DUE
    [event] = audits(world, "call_logged")
    assert event.actor == "sandra"
    refused = subprocess.run(
        [
            *(faketime, "-f", "@2026-12-04 15:10:00", sys.executable, "-m", "triage_desk"),
            *("--config", str(EXAMPLE_CONFIG), "ticket", "new", "--channel", "phone"),
            *("--from", "nobody", "--at", "2026-12-04T16:30", "--text", CALL),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=120,
    )
    assert refused.returncode == 2 and "--from" in refused.stderr
