"""The storage suite: runs on SQLite and, with TRIAGE_DATABASE_URL, on PostgreSQL."""

from __future__ import annotations

import datetime as dt
import threading
from zoneinfo import ZoneInfo

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, select
from sqlalchemy.exc import IntegrityError

from triage_desk.storage import repositories as repo
from triage_desk.storage.db import (
    HEAD_REVISION,
    alembic_config,
    current_revision,
    downgrade,
    make_engine,
    make_session_factory,
    upgrade,
)
from triage_desk.storage.models import (
    Base,
    Direction,
    Message,
    MessageReference,
    OutboxItem,
    OutboxStatus,
    Suggestion,
    Ticket,
    TicketStatus,
)

RIGA = ZoneInfo("Europe/Riga")


@pytest.fixture
def sessions(database_url):
    engine = make_engine(database_url)
    yield make_session_factory(engine)
    engine.dispose()


def _ticket(session, number: str, received: dt.datetime) -> Ticket:
    requester = repo.get_or_create_requester(session, "email", "a@example.lv", "A")
    ticket = Ticket(
        number=number,
        desk="municipal",
        requester=requester,
        channel="email",
        subject="s",
        language="lv",
        status=TicketStatus.OPEN,
        category="error",
        received_at=received,
        clock_start=received,
        response_due=None,
        resolution_due=None,
    )
    session.add(ticket)
    session.flush()
    return ticket


def test_migrations_match_the_models(database_url):
    engine = make_engine(database_url)
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    engine.dispose()
    assert diff == [], f"models and migrations disagree; write a migration: {diff}"


def test_head_revision_is_alembics_head(database_url):
    from alembic.script import ScriptDirectory

    assert (
        ScriptDirectory.from_config(alembic_config(database_url)).get_current_head()
        == HEAD_REVISION
    )
    assert current_revision(database_url) == HEAD_REVISION
    downgrade(database_url, "0003")
    assert current_revision(database_url) == "0003"
    upgrade(database_url)  # not at the head: Alembic runs
    assert current_revision(database_url) == HEAD_REVISION


def test_migration_0006_records_the_references_of_stored_messages(database_url):
    """A database upgraded from 0005 knows what its stored replies name, so an original
    arriving after the upgrade still finds its reply's ticket."""
    # The rows are written at the head (the ORM knows no older schema), then taken back to
    # 0005, which drops message_references and later columns but keeps the rows.
    engine = make_engine(database_url)
    sessions = make_session_factory(engine)
    received = dt.datetime(2026, 11, 2, 8, 0, tzinfo=dt.UTC)
    with sessions() as session:  # the ORM writes no message_references row by itself
        ticket = _ticket(session, "MUN-2026-000001", received)
        for external_id, direction, in_reply_to, references in [
            (
                "<reply@x.lv>",
                Direction.INBOUND,
                "<original@x.lv>",
                ["<older@x.lv>", "<original@x.lv>"],
            ),
            ("<ack@desk.lv>", Direction.OUTBOUND, "<reply@x.lv>", ["<reply@x.lv>"]),  # ours
        ]:
            session.add(
                Message(
                    ticket=ticket,
                    direction=direction,
                    channel="email",
                    external_id=external_id,
                    in_reply_to=in_reply_to,
                    references=references,
                    sender="a@x.lv",
                    received_at=received,
                )
            )
        session.commit()
        ticket_id = ticket.id
    engine.dispose()
    downgrade(database_url, "0005")
    upgrade(database_url)
    with sessions() as session:
        named = sorted(session.scalars(select(MessageReference.referenced_id)))
        assert named == ["<older@x.lv>", "<original@x.lv>"]
        found = repo.tickets_referencing(session, "email", ["<original@x.lv>", "<reply@x.lv>"])
        assert {key: t.id for key, t in found.items()} == {"<original@x.lv>": ticket_id}
    engine.dispose()


def test_migration_0012_keeps_the_outbox_and_the_waiting_suggestions(database_url):
    """0012 rebuilds the outbox without sent_at (SQLite copies the table) and gives
    suggestions a claim column: rows written before it are all there after it, and a
    suggestion that waited for the refiner still waits, unclaimed."""
    engine = make_engine(database_url)
    sessions = make_session_factory(engine)
    received = dt.datetime(2026, 11, 2, 8, 0, tzinfo=dt.UTC)
    with sessions.begin() as session:
        ticket = _ticket(session, "MUN-2026-000001", received)
        message = Message(
            ticket=ticket,
            direction=Direction.INBOUND,
            channel="email",
            external_id="<m@x.lv>",
            sender="a@x.lv",
            received_at=received,
        )
        session.add(message)
        session.flush()
        session.add(
            Suggestion(
                ticket=ticket,
                message_id=message.id,
                category="error",
                category_confidence=0.5,
                feedback_type="none",
                feedback_confidence=0.9,
                confidence=0.5,
                model_version="v",
                needs_refinement=True,
                created_at=received,
            )
        )
        session.add(
            OutboxItem(
                dedupe_key="ack:1",
                kind="acknowledgement",
                ticket=ticket,
                channel="email",
                sender="desk@x.lv",
                recipient="a@x.lv",
                body_text="Labdien!",
                status=OutboxStatus.PENDING,
                next_attempt_at=received,
                created_at=received,
            )
        )
    engine.dispose()
    downgrade(database_url, "0011_desk")
    assert "sent_at" in {c["name"] for c in inspect(engine).get_columns("outbox")}
    engine.dispose()
    upgrade(database_url)
    assert "sent_at" not in {c["name"] for c in inspect(engine).get_columns("outbox")}
    with sessions() as session:
        [item] = session.scalars(select(OutboxItem)).all()
        assert (item.dedupe_key, item.body_text, item.status) == (
            "ack:1",
            "Labdien!",
            OutboxStatus.PENDING,
        )
        [waiting] = session.scalars(select(Suggestion)).all()
        assert waiting.needs_refinement and waiting.refining_until is None
    engine.dispose()


def test_downgrade_and_upgrade_again(database_url):
    downgrade(database_url, "base")
    engine = make_engine(database_url)
    assert "tickets" not in inspect(engine).get_table_names()
    upgrade(database_url)
    assert "tickets" in inspect(engine).get_table_names()
    engine.dispose()


def test_instants_come_back_aware_and_equal_across_dst(sessions):
    # 2026-03-29 is the spring-forward Sunday in Riga, 2026-10-25 the fall-back one.
    instants = [
        dt.datetime(2026, 3, 29, 2, 30, tzinfo=dt.UTC),
        dt.datetime(2026, 10, 25, 3, 30, tzinfo=RIGA),
        dt.datetime(2026, 10, 25, 3, 30, fold=1, tzinfo=RIGA),
    ]
    with sessions.begin() as session:
        ids = [_ticket(session, f"MUN-2026-00000{i}", t).id for i, t in enumerate(instants)]
    with sessions() as session:
        for ticket_id, instant in zip(ids, instants, strict=True):
            stored = session.get(Ticket, ticket_id).received_at
            assert stored.tzinfo is not None and stored.utcoffset() == dt.timedelta(0)
            # PEP 495: '==' across zones is always False for ambiguous times; compare in UTC.
            assert stored == instant.astimezone(dt.UTC)
        fall_back = [session.get(Ticket, i).received_at for i in ids[1:]]
        assert fall_back[1] - fall_back[0] == dt.timedelta(hours=1)


def test_naive_datetimes_are_refused(sessions):
    with pytest.raises(Exception, match="naive datetime"), sessions.begin() as session:
        _ticket(session, "MUN-2026-000001", dt.datetime(2026, 1, 5, 10, 0))


def test_ticket_numbers_count_per_desk_and_year(sessions):
    with sessions.begin() as session:
        numbers = [repo.next_ticket_number(session, "municipal", "MUN", 2026) for _ in range(3)]
        other = repo.next_ticket_number(session, "eparaksts", "EPA", 2026)
        next_year = repo.next_ticket_number(session, "municipal", "MUN", 2027)
    assert numbers == ["MUN-2026-000001", "MUN-2026-000002", "MUN-2026-000003"]
    assert other == "EPA-2026-000001"
    assert next_year == "MUN-2027-000001"


def test_concurrent_ticket_numbers_are_unique_and_gapless(sessions):
    results: list[str] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            for _ in range(10):
                with sessions.begin() as session:
                    results.append(repo.next_ticket_number(session, "municipal", "MUN", 2026))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert sorted(results) == [f"MUN-2026-{n:06d}" for n in range(1, 41)]


def test_same_channel_and_external_id_is_stored_once(sessions):
    received = dt.datetime(2026, 11, 30, 8, 0, tzinfo=dt.UTC)
    with sessions.begin() as session:
        ticket = _ticket(session, "MUN-2026-000001", received)
        ticket_id = ticket.id

    def add_message() -> None:
        with sessions.begin() as session:
            session.add(
                Message(
                    ticket_id=ticket_id,
                    direction=Direction.INBOUND,
                    channel="email",
                    external_id="abc@example.lv",
                    sender="a@example.lv",
                    received_at=received,
                    raw=b"\xff\x00raw bytes kept as they came",
                )
            )

    add_message()
    with pytest.raises(IntegrityError):
        add_message()
    with sessions() as session:
        stored = session.scalars(select(Message)).all()
        assert len(stored) == 1
        assert stored[0].raw == b"\xff\x00raw bytes kept as they came"
        assert repo.find_message(session, "email", "abc@example.lv").id == stored[0].id
        assert repo.find_message(session, "telegram", "abc@example.lv") is None


def test_outbox_dedupe_key_is_unique(sessions):
    def add_item() -> None:
        with sessions.begin() as session:
            session.add(
                OutboxItem(
                    dedupe_key="ack:1",
                    kind="acknowledgement",
                    channel="email",
                    sender="atbalsts@example.lv",
                    recipient="a@example.lv",
                    body_text="x",
                )
            )

    add_item()
    with pytest.raises(IntegrityError):
        add_item()


def test_requester_is_found_by_address(sessions):
    with sessions.begin() as session:
        first = repo.get_or_create_requester(session, "email", "a@example.lv", None)
        again = repo.get_or_create_requester(session, "email", "a@example.lv", "Anna")
        other = repo.get_or_create_requester(session, "telegram", "a@example.lv", None)
        assert first.id == again.id != other.id
        assert again.display_name == "Anna"


def test_queued_tickets_are_released_most_urgent_first(sessions):
    base = dt.datetime(2026, 11, 28, 10, 0, tzinfo=dt.UTC)
    with sessions.begin() as session:
        for number, minutes, urgent in [("A", 0, False), ("B", 5, True), ("C", 10, False)]:
            received = base + dt.timedelta(minutes=minutes)
            ticket = _ticket(session, f"MUN-2026-00000{number}", received)
            ticket.status = TicketStatus.QUEUED
            ticket.urgent = urgent
            ticket.clock_start = dt.datetime(2026, 11, 30, 7, 0, tzinfo=dt.UTC)
    with sessions() as session:
        opening = dt.datetime(2026, 11, 30, 7, 0, tzinfo=dt.UTC)
        assert repo.queued_tickets_due(session, opening - dt.timedelta(minutes=1)) == []
        released = repo.queued_tickets_due(session, opening)
        assert [t.number[-1] for t in released] == ["B", "A", "C"]
