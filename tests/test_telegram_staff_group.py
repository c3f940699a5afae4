"""The optional staff group, end to end: new tickets posted to the desk's Telegram staff
group with buttons; a staff member confirms the category, or chooses another and gives the
reason in a reply, which reaches the requester as the recategorisation notice (clause 33);
anyone else's press is refused and changes nothing. The real python-telegram-bot against
our Bot API stand-in, through the queue runner and the dispatcher. Both databases."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from tests.telegram_api import BotApiStandIn
from tests.telegram_channel import CHAT, Channel
from triage_desk.config import ConfigError, parse_config
from triage_desk.responders.localtime import format_local
from triage_desk.storage.models import Decision, StaffPost, Ticket

GROUP = -1001234567890
STAFF = 777001
STRANGER = 999002
ERROR_TEXT = "Sistēma <b>nestrādā</b> & rāda kļūdu 500, kad saglabāju rēķinu.\nOtrā rinda."


@pytest.fixture
def channel(database_url, classifier, monkeypatch, tmp_path):
    with BotApiStandIn() as api:
        found = Channel(
            database_url, api, classifier, monkeypatch, tmp_path,
            staff_chat_id=GROUP, staff_user_ids=[STAFF],
        )  # fmt: skip
        yield found
        found.close()


def buttons(message) -> list[dict]:
    return [b for row in (message.reply_markup or {}).get("inline_keyboard", []) for b in row]


def posted(channel: Channel):
    channel.api.push_message(CHAT, ERROR_TEXT)
    channel.round()
    [ticket] = channel.tickets()
    [post] = channel.api.sent(GROUP)
    return ticket, post


def shown(channel: Channel, chat: int, message_id: int):
    return next(m for m in channel.api.chat(chat) if m.message_id == message_id)


def test_a_new_ticket_is_posted_to_the_staff_group_with_its_suggestion_due_and_text(channel):
    ticket, post = posted(channel)
    assert post.text.startswith(f"Jauns pieteikums {ticket.number} (Telegram)")
    label = channel.app.desks["municipal"].category_label(ticket.category, "lv")
    assert f"Ieteiktā kategorija: {label} (ticamība " in post.text and " %)" in post.text
    due = format_local(ticket.response_due, ZoneInfo("Europe/Riga"), "lv")
    assert f"Atbilde līdz: {due}" in post.text
    # The person's text shown as text (escaped in HTML mode): the stand-in parsed it.
    assert "Sistēma <b>nestrādā</b> & rāda kļūdu 500" in post.text and "Otrā rinda." in post.text
    confirm, change = buttons(post)
    assert confirm["text"] == f"✓ Apstiprināt: {label}" and change["text"].startswith("Mainīt")
    assert all(len(b["callback_data"].encode()) <= 64 for b in (confirm, change))
    # The person's chat got its acknowledgement as before.
    assert ticket.number in channel.api.sent(CHAT)[0].text


def test_staff_confirm_the_category_once_and_the_post_shows_it(channel):
    ticket, post = posted(channel)
    confirm, _ = buttons(post)
    update = channel.api.push_callback(
        GROUP, post.message_id, confirm["callback_data"], from_id=STAFF
    )
    channel.api.push_update({"callback_query": update["callback_query"]})  # delivered twice
    channel.round()
    with channel.app.sessions() as session:
        stored = session.get(Ticket, ticket.id)
        [decision] = session.scalars(select(Decision)).all()
        [record] = session.scalars(select(StaffPost)).all()
    assert stored.category_confirmed and decision.staff == f"telegram:{STAFF}"
    assert (decision.from_value, decision.to_value) == (ticket.category, ticket.category)
    assert record.decision == "confirmed" and record.decided_by == f"telegram:{STAFF}"
    now = shown(channel, GROUP, post.message_id)
    assert now.reply_markup is None and now.text.endswith("✓ Kategoriju apstiprināja Ilze.")
    assert len(channel.api.calls_to("answerCallbackQuery")) == 1
    # A later press of the same post is told it is decided, and changes nothing.
    channel.api.push_callback(GROUP, post.message_id, confirm["callback_data"], from_id=STAFF)
    channel.round()
    late = channel.api.calls_to("answerCallbackQuery")[-1]
    assert late.params["text"].startswith("Par šo pieteikumu jau ir lēmums")
    with channel.app.sessions() as session:
        assert len(session.scalars(select(Decision)).all()) == 1


def test_a_press_by_anyone_but_the_staff_is_refused_and_changes_nothing(channel):
    ticket, post = posted(channel)
    confirm, _ = buttons(post)
    channel.api.push_callback(GROUP, post.message_id, confirm["callback_data"], from_id=STRANGER)
    channel.api.push_callback(CHAT, 1, confirm["callback_data"])  # the data from another chat
    channel.api.push_callback(GROUP, post.message_id, "sg:forged-key-000000:ok", from_id=STAFF)
    channel.round()
    presses = channel.api.calls_to("answerCallbackQuery")
    assert [str(p.params.get("show_alert")).lower() for p in presses] == ["true"] * 3
    assert presses[0].params["text"] == "Šo var darīt tikai atbalsta dienesta darbinieki."
    with channel.app.sessions() as session:
        assert not session.get(Ticket, ticket.id).category_confirmed
        assert session.scalars(select(Decision)).all() == []
    assert buttons(shown(channel, GROUP, post.message_id))  # still there to press


def test_another_category_asks_the_reason_which_reaches_the_requester(channel):
    ticket, post = posted(channel)
    _, change = buttons(post)
    channel.api.push_callback(GROUP, post.message_id, change["callback_data"], from_id=STAFF)
    channel.round()
    choices = channel.api.sent(GROUP)[-1]
    assert choices.text == f"{ticket.number}: izvēlieties kategoriju"
    by_label = {b["text"]: b["callback_data"] for b in buttons(choices)}
    assert len(by_label) == 7 and "Konsultācija" in by_label
    channel.api.push_callback(
        GROUP, choices.message_id, by_label["Konsultācija"], from_id=STAFF, first_name="Jānis"
    )
    channel.round()
    ask = channel.api.sent(GROUP)[-1]
    assert ask.text.startswith(f"Jānis, kāpēc {ticket.number} ir „Konsultācija”?")
    assert ask.reply_markup == {"force_reply": True, "selective": True}
    # Chatter in the group that answers nothing of ours: no ticket, no change.
    channel.api.push_group_message(GROUP, STAFF, "Kurš šodien dežurē?")
    channel.api.push_group_message(GROUP, STRANGER, "Es zinu!", reply_to=ask.message_id)
    channel.round()
    assert len(channel.tickets()) == 1 and channel.tickets()[0].category == ticket.category
    channel.api.push_group_message(
        GROUP, STAFF, "Tas ir jautājums par lietošanu, nevis kļūda.", reply_to=ask.message_id
    )
    channel.round()
    [changed] = channel.tickets()
    assert changed.category == "consultation" and changed.category_confirmed
    with channel.app.sessions() as session:
        [decision] = session.scalars(select(Decision)).all()
    assert decision.reason == "Tas ir jautājums par lietošanu, nevis kļūda."
    notice = channel.api.sent(CHAT)[-1]
    assert "Konsultācija" in notice.text and "Tas ir jautājums par lietošanu" in notice.text
    assert channel.api.sent(GROUP)[-1].text.startswith(f"✓ {ticket.number}: kategorija mainīta")
    assert channel.inbound() == 1  # the group's messages never became messages of a ticket


def test_a_ticket_from_email_is_posted_too_and_the_email_gets_no_assistant(channel):
    from tests.helpers import make_mail, queue_mails
    from tests.telegram_channel import OUT_OF_HOURS
    from triage_desk.intake.email.raw import RawMail
    from triage_desk.storage.models import AssistantAnswer

    channel.clock.set(OUT_OF_HOURS)
    mail = RawMail(make_mail(), "municipal", "smtp", channel.clock())
    queue_mails(channel.app.queue_runner().queue, [mail])
    channel.work()
    [ticket] = channel.tickets()
    [post] = channel.api.sent(GROUP)
    assert post.text.startswith(f"Jauns pieteikums {ticket.number} (e-pasts)")
    assert "Atskaišu modulī poga" in post.text
    with channel.app.sessions() as session:  # out of hours, but a letter is no chat
        assert session.scalars(select(AssistantAnswer)).all() == []


@pytest.mark.parametrize(
    "telegram, wrong",
    [
        ({"staff_chat_id": GROUP}, "staff_user_ids"),
        ({"staff_chat_id": 12345, "staff_user_ids": [STAFF]}, "negative"),
        ({"staff_user_ids": [STAFF]}, "set staff_chat_id"),
        ({"staff_chat_id": GROUP, "staff_user_ids": [0]}, "positive"),
    ],
)
def test_the_staff_group_settings_are_checked(telegram, wrong, monkeypatch):
    import tomllib

    from tests.conftest import EXAMPLE_CONFIG

    monkeypatch.setenv("TRIAGE_TEST_BOT", "123456:TEST-token-of-the-desk-bot")
    raw = tomllib.loads(EXAMPLE_CONFIG.read_text(encoding="utf-8"))
    raw["desks"]["municipal"]["telegram"] = {"token_env": "TRIAGE_TEST_BOT", **telegram}
    with pytest.raises(ConfigError, match=wrong):
        parse_config(raw)
