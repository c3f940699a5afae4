"""Migration 0017 (chat_settings, link_tokens) and the channel-neutral linking rules of
``storage.links`` at explicit instants, on both databases."""

from __future__ import annotations

import datetime as dt

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from triage_desk.storage import repositories as repo
from triage_desk.storage.db import (
    HEAD_REVISION,
    current_revision,
    downgrade,
    make_engine,
    make_session_factory,
    upgrade,
)
from triage_desk.storage.links import (
    UnknownAddress,
    is_linked,
    link,
    new_link_token,
    redeem,
    unlink,
)
from triage_desk.storage.models import Base, Ticket

NOW = dt.datetime(2026, 11, 30, 8, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)


@pytest.fixture
def sessions(database_url):
    engine = make_engine(database_url)
    yield make_session_factory(engine)
    engine.dispose()


def _ticket(session, number: str, requester_id: int) -> Ticket:
    ticket = Ticket(
        number=number, desk="municipal", requester_id=requester_id, channel="telegram",
        subject="", language="lv", category="consultation", received_at=NOW, clock_start=NOW,
    )  # fmt: skip
    session.add(ticket)
    session.flush()
    return ticket


def test_migration_0017_goes_down_and_up_and_matches_the_models(database_url):
    assert current_revision(database_url) == HEAD_REVISION
    downgrade(database_url, "0016_telegram_intake")
    engine = make_engine(database_url)
    assert {"chat_settings", "link_tokens"} & set(inspect(engine).get_table_names()) == set()
    engine.dispose()
    upgrade(database_url)
    engine = make_engine(database_url)
    with engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
    engine.dispose()


def test_a_token_links_once_and_only_before_it_expires(sessions):
    with sessions.begin() as session:
        person = repo.get_or_create_requester(session, "email", "anna@example.lv", "Anna")
        once = new_link_token(session, "Anna@Example.lv ", "telegram", NOW, DAY)
        late = new_link_token(session, "anna@example.lv", "telegram", NOW, DAY)
        other_channel = new_link_token(session, "anna@example.lv", "telegram", NOW, DAY)
        person_id = person.id
    with sessions.begin() as session:
        assert not redeem(session, "web", "7", other_channel, NOW)  # made for another channel
        assert not redeem(session, "telegram", "7", late, NOW + DAY)  # expired at that instant
        assert not redeem(session, "telegram", "7", once + "x", NOW)  # not a token we made
        assert redeem(session, "telegram", "7", once, NOW + DAY - dt.timedelta(seconds=1))
        assert not redeem(session, "telegram", "8", once, NOW)  # used
    with sessions() as session:
        assert repo.find_requester(session, "telegram", "7").id == person_id
        assert repo.find_requester(session, "telegram", "8") is None


def test_a_token_needs_a_known_address(sessions):
    with sessions.begin() as session, pytest.raises(UnknownAddress):
        new_link_token(session, "nobody@example.lv", "telegram", NOW, DAY)


def test_linking_brings_the_chats_tickets_and_unlinking_leaves_them(sessions):
    with sessions.begin() as session:
        person = repo.get_or_create_requester(session, "email", "anna@example.lv", None)
        chat = repo.get_or_create_requester(session, "telegram", "7", "Anna")
        before = _ticket(session, "MUN-2026-000001", chat.id)
        link(session, "telegram", "7", person.id)
        person_id, before_id = person.id, before.id
    with sessions.begin() as session:
        assert session.get(Ticket, before_id).requester_id == person_id  # one person
        assert is_linked(session, "telegram", "7")
        assert unlink(session, "telegram", "7")
    with sessions.begin() as session:
        fresh = repo.find_requester(session, "telegram", "7")
        assert fresh is not None and fresh.id != person_id
        assert session.get(Ticket, before_id).requester_id == person_id
        assert not is_linked(session, "telegram", "7")
        assert not unlink(session, "telegram", "7")
