"""A person edits a message they sent the desk's bot: the stored text follows, the text it
replaced stays visible to staff (`triage ticket show`, and its --json), no ticket or
acknowledgement comes of it, and the same edit delivered twice changes nothing more."""

from __future__ import annotations

import datetime as dt

from click.testing import CliRunner
from sqlalchemy import func, select

from tests import telegram_channel
from tests.conftest import EXAMPLE_CONFIG
from tests.telegram_channel import CHAT, QUESTION
from triage_desk.app import build_desk_service
from triage_desk.cli import main
from triage_desk.cli.tickets import ticket_json
from triage_desk.intake.telegram.poller import ALLOWED_UPDATES
from triage_desk.storage.models import AuditEvent, MessageEdit

channel = telegram_channel.channel  # the fixture

EDITED = "Nevaru pieslēgties pašvaldības portālam: parole netiek pieņemta jau trīs dienas."
EDIT_AT = int(dt.datetime(2026, 11, 30, 8, 3, tzinfo=dt.UTC).timestamp())


def shown(channel) -> dict:
    [ticket] = channel.tickets()
    return ticket_json(build_desk_service(channel.app).ticket(ticket.number))


def edits(channel) -> int:
    with channel.app.sessions() as session:
        return int(session.scalar(select(func.count(MessageEdit.id))) or 0)


def test_an_edit_updates_the_text_and_keeps_what_it_said_before(channel):
    sent = channel.api.push_message(CHAT, QUESTION)
    channel.round()
    channel.api.push_edit(sent["message"], EDITED, EDIT_AT)
    channel.round()
    assert len(channel.tickets()) == 1 and channel.inbound() == 1
    assert len(channel.bot_says()) == 1  # no second acknowledgement
    [message] = [m for m in shown(channel)["messages"] if m["direction"] == "in"]
    assert message["text"] == EDITED and message["edited"] is True
    assert message["edits"] == [
        {"edited_at": "2026-11-30T10:03:00+02:00", "text_before": QUESTION, "text_after": EDITED}
    ]  # in the desk's zone (Riga)
    with channel.app.sessions() as session:
        [event] = session.scalars(select(AuditEvent).where(AuditEvent.action == "message_edited"))
        assert event.ticket_id == channel.tickets()[0].id and event.at == channel.clock()


def test_ticket_show_prints_the_edit_for_staff(channel):
    sent = channel.api.push_message(CHAT, QUESTION)
    channel.round()
    channel.api.push_edit(sent["message"], EDITED, EDIT_AT)
    channel.round()
    [ticket] = channel.tickets()
    result = CliRunner().invoke(
        main,
        ["--config", str(EXAMPLE_CONFIG), "ticket", "show", ticket.number],
        env={"TRIAGE_DATABASE_URL": channel.url, "TRIAGE_STAFF": "jberzins", "COLUMNS": "200"},
    )
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())  # the console may wrap long lines
    assert EDITED in text and f"before: {QUESTION})" in text
    assert "(edited " in text


def test_the_same_edit_twice_and_an_older_edit_late_change_nothing_more(channel):
    sent = channel.api.push_message(CHAT, QUESTION)
    channel.round()
    channel.api.push_edit(sent["message"], EDITED, EDIT_AT)
    channel.api.push_edit(sent["message"], EDITED, EDIT_AT)  # delivered twice
    channel.round()
    assert edits(channel) == 1
    channel.api.push_edit(sent["message"], "vecāks labojums", EDIT_AT - 60)  # out of order
    channel.round()
    [message] = [m for m in shown(channel)["messages"] if m["direction"] == "in"]
    assert message["text"] == EDITED  # the newest edit's text stays
    assert [e["text_after"] for e in message["edits"]] == ["vecāks labojums", EDITED]
    assert len(channel.tickets()) == 1 and len(channel.bot_says()) == 1


def test_an_edit_of_a_message_never_stored_is_a_new_message(channel):
    # Sent before the bot served the desk: only its edit reaches us.
    old = channel.api.push_message(CHAT, "vecs")
    bot = channel.api.bots[channel.api.token]
    bot.updates.clear()
    channel.api.push_edit(old["message"], QUESTION, EDIT_AT)
    channel.round()
    [ticket] = channel.tickets()
    assert channel.inbound() == 1 and edits(channel) == 0
    [message] = [m for m in shown(channel)["messages"] if m["direction"] == "in"]
    assert message["text"] == QUESTION and message["edited"] is False
    assert ticket.number in channel.bot_says()[0]


def test_an_edit_of_an_answered_command_does_nothing(channel):
    sent = channel.api.push_message(CHAT, "/status")
    channel.round()
    channel.api.push_edit(sent["message"], "/help", EDIT_AT)
    channel.round()
    assert channel.tickets() == [] and channel.inbound() == 0
    assert len(channel.bot_says()) == 1  # the /status answer only


def test_the_poller_asks_telegram_for_edits():
    assert "edited_message" in ALLOWED_UPDATES


def test_an_edit_waits_for_its_message_put_off_for_a_file(channel):
    channel.api.fail_files(502, "Bad Gateway", times=1)
    sent = channel.api.push_file(CHAT, b"%PDF-1.4 scan", caption=QUESTION)
    channel.api.push_edit(sent["message"], EDITED, EDIT_AT)
    channel.round()
    assert channel.tickets() == [] and channel.bot_says() == []  # both wait
    channel.clock.advance(seconds=6)
    channel.work()
    assert len(channel.tickets()) == 1 and channel.inbound() == 1 and edits(channel) == 1
    [message] = [m for m in shown(channel)["messages"] if m["direction"] == "in"]
    assert message["text"] == EDITED and message["edits"][0]["text_before"] == QUESTION
    assert message["attachments"][0]["stored"] is True
    assert len(channel.bot_says()) == 1
