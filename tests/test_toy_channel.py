"""A toy chat channel, built in this file only: its messages get tickets, deduplication and
acknowledgements through its own sender, without the core knowing the channel. (The inbound
queue will add its adapter's queue rows and crash safety here.)"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from triage_desk.clock import FixedClock
from triage_desk.desks import Desks
from triage_desk.intake.message import InboundMessage
from triage_desk.intake.pipeline import IntakePipeline
from triage_desk.responders.dispatcher import Dispatcher
from triage_desk.responders.render import TemplateRenderer
from triage_desk.storage.db import make_engine, make_session_factory
from triage_desk.storage.models import OutboxItem, Ticket

NOW = dt.datetime(2026, 11, 30, 8, 0, tzinfo=dt.UTC)  # Monday 10:00 in Riga


def toy_message(chat_id: int, message_id: int, text: str) -> InboundMessage:
    """The toy adapter: a chat update as the normalised inbound message."""
    chat = {"channel": "toy", "desk": "municipal", "sender": f"chat-{chat_id}"}
    content = {"subject": text[:80], "text": text, "new_text": text}
    return InboundMessage(
        **chat, **content, external_id=f"{chat_id}:{message_id}", sender_name=None, received_at=NOW
    )


class ToySender(list):
    def send(self, item: OutboxItem) -> None:
        self.append((item.recipient, item.body_text))


def test_a_toy_channel_gets_tickets_dedup_and_acknowledgements(
    database_url, example_config, classifier
):
    sessions, clock = make_session_factory(make_engine(database_url)), FixedClock(NOW)
    desks, renderer = Desks(example_config), TemplateRenderer()
    pipeline = IntakePipeline(sessions, desks, classifier, renderer, now=clock)
    message = toy_message(42, 7, "Nevaru pieslēgties portālam, rāda kļūdu 500.")
    first, again = pipeline.process(message), pipeline.process(message)
    assert first.created_ticket and first.acknowledged
    assert again.duplicate and again.ticket_id == first.ticket_id and not again.acknowledged
    toy, mail = ToySender(), ToySender()
    assert Dispatcher(sessions, {"toy": toy, "email": mail}, now=clock).run_once().sent == 1
    [(recipient, text)] = toy
    assert recipient == "chat-42" and first.ticket_number in text and mail == []
    with sessions() as session:
        [ticket] = session.scalars(select(Ticket)).all()
        assert ticket.channel == "toy" and ticket.number == first.ticket_number
    sessions.kw["bind"].dispose()
