"""The virtual assistant in the Telegram chat, end to end: the real python-telegram-bot
polls our Bot API stand-in, the updates go through the inbound queue, the queue runner and
the intake steps, the dispatcher's Telegram sender answers; a press of "Did this help?" comes
back as a ``callback_query`` and is answered, recorded and shown. Both databases."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import select

from tests import telegram_channel
from tests.telegram_api import BotApiStandIn
from tests.telegram_channel import CHAT, IN_HOURS, OUT_OF_HOURS, QUESTION, Channel
from triage_desk.desk_service import DeskService
from triage_desk.storage.models import AssistantAnswer, AuditEvent, OutboxItem, Ticket

channel = telegram_channel.channel  # the fixture
OTHER_CHAT = 515151
PASSWORD = "Aizmirsu paroli, kā atjaunot paroli sistēmā?"


def buttons(message) -> list[dict]:
    return [b for row in (message.reply_markup or {}).get("inline_keyboard", []) for b in row]


def shown_message(channel: Channel, chat: int, message_id: int):
    """The bot's message as the chat shows it now."""
    return next(m for m in channel.api.chat(chat) if m.message_id == message_id)


def answers(channel: Channel) -> list[AssistantAnswer]:
    with channel.app.sessions() as session:
        return list(session.scalars(select(AssistantAnswer).order_by(AssistantAnswer.id)))


def test_a_chat_message_in_hours_and_one_out_of_hours_each_give_a_ticket_and_the_right_acknowledgement_the_out_of_hours_one_an_assistant_answer_with_buttons_whose_press_is_recorded(  # noqa: E501
    channel,
):
    # In hours: a ticket and the acknowledgement, nothing from the assistant.
    channel.api.push_message(CHAT, QUESTION)
    channel.round()
    [in_hours] = channel.tickets()
    assert in_hours.category not in ("consultation",)  # no in-hours category of the assistant
    [ack] = channel.api.sent(CHAT)
    assert in_hours.number in ack.text and "ārpus darba laika" not in ack.text
    assert buttons(ack) == [] and answers(channel) == []

    # Out of hours: a ticket, the out-of-hours acknowledgement, then the answer with buttons.
    channel.clock.set(OUT_OF_HOURS)
    channel.api.push_message(OTHER_CHAT, PASSWORD)
    channel.round()
    _, out_of_hours = channel.tickets()
    ack, answer = channel.api.sent(OTHER_CHAT)
    assert out_of_hours.number in ack.text and "ārpus darba laika" in ack.text
    assert "Vai tas palīdzēja?" in answer.text and answer.reply_to == 1
    yes, no = buttons(answer)
    assert yes["text"].startswith("👍") and no["text"].startswith("👎")
    assert all(len(b["callback_data"].encode()) <= 64 for b in (yes, no))
    [stored] = answers(channel)
    assert stored.ticket_id == out_of_hours.id and stored.article_slug and stored.helped is None

    # The press: recorded, answered, the buttons replaced by the choice.
    channel.clock.advance(minutes=3)
    channel.api.push_callback(OTHER_CHAT, answer.message_id, yes["callback_data"])
    channel.round()
    [stored] = answers(channel)
    assert (stored.helped, stored.feedback_via) == (True, "button")
    assert stored.feedback_at == OUT_OF_HOURS + dt.timedelta(minutes=3)
    [press] = channel.api.calls_to("answerCallbackQuery")
    assert press.params["text"] == "Paldies!"
    shown = shown_message(channel, OTHER_CHAT, answer.message_id)
    assert shown.edited and shown.reply_markup is None
    assert shown.text.endswith("✓ Jūs atbildējāt: palīdzēja.")
    assert len(channel.api.sent(OTHER_CHAT)) == 2  # a "yes" sends no further message


def test_no_hands_the_question_to_staff_and_says_when_a_human_will_answer(channel):
    channel.clock.set(OUT_OF_HOURS)
    channel.api.push_message(CHAT, PASSWORD, language_code="en")
    channel.round()
    [ticket] = channel.tickets()
    answer = channel.api.sent(CHAT)[-1]
    _, no = buttons(answer)
    channel.api.push_callback(CHAT, answer.message_id, no["callback_data"])
    channel.round()
    [stored] = answers(channel)
    assert stored.helped is False
    promise = channel.api.sent(CHAT)[-1]
    # The ticket's response due, in Riga time, in the ticket's language (lv: the text's).
    assert "darbinieks" in promise.text and "2026. gada 1. decembrī plkst. 17:00" in promise.text
    shown = shown_message(channel, CHAT, answer.message_id)
    assert shown.text.endswith("nepalīdzēja.") and shown.reply_markup is None
    # Staff see the hand-off on the ticket.
    detail = DeskService(channel.app.sessions, channel.app.desks, channel.app.pipeline.renderer)
    audit = [a for a in detail.ticket(ticket.number).audit if a.action == "assistant_handoff"]
    assert len(audit) == 1 and "paroli" in str(audit[0].details)


def test_a_press_delivered_twice_and_a_second_press_count_once(channel):
    channel.clock.set(OUT_OF_HOURS)
    channel.api.push_message(CHAT, PASSWORD)
    channel.round()
    answer = channel.api.sent(CHAT)[-1]
    yes, no = buttons(answer)
    update = channel.api.push_callback(CHAT, answer.message_id, no["callback_data"])
    channel.api.push_update({"callback_query": update["callback_query"]})  # the same press
    channel.round()
    channel.api.push_callback(CHAT, answer.message_id, yes["callback_data"])  # changes mind
    channel.round()
    [stored] = answers(channel)
    assert stored.helped is False
    assert len(channel.api.calls_to("answerCallbackQuery")) == 2  # one per press, not per update
    assert channel.api.calls_to("answerCallbackQuery")[-1].params["text"].startswith("Jūsu atbilde")
    assert len(channel.api.calls_to("editMessageText")) == 1
    with channel.app.sessions() as session:
        handoffs = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "assistant_handoff")
        ).all()
    assert len(handoffs) == 1


def test_a_press_from_another_chat_or_with_a_forged_key_changes_nothing(channel):
    channel.clock.set(OUT_OF_HOURS)
    channel.api.push_message(CHAT, PASSWORD)
    channel.round()
    answer = channel.api.sent(CHAT)[-1]
    yes, _ = buttons(answer)
    # Someone else sends the same data from their own chat (callback_data is no secret).
    channel.api.push_message(OTHER_CHAT, "/start")
    channel.round()
    channel.api.push_callback(OTHER_CHAT, 1, yes["callback_data"])
    channel.api.push_callback(CHAT, answer.message_id, "ca:AAAAAAAAAAAAAAAA:y")  # a guess
    channel.api.push_callback(CHAT, 1, yes["callback_data"])  # not the answer's message
    channel.round()
    [stored] = answers(channel)
    assert stored.helped is None
    presses = channel.api.calls_to("answerCallbackQuery")
    assert len(presses) == 3
    assert all(str(p.params.get("show_alert")).lower() == "true" for p in presses)
    assert channel.api.calls_to("editMessageText") == []


def test_a_typed_no_is_feedback_too_and_a_later_question_gets_its_own_answer(channel):
    channel.clock.set(OUT_OF_HOURS)
    channel.api.push_message(CHAT, PASSWORD)
    channel.round()
    answer = channel.api.sent(CHAT)[-1]
    channel.clock.advance(minutes=2)
    channel.api.push_message(CHAT, "nē")
    channel.round()
    [stored] = answers(channel)
    assert (stored.helped, stored.feedback_via) == (False, "text")
    assert "darbinieks" in channel.api.sent(CHAT)[-1].text
    shown = shown_message(channel, CHAT, answer.message_id)
    assert shown.reply_markup is None  # the buttons went with the typed answer
    assert channel.inbound() == 2  # the "nē" is on the ticket too
    channel.api.push_message(CHAT, "jā")  # nothing waits for it now: no answer, no decline
    channel.round()
    assert len(answers(channel)) == 1 and len(channel.api.sent(CHAT)) == 3
    channel.api.push_message(CHAT, "Kas uzvarēja hokeja spēlē vakar?")
    channel.round()
    _, declined = answers(channel)
    assert declined.article_slug is None  # honest: no answer, and the promise
    assert "2026. gada 1. decembrī plkst. 17:00" in channel.api.sent(CHAT)[-1].text


def test_in_hours_the_desks_in_hours_categories_get_the_assistant(channel):
    channel.api.push_message(CHAT, PASSWORD)  # a consultation: the assistant answers at any hour
    channel.round()
    [ticket] = channel.tickets()
    assert ticket.category in channel.app.desks["municipal"].config.assistant.in_hours_categories
    ack, answer = channel.api.sent(CHAT)
    assert "ārpus darba laika" not in ack.text and len(buttons(answer)) == 2


@pytest.fixture
def eparaksts(database_url, classifier, monkeypatch, tmp_path):
    with BotApiStandIn() as api:
        found = Channel(database_url, api, classifier, monkeypatch, tmp_path, desk="eparaksts")
        yield found
        found.close()


def test_a_suspension_request_gets_the_24_7_route_at_once_at_any_hour(eparaksts):
    eparaksts.clock.set(OUT_OF_HOURS)
    eparaksts.api.push_message(
        CHAT, "Labdien, man jāaptur mans eParaksts sertifikāts, pazaudēju karti."
    )
    eparaksts.round()
    [ticket] = eparaksts.tickets()
    assert ticket.category == "suspension"
    [route] = eparaksts.api.sent(CHAT)
    assert "24/7" in route.text or "diennakt" in route.text
    assert buttons(route) == []
    # In a conversation already going on, the same request gets the route too.
    eparaksts.clock.set(IN_HOURS)
    eparaksts.api.push_message(CHAT + 1, "Kā parakstīt PDF dokumentu ar eParakstu?")
    eparaksts.round()
    eparaksts.clock.advance(minutes=5)
    eparaksts.api.push_message(
        CHAT + 1, "Lūdzu steidzami apturēt manu sertifikātu, telefons nozagts!"
    )
    eparaksts.round()
    said = [m.text for m in eparaksts.api.sent(CHAT + 1)]
    assert len(said) == 2 and ("24/7" in said[-1] or "diennakt" in said[-1])
    with eparaksts.app.sessions() as session:
        routes = session.scalars(select(OutboxItem).where(OutboxItem.kind == "urgent_route")).all()
        assert len(routes) == 2
        assert session.scalar(select(Ticket).where(Ticket.id == ticket.id)).urgent
        going_on = session.scalars(select(Ticket).where(Ticket.id != ticket.id)).one()
        assert going_on.category != "suspension" and going_on.urgent  # staff see it first
        assert (
            session.scalars(select(AuditEvent).where(AuditEvent.action == "chat_route"))
            .one()
            .ticket_id
            == going_on.id
        )


# --------------------------------------------------------------------------- the reports


def _answer(sessions, at: dt.datetime, slug: str | None, helped: bool | None, desk="municipal"):
    with sessions.begin() as session:
        session.add(
            AssistantAnswer(
                desk=desk, channel="telegram", asker="42", language="lv", question="?",
                article_slug=slug, score=0.5 if slug else None, helped=helped, created_at=at,
            )
        )  # fmt: skip


def test_the_reports_count_offers_helped_and_hand_offs_per_desk_and_local_days(database_url):
    from click.testing import CliRunner

    from tests.conftest import EXAMPLE_CONFIG
    from triage_desk.cli import main
    from triage_desk.config import load_config
    from triage_desk.desk_service import InvalidInput
    from triage_desk.storage.db import make_engine, make_session_factory

    engine = make_engine(database_url)
    sessions = make_session_factory(engine)
    first = dt.datetime(2026, 11, 30, 22, 0, tzinfo=dt.UTC)  # 1 December 00:00 in Riga
    _answer(sessions, first - dt.timedelta(seconds=1), "a", True)  # 30 November: outside
    _answer(sessions, first, "password-reset", True)
    _answer(sessions, first + dt.timedelta(hours=5), "password-reset", True)
    _answer(sessions, first + dt.timedelta(hours=6), "vpn", False)
    _answer(sessions, first + dt.timedelta(hours=7), "vpn", None)
    _answer(sessions, first + dt.timedelta(days=1), None, None)  # a decline, 2 December
    _answer(sessions, first + dt.timedelta(days=2), "x", True)  # 3 December: outside
    _answer(sessions, first, "x", False, desk="eparaksts")  # another desk
    service = DeskService.from_config(load_config(EXAMPLE_CONFIG), sessions=sessions)
    figures = service.assistant_figures("municipal", dt.date(2026, 12, 1), dt.date(2026, 12, 2))
    assert (figures.offers, figures.declined, figures.helped, figures.not_helped) == (4, 1, 2, 1)
    assert (figures.no_feedback, figures.handoffs, figures.helped_percent) == (1, 2, 66.7)
    empty = service.assistant_figures("municipal", dt.date(2026, 1, 1), dt.date(2026, 1, 31))
    assert empty.offers == 0 and empty.helped_percent is None
    with pytest.raises(InvalidInput):
        service.assistant_figures("nowhere", dt.date(2026, 1, 1), dt.date(2026, 1, 31))
    engine.dispose()

    def triage(*args: str):  # type: ignore[no-untyped-def]
        return CliRunner().invoke(
            main, ["--config", str(EXAMPLE_CONFIG), *args],
            env={"TRIAGE_DATABASE_URL": database_url},
        )  # fmt: skip

    shown = triage(
        "report", "assistant", "--desk", "municipal", "--from", "2026-12-01", "--to", "2026-12-02"
    )
    assert shown.exit_code == 0, shown.output
    assert "offers      4" in shown.output and "hand-offs   2" in shown.output
    assert "66.7 %" in shown.output
    as_json = triage(
        "report", "assistant", "--desk", "municipal", "--from", "2026-12-01",
        "--to", "2026-12-02", "--json",
    )  # fmt: skip
    assert json.loads(as_json.output) == {
        "desk": "municipal", "start": "2026-12-01", "end": "2026-12-02", "offers": 4,
        "declined": 1, "helped": 2, "not_helped": 1, "no_feedback": 1, "handoffs": 2,
        "helped_percent": 66.7,
    }  # fmt: skip
    wrong = triage(
        "report", "assistant", "--desk", "x", "--from", "2026-12-01", "--to", "2026-12-02"
    )
    assert wrong.exit_code == 2 and "--desk" in wrong.stderr
