"""The Telegram sender end to end: the real python-telegram-bot, through the real Dispatcher,
against our Bot API stand-in (tests/telegram_api.py) on 127.0.0.1, on both databases."""

from __future__ import annotations

import datetime as dt
import tomllib
from html import escape

import pytest
from sqlalchemy import select

from tests.conftest import EXAMPLE_CONFIG
from tests.telegram_api import BotApiStandIn, utf16_len
from triage_desk.clock import FixedClock
from triage_desk.config import parse_config
from triage_desk.desk_service.actions import StaffActions
from triage_desk.desk_service.errors import NotAllowed
from triage_desk.desks import Desks
from triage_desk.intake.message import InboundMessage
from triage_desk.intake.pipeline import IntakePipeline
from triage_desk.responders.chat_pacing import ChatPacer
from triage_desk.responders.dispatcher import Dispatcher, backoff
from triage_desk.responders.render import TemplateRenderer
from triage_desk.responders.telegram_ids import message_key
from triage_desk.responders.telegram_sender import TelegramSender, bots_from_config
from triage_desk.storage.db import make_engine, make_session_factory
from triage_desk.storage.models import (
    AuditEvent,
    OutboxItem,
    OutboxStatus,
    RequesterAddress,
    Ticket,
)

NOW = dt.datetime(2026, 11, 30, 8, 0, tzinfo=dt.UTC)  # Monday 10:00 in Riga: in hours
CHAT, OTHER_CHAT = 424242, 515151
STAFF = "atbalsts-komanda@example.lv"
HOSTILE = "Kļūda <b>ne</b> & AT&T <script>alert(1)</script> 5 > 3 &amp; &#0;"


class PacerTime:
    """The pacer's time: a sleep moves it on at once, and is remembered."""

    def __init__(self) -> None:
        self.now, self.pauses = 1000.0, []

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.pauses.append(round(seconds, 3))
        self.now += seconds


class MailBox(list):
    """The email channel of these tests: staff notices land here."""

    def send(self, item: OutboxItem) -> None:
        self.append((item.kind, item.recipient, item.subject, item.body_text))


class Desk:
    """The municipal desk with a Telegram bot, a clock, and the dispatcher."""

    def __init__(self, url: str, api: BotApiStandIn, classifier, monkeypatch) -> None:
        monkeypatch.setenv("TRIAGE_TEST_BOT", api.token)
        raw = tomllib.loads(EXAMPLE_CONFIG.read_text(encoding="utf-8"))
        raw["telegram"] = {"api_base_url": api.base_url}
        raw["desks"]["municipal"]["telegram"] = {"token_env": "TRIAGE_TEST_BOT"}
        config = parse_config(raw)
        self.api, self.clock = api, FixedClock(NOW)
        self.engine = make_engine(url)
        self.sessions = make_session_factory(self.engine)
        desks, renderer = Desks(config), TemplateRenderer()
        self.pipeline = IntakePipeline(self.sessions, desks, classifier, renderer, now=self.clock)
        self.time = PacerTime()
        pacer = ChatPacer(monotonic=self.time.monotonic, sleep=self.time.sleep)
        self.sender = TelegramSender(
            self.sessions, desks, renderer, bots_from_config(config), now=self.clock, pacer=pacer
        )
        self.mail = MailBox()
        transports = {"telegram": self.sender, "email": self.mail}
        self.dispatcher = Dispatcher(self.sessions, transports, max_attempts=3, now=self.clock)
        self.staff = StaffActions(self.sessions, desks, renderer, clock=self.clock)

    def person_writes(self, text: str, chat: int = CHAT) -> str:
        """The person's message, as the receiving side will hand it to intake; the ticket."""
        update = self.api.push_message(chat, text)
        message = InboundMessage(
            channel="telegram",
            external_id=message_key(chat, update["message"]["message_id"]),
            desk="municipal",
            sender=str(chat),
            sender_name="Ilze",
            subject=text[:80],
            text=text,
            new_text=text,
            received_at=self.clock(),
        )
        result = self.pipeline.process(message)
        assert result.created_ticket and result.acknowledged
        return result.ticket_number

    def dispatch(self):
        return self.dispatcher.run_once()

    def items(self, kind: str | None = None) -> list[OutboxItem]:
        with self.sessions() as session:
            query = select(OutboxItem).order_by(OutboxItem.id)
            if kind:
                query = query.where(OutboxItem.kind == kind)
            return list(session.scalars(query))

    def ticket(self, number: str) -> Ticket:
        with self.sessions() as session:
            return session.scalar(select(Ticket).where(Ticket.number == number))

    def audit(self, action: str) -> list[AuditEvent]:
        with self.sessions() as session:
            return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action)))

    def close(self) -> None:
        self.sender.close()
        self.engine.dispose()


@pytest.fixture
def desk(database_url, classifier, monkeypatch):
    with BotApiStandIn() as api:
        desk = Desk(database_url, api, classifier, monkeypatch)
        try:
            yield desk
        finally:
            desk.close()


def long_reply() -> str:
    """About 9,000 characters in numbered sentences and paragraphs, to check the order."""
    paragraphs = [
        " ".join(f"Teikums {p}.{s} par atskaišu moduli un tā iestatījumiem." for s in range(20))
        for p in range(8)
    ]
    return "\n\n".join(paragraphs)


def test_an_acknowledgement_reaches_the_chat_as_a_reply_to_the_person(desk):
    number = desk.person_writes(HOSTILE)
    assert desk.dispatch().sent == 1
    [person, ack] = desk.api.chat(CHAT)
    assert not person.from_bot and ack.from_bot
    assert ack.reply_to == person.message_id  # threaded under the person's message
    assert number in ack.text and "Labdien" in ack.text
    [call] = desk.api.calls_to("sendMessage")
    assert call.params["parse_mode"] == "HTML" and call.params["text"] == escape(ack.text, False)
    [item] = desk.items("acknowledgement")
    assert item.status == OutboxStatus.SENT and item.delivered_parts == [ack.message_id]
    assert ack.text == item.body_text


def test_a_long_staff_reply_arrives_as_three_messages_in_order(desk):
    number = desk.person_writes("Atskaišu modulis nestrādā.")
    desk.dispatch()
    body = long_reply()
    assert 8_500 < len(body) < 9_500
    desk.staff.reply(number, body, staff="jberzins")
    assert desk.dispatch().sent == 1
    parts = desk.api.sent(CHAT)[1:]
    assert len(parts) == 3 and all(utf16_len(p.text) <= 4096 for p in parts)
    [item] = desk.items("staff_reply")
    assert "".join(p.text for p in parts) == item.body_text  # in order, nothing lost
    assert [p.message_id for p in parts] == item.delivered_parts
    assert parts[0].reply_to == 1 and parts[1].reply_to is None
    assert all(p.text.rstrip().endswith("iestatījumiem.") for p in parts[:2])  # paragraph cuts
    assert desk.time.pauses == [1.0, 1.0, 1.0]  # one message a second into the chat


def test_a_flood_holds_that_item_for_retry_after_and_it_is_sent_once(desk):
    desk.person_writes("Nevaru pieslēgties portālam.")
    desk.api.flood(CHAT, retry_after=30, times=4)  # more refusals than max_attempts (3)
    desk.person_writes("Cits jautājums par rēķinu.", chat=OTHER_CHAT)
    report = desk.dispatch()
    assert (report.sent, report.retried) == (1, 1)  # the other chat's reply went on
    for _ in range(4):
        desk.clock.advance(seconds=29)
        assert desk.dispatch().sent == 0  # not before Telegram said
        desk.clock.advance(seconds=1)
        report = desk.dispatch()
    assert report.sent == 1 and len(desk.api.sent(CHAT)) == 1
    [item, _] = desk.items("acknowledgement")
    assert (item.status, item.attempts, item.throttled) == (OutboxStatus.SENT, 5, 4)
    assert [c.status for c in desk.api.calls_to("sendMessage")].count(429) == 4


def test_a_blocked_chat_is_marked_staff_are_told_and_nothing_more_is_sent(desk):
    number = desk.person_writes("Nevaru pieslēgties portālam, rāda kļūdu 500.")
    status = desk.ticket(number).status
    desk.api.block(CHAT)
    assert desk.dispatch().dead == 1
    with desk.sessions() as session:
        address = session.scalar(
            select(RequesterAddress).where(RequesterAddress.address == str(CHAT))
        )
        assert address.channel == "telegram" and address.undeliverable
        assert "blocked" in address.undeliverable_reason and number in address.undeliverable_reason
    assert desk.ticket(number).status == status  # the ticket is kept as it was, for staff
    assert desk.dispatch().sent == 1  # the notice to staff, by mail
    [(kind, recipient, subject, text)] = desk.mail
    assert (kind, recipient) == ("chat_undeliverable_notice", STAFF)
    assert str(CHAT) in subject and number in text and "--channel telegram" in text
    with pytest.raises(NotAllowed):
        desk.staff.reply(number, "Vai problēma atrisināta?", staff="jberzins")
    desk.staff.reply(number, "Vai problēma atrisināta?", staff="jberzins", force=True)
    assert desk.dispatch().dead == 1
    assert len(desk.api.calls_to("sendMessage")) == 1  # the refused one alone
    [dead] = [i for i in desk.items("staff_reply")]
    assert "marked undeliverable" in dead.last_error
    assert len(desk.audit("chat_undeliverable")) == 1 and len(desk.mail) == 1


def test_broken_text_never_reaches_telegram_unescaped(desk):
    number = desk.person_writes("Jautājums.")
    desk.dispatch()
    nasty = "\n\n".join(
        [HOSTILE, "<b>unclosed <i>tags", "a < b && c > d", "<a href='javascript:x'>x</a>"]
        + ["&&&&<<<<>>>> " * 60] * 8  # escaping makes it far longer than Telegram counts
    )
    desk.staff.reply(number, nasty, staff="jberzins")
    assert desk.dispatch().sent == 1
    calls = desk.api.calls_to("sendMessage")
    assert all(c.status == 200 and c.params["parse_mode"] == "HTML" for c in calls)
    [item] = desk.items("staff_reply")
    shown = "".join(m.text for m in desk.api.sent(CHAT)[1:])
    assert shown == item.body_text and HOSTILE in shown  # as written, not as markup
    assert len(calls) == 1 + 2  # the acknowledgement, then the reply in two messages


def test_a_lost_answer_is_repeated_once_reported_and_a_stored_id_never_resent(desk):
    number = desk.person_writes("Atskaišu modulis nestrādā.")
    desk.dispatch()
    desk.api.lose_response(CHAT, after=1)  # part 2 reaches the chat, its answer is lost
    desk.staff.reply(number, long_reply(), staff="jberzins")
    report = desk.dispatch()
    assert (report.sent, report.retried) == (0, 1)
    [item] = desk.items("staff_reply")
    assert item.delivered_parts[1:] == [None]  # part 1's id stored, part 2 in flight
    assert "may have been delivered" in item.last_error
    desk.clock.advance(seconds=backoff(1).total_seconds())
    assert desk.dispatch().sent == 1
    texts = [m.text for m in desk.api.sent(CHAT)[1:]]
    assert len(texts) == 4 and texts[1] == texts[2]  # part 1 not again; part 2 twice
    [repeat] = desk.audit("telegram_possible_repeat")
    assert repeat.details == {"outbox_id": item.id, "part": 2, "parts": 3}
    # The dispatcher's record of the send lost (a crash): another send finds every id stored.
    [item] = desk.items("staff_reply")
    assert None not in item.delivered_parts and len(item.delivered_parts) == 3
    desk.sender.send(item)
    assert len(desk.api.sent(CHAT)) == 5


@pytest.mark.parametrize("language", ["lv", "en", "ru"])
def test_the_staff_notice_names_chat_ticket_and_the_command_in_each_language(
    example_config, language
):
    desk = Desks(example_config)["municipal"]
    context = {
        "ticket_number": "MUN-2026-000007",
        "desk_name": desk.config.name,
        "chat": "424242",
        "affected_ticket_numbers": ["MUN-2026-000007", "MUN-2026-000009"],
    }
    rendered = TemplateRenderer().render(
        "chat_undeliverable_notice", "municipal", language, context
    )
    assert rendered.subject.startswith("[MUN-2026-000007]") and "424242" in rendered.subject
    assert "MUN-2026-000009" in rendered.text and desk.config.name in rendered.text
    assert "triage address clear --channel telegram 424242" in rendered.text
    assert "{{" not in rendered.text and "{%" not in rendered.text


def test_the_service_sends_telegram_items_through_the_sender_only_with_a_bot(
    sqlite_url, example_config, classifier, monkeypatch
):
    from triage_desk.app import build_app

    without = build_app(example_config, classifier=classifier, database_url=sqlite_url)
    assert set(without.dispatcher.transports) == {"email"}
    without.engine.dispose()
    with BotApiStandIn() as api:
        monkeypatch.setenv("TRIAGE_TEST_BOT", api.token)
        raw = tomllib.loads(EXAMPLE_CONFIG.read_text(encoding="utf-8"))
        raw["telegram"] = {"api_base_url": api.base_url}
        raw["desks"]["municipal"]["telegram"] = {"token_env": "TRIAGE_TEST_BOT"}
        app = build_app(parse_config(raw), classifier=classifier, database_url=sqlite_url)
        sender = app.dispatcher.transports["telegram"]
        assert isinstance(sender, TelegramSender) and set(sender.bots) == {"municipal"}
        assert sender.bots["municipal"].base_url == f"{api.base_url}/bot{api.token}"
        sender.close()
        app.engine.dispose()
