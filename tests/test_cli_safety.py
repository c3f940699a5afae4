"""Terminal safety: what the command line prints from mail can never act on the terminal.

A subject or a quarantined mail is written by strangers. An escape sequence in it must be
shown, not obeyed (an OSC retitles the terminal, ``ESC [2J`` clears it), and rich markup in
it (``[bold blink]``) must be shown as written. Raw bytes go only to a file or a pipe, or to
a terminal when explicitly forced.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import pty
import select
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.conftest import EXAMPLE_CONFIG
from triage_desk.cli import main
from triage_desk.cli.display import json_line, visible
from triage_desk.storage.db import make_engine, make_session_factory
from triage_desk.storage.models import (
    QuarantinedMail,
    Requester,
    RequesterAddress,
    Ticket,
    TicketStatus,
)

WHEN = dt.datetime(2026, 11, 30, 8, 0, tzinfo=dt.UTC)
OSC_TITLE = "\x1b]0;pwned\x07"  # retitles an xterm
CLEAR = "\x1b[2J"  # clears the screen
RTL = "\u202e"  # right-to-left override: shows "gpj.exe" as "exe.jpg"
SUBJECT = f"{OSC_TITLE}[bold blink]Hi{RTL}gpj"
RAW_MAIL = (
    b"From: x@evil.example\r\nSubject: "
    + CLEAR.encode()
    + b"boo\r\n\r\n"
    + CLEAR.encode()
    + b"\x1b]0;owned\x07body\xff\r\n"
)


def _invoke(database_url: str, *args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(
        main,
        ["--config", str(EXAMPLE_CONFIG), *args],
        env={"TRIAGE_DATABASE_URL": database_url, "COLUMNS": "200"},
    )


def _add_ticket(database_url: str, number: str, subject: str, status: str, address: str) -> None:
    sessions = make_session_factory(make_engine(database_url))
    with sessions.begin() as session:
        requester = Requester(display_name=None)
        session.add(requester)
        session.flush()
        session.add(RequesterAddress(requester_id=requester.id, channel="email", address=address))
        session.add(
            Ticket(
                number=number,
                desk="municipal",
                requester_id=requester.id,
                channel="email",
                subject=subject,
                language="lv",
                status=status,
                category="error",
                received_at=WHEN,
                clock_start=WHEN,
                response_due=None if status == TicketStatus.ROBOT else WHEN,
            )
        )


def _add_quarantined(database_url: str) -> int:
    sessions = make_session_factory(make_engine(database_url))
    with sessions.begin() as session:
        item = QuarantinedMail(
            channel="email",
            source="smtp",
            desk="municipal",
            raw=RAW_MAIL,
            reason="unparseable",
            detail=f"the parser failed on {CLEAR}[red]x[/red]",
            received_at=WHEN,
        )
        session.add(item)
        session.flush()
        return item.id


def _assert_nothing_acts_on_a_terminal(text: str) -> None:
    for sequence in ("\x1b", "\x07", "\x9b", RTL):
        assert sequence not in text, repr(text)


def test_visible_escapes_every_control_and_keeps_the_letters():
    assert visible(f"Sveiki{OSC_TITLE}ā{RTL}\x00\x7f\x85\udcff") == (
        "Sveiki\\x1b]0;pwned\\x07ā\\u202e\\x00\\x7f\\x85\\udcff"
    )
    assert visible("a\r\nb\rc\td\n", multiline=True) == "a\nb\\rc\td\n"
    assert visible("one\ntwo") == "one\\ntwo"  # a table cell stays on its line


def test_json_lines_stay_json_with_controls_escaped():
    line = json_line({"subject": SUBJECT + "\x7f\udcff ā"})
    _assert_nothing_acts_on_a_terminal(line)
    assert "ā" in line  # Latvian letters stay readable
    assert json.loads(line)["subject"] == SUBJECT + "\x7f\udcff ā"


def test_tickets_show_subjects_and_senders_escaped_and_markup_as_written(sqlite_url):
    _add_ticket(sqlite_url, "MUN-2026-000001", SUBJECT, TicketStatus.OPEN, "x\x1b[31m@evil.lv")
    result = _invoke(sqlite_url, "tickets")
    assert result.exit_code == 0, result.output
    _assert_nothing_acts_on_a_terminal(result.stdout)
    assert "\\x1b]0;pwned\\x07[bold blink]Hi\\u202egpj" in result.stdout
    assert "x\\x1b[31m@evil.lv" in result.stdout

    result = _invoke(sqlite_url, "tickets", "--json")
    assert result.exit_code == 0, result.output
    _assert_nothing_acts_on_a_terminal(result.stdout)
    row = json.loads(result.stdout)
    assert row["subject"] == SUBJECT and row["from"] == "x\x1b[31m@evil.lv"


@pytest.mark.parametrize(
    ("option", "value", "named"),
    [("--status", "bogus", "'robot'"), ("--desk", "nosuch", "'eparaksts'")],
)
def test_tickets_refuse_an_unknown_status_or_desk(sqlite_url, option, value, named):
    result = _invoke(sqlite_url, "tickets", option, value)
    assert result.exit_code == 2
    assert f"unknown {option[2:]} {value!r}" in result.stderr and named in result.stderr


def test_robot_mail_is_listed_only_when_asked_for(sqlite_url):
    _add_ticket(sqlite_url, "MUN-2026-000001", "Help", TicketStatus.OPEN, "ilze@novads.lv")
    _add_ticket(sqlite_url, "MUN-2026-000002", "Out of office", TicketStatus.ROBOT, "bot@x.lv")
    listed = _invoke(sqlite_url, "tickets", "--json").stdout
    assert [json.loads(line)["number"] for line in listed.splitlines()] == ["MUN-2026-000001"]
    robots = _invoke(sqlite_url, "tickets", "--json", "--status", "robot").stdout
    rows = [json.loads(line) for line in robots.splitlines()]
    assert [r["number"] for r in rows] == ["MUN-2026-000002"]
    assert rows[0]["response_due"] == "—"


def test_quarantine_list_escapes_what_the_mail_says(sqlite_url):
    _add_quarantined(sqlite_url)
    result = _invoke(sqlite_url, "quarantine", "list")
    assert result.exit_code == 0, result.output
    _assert_nothing_acts_on_a_terminal(result.stdout)
    assert "\\x1b[2Jboo" in result.stdout  # the subject
    assert "[red]x[/red]" in result.stdout  # markup in the detail, shown as written


def test_quarantine_show_into_a_pipe_writes_the_raw_bytes_after_an_escaped_header(sqlite_url):
    number = _add_quarantined(sqlite_url)
    result = _invoke(sqlite_url, "quarantine", "show", str(number))
    assert result.exit_code == 0, result.output
    assert result.stdout_bytes == RAW_MAIL  # a pipe or a file gets the mail as received
    _assert_nothing_acts_on_a_terminal(result.stderr)
    assert "\\x1b[2J[red]x[/red]" in result.stderr

    result = _invoke(sqlite_url, "quarantine", "show", "--raw", str(number))
    assert result.exit_code == 0 and result.stdout_bytes == RAW_MAIL and not result.stderr


def _on_a_terminal(database_url: str, *args: str) -> tuple[int, bytes, str]:
    """Run ``triage`` with its stdout on a real pseudo-terminal; (status, what the terminal
    got, stderr)."""
    master, slave = pty.openpty()
    env = {**os.environ, "TRIAGE_DATABASE_URL": database_url, "COLUMNS": "200"}
    process = subprocess.Popen(
        [sys.executable, "-m", "triage_desk", "--config", str(EXAMPLE_CONFIG), *args],
        stdout=slave,
        stderr=subprocess.PIPE,
        env=env,
        cwd=Path(database_url.removeprefix("sqlite:///")).parent,
    )
    os.close(slave)
    shown = bytearray()
    while True:
        ready, _, _ = select.select([master], [], [], 60)
        assert ready, "triage printed nothing for 60 s"
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the process closed the terminal
            break
        if not chunk:
            break
        shown += chunk
    os.close(master)
    stderr = process.stderr.read().decode() if process.stderr else ""
    return process.wait(timeout=60), bytes(shown), stderr


def test_quarantine_show_on_a_terminal_escapes_the_mail_and_raw_needs_force(sqlite_url):
    number = _add_quarantined(sqlite_url)
    status, shown, _ = _on_a_terminal(sqlite_url, "quarantine", "show", str(number))
    assert status == 0
    assert b"\x1b[2J" not in shown and b"\x1b]0;" not in shown and b"\x07" not in shown
    assert b"\\x1b[2Jboo" in shown and b"\\x1b]0;owned\\x07body\\xff" in shown

    status, shown, stderr = _on_a_terminal(sqlite_url, "quarantine", "show", "--raw", str(number))
    assert status == 2 and b"\x1b[2J" not in shown
    assert "--force" in stderr

    status, shown, _ = _on_a_terminal(
        sqlite_url, "quarantine", "show", "--raw", "--force", str(number)
    )
    assert status == 0 and b"\x1b[2J" in shown  # asked for, twice
