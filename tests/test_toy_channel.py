"""A toy chat channel, built in this file only: its adapter commits inbound queue rows, its
decoder is registered beside email's, and the queue runner turns them into tickets,
deduplication and acknowledgements through its own sender, without the core knowing it."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import func, select

from triage_desk.clock import FixedClock
from triage_desk.desks import Desks
from triage_desk.intake.decoders import Decoders
from triage_desk.intake.errors import Deadline, Unparseable
from triage_desk.intake.message import InboundMessage
from triage_desk.intake.pipeline import IntakePipeline
from triage_desk.intake.processing import DecodingProcessor
from triage_desk.intake.queue import Arrival, InboundQueue
from triage_desk.responders.dispatcher import Dispatcher
from triage_desk.responders.render import TemplateRenderer
from triage_desk.runners.queue import QueueRunner
from triage_desk.storage.db import make_engine, make_session_factory
from triage_desk.storage.models import OutboxItem, QuarantinedMail, QueuedInbound, Ticket

NOW = dt.datetime(2026, 11, 30, 8, 0, tzinfo=dt.UTC)  # Monday 10:00 in Riga


# ---- the toy channel: adapter, decoder and sender (the whole of it) ---------------------


class ToyAdapter:
    """Accept a chat update, commit it to the queue, and only then confirm its offset."""

    def __init__(self, queue: InboundQueue) -> None:
        self.queue, self.confirmed = queue, []

    def accept(self, chat_id: int, message_id: int, text: str) -> int:
        update = json.dumps({"chat": chat_id, "id": message_id, "text": text}).encode()
        meta = {"source": f"toy:{chat_id}"}
        item = Arrival("toy", "municipal", update, NOW, meta, f"{chat_id}:{message_id}")
        [row] = self.queue.enqueue([item])
        self.confirmed.append(message_id)
        return row


class ToyDecoder:
    def decode(self, item: Arrival, deadline: Deadline) -> InboundMessage:
        try:
            update = json.loads(item.payload)
        except ValueError as exc:
            raise Unparseable(f"not a toy update: {exc}") from exc
        chat = {"channel": "toy", "desk": item.desk, "sender": f"chat-{update['chat']}"}
        content = {"subject": update["text"][:80], "text": update["text"]}
        return InboundMessage(
            **chat, **content, new_text=update["text"], external_id=item.external_id or "",
            sender_name=None, received_at=item.received_at,
        )  # fmt: skip


class ToySender(list):
    def send(self, item: OutboxItem) -> None:
        self.append((item.recipient, item.body_text))


# ---- the tests ----------------------------------------------------------------------------


@pytest.fixture
def toy(database_url, example_config, classifier):
    engine = make_engine(database_url)
    sessions, clock = make_session_factory(engine), FixedClock(NOW)
    pipeline = IntakePipeline(
        sessions, Desks(example_config), classifier, TemplateRenderer(), now=clock
    )
    decoders = Decoders()
    decoders.register("toy", ToyDecoder())
    # The core alone: no email part is built (the toy channel needs none).
    processor = DecodingProcessor(sessions, pipeline, decoders, lambda: Deadline(30.0))
    queue = InboundQueue(sessions, clock)
    yield (
        sessions,
        clock,
        ToyAdapter(queue),
        lambda **kw: QueueRunner(queue, {}, processor, **{"max_starts": 3, **kw}),
    )
    engine.dispose()


def count(sessions, model) -> int:  # type: ignore[no-untyped-def]
    with sessions() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_a_toy_channel_gets_tickets_dedup_and_acknowledgements(toy):
    sessions, clock, adapter, runner = toy
    text = "Nevaru pieslēgties portālam, rāda kļūdu 500."
    adapter.accept(42, 7, text)
    adapter.accept(42, 7, text)  # the same update again (the offset was not confirmed in time)
    assert adapter.confirmed == [7, 7] and count(sessions, QueuedInbound) == 2
    assert runner().drain() == 2
    assert count(sessions, QueuedInbound) == 0 and count(sessions, Ticket) == 1
    toy_sender, mail = ToySender(), ToySender()
    assert Dispatcher(sessions, {"toy": toy_sender, "email": mail}, now=clock).run_once().sent == 1
    [(recipient, body)] = toy_sender
    with sessions() as session:
        [ticket] = session.scalars(select(Ticket)).all()
    assert ticket.channel == "toy" and recipient == "chat-42"
    assert ticket.number in body and mail == []


def test_a_toy_update_that_cannot_be_decoded_is_quarantined_with_the_reason(toy):
    sessions, _clock, adapter, runner = toy
    adapter.queue.enqueue([Arrival("toy", "municipal", b"{not json", NOW, {"source": "toy:9"})])
    assert runner().drain() == 1
    with sessions() as session:
        [held] = session.scalars(select(QuarantinedMail)).all()
    assert (held.channel, held.reason, held.source) == ("toy", "unparseable", "toy:9")
    assert count(sessions, QueuedInbound) == 0


def test_committed_toy_updates_survive_a_runner_that_stopped_storing(toy, monkeypatch):
    """Rows committed, then the store fails (the database away, a crash in the commit): the
    rows stay, and the next runner stores each update once."""
    sessions, _clock, adapter, runner = toy
    for message_id in (1, 2, 3):
        adapter.accept(5, message_id, f"Ziņa {message_id}: portāls nestrādā.")

    def lost(*_args, **_kwargs):
        raise SystemExit("killed while storing")

    with monkeypatch.context() as patched:
        patched.setattr(IntakePipeline, "store", lost)
        with pytest.raises(SystemExit):
            runner().drain()
    assert count(sessions, QueuedInbound) == 3 and count(sessions, Ticket) == 0
    assert runner().drain() == 3
    assert count(sessions, QueuedInbound) == 0
    with sessions() as session:
        tickets = session.scalars(select(Ticket.subject).order_by(Ticket.id)).all()
    assert [subject.split(":")[0] for subject in tickets] == ["Ziņa 1", "Ziņa 2", "Ziņa 3"]
