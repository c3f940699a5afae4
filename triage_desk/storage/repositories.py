"""Small, named queries the rest of the service uses instead of raw SQL."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, joinedload

from triage_desk.storage.models import (
    AuditEvent,
    Direction,
    Message,
    OutboxItem,
    Requester,
    RequesterAddress,
    Ticket,
    TicketCounter,
    TicketStatus,
)


def allocate_ticket_numbers(
    session: Session, desk: str, prefix: str, year: int, count: int = 1
) -> list[str]:
    """Allocate ``count`` consecutive numbers like MUN-2026-000123, without gaps from races.

    The counter row is created if missing (ignoring a concurrent creator), then advanced by
    ``count`` with UPDATE … RETURNING, which SQLite and PostgreSQL both serialise per row.
    """
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    session.execute(
        insert(TicketCounter)
        .values(desk=desk, year=year, last=0)
        .on_conflict_do_nothing(index_elements=["desk", "year"])
    )
    last = session.execute(
        update(TicketCounter)
        .where(TicketCounter.desk == desk, TicketCounter.year == year)
        .values(last=TicketCounter.last + count)
        .returning(TicketCounter.last)
    ).scalar_one()
    return [f"{prefix}-{year}-{n:06d}" for n in range(last - count + 1, last + 1)]


def next_ticket_number(session: Session, desk: str, prefix: str, year: int) -> str:
    return allocate_ticket_numbers(session, desk, prefix, year, 1)[0]


def find_messages(
    session: Session, channel: str, external_ids: Sequence[str],
    direction: str = Direction.INBOUND,
) -> dict[str, Message]:
    """Already-stored messages among ``external_ids``, keyed by external id."""
    if not external_ids:
        return {}
    rows = session.scalars(
        select(Message).where(
            Message.channel == channel,
            Message.direction == direction,
            Message.external_id.in_(list(external_ids)),
        )
    )
    return {row.external_id: row for row in rows}


def replies_by_recipient(
    session: Session, recipients: set[str], key_prefix: str, since: dt.datetime
) -> dict[str, int]:
    """How many outbox items whose dedupe key starts with ``key_prefix`` went (or wait) to
    each recipient since ``since``."""
    if not recipients:
        return {}
    rows = session.execute(
        select(OutboxItem.recipient, func.count())
        .where(
            OutboxItem.recipient.in_(sorted(recipients)),
            OutboxItem.dedupe_key.startswith(key_prefix, autoescape=True),
            OutboxItem.created_at >= since,
        )
        .group_by(OutboxItem.recipient)
    )
    return {recipient: int(number) for recipient, number in rows}


def mark_undeliverable(session: Session, channel: str, address: str, reason: str) -> bool:
    """Flag an address we could not deliver to; False if we do not know the address."""
    row = session.scalar(
        select(RequesterAddress).where(
            RequesterAddress.channel == channel, RequesterAddress.address == address
        )
    )
    if row is None:
        return False
    row.undeliverable = True
    row.undeliverable_reason = reason
    return True


def open_ticket_numbers_for(session: Session, addresses: Sequence[str]) -> list[str]:
    """Unresolved tickets of the requesters behind these addresses, oldest first."""
    return list(session.scalars(
        select(Ticket.number)
        .join(RequesterAddress, RequesterAddress.requester_id == Ticket.requester_id)
        .where(RequesterAddress.address.in_(list(addresses)),
               Ticket.status != TicketStatus.RESOLVED)
        .order_by(Ticket.id)
    ))


def find_message(
    session: Session, channel: str, external_id: str, direction: str = Direction.INBOUND
) -> Message | None:
    return session.scalar(
        select(Message).where(
            Message.channel == channel,
            Message.direction == direction,
            Message.external_id == external_id,
        )
    )


def find_requester(session: Session, channel: str, address: str) -> Requester | None:
    return session.scalar(
        select(Requester)
        .join(RequesterAddress)
        .where(RequesterAddress.channel == channel, RequesterAddress.address == address)
    )


def find_requester_address(session: Session, channel: str, address: str) -> RequesterAddress | None:
    return session.scalar(
        select(RequesterAddress).where(
            RequesterAddress.channel == channel, RequesterAddress.address == address
        )
    )


def find_requester_addresses(
    session: Session, channel: str, addresses: Sequence[str]
) -> dict[str, RequesterAddress]:
    """Known addresses among ``addresses``, with their requesters loaded in the same query."""
    if not addresses:
        return {}
    rows = session.scalars(
        select(RequesterAddress)
        .options(joinedload(RequesterAddress.requester))
        .where(RequesterAddress.channel == channel,
               RequesterAddress.address.in_(sorted(set(addresses))))
    )
    return {row.address: row for row in rows}


def get_or_create_requester(
    session: Session, channel: str, address: str, display_name: str | None
) -> Requester:
    requester = find_requester(session, channel, address)
    if requester is None:
        requester = Requester(display_name=display_name)
        requester.addresses.append(RequesterAddress(channel=channel, address=address))
        session.add(requester)
        session.flush()
    elif display_name and not requester.display_name:
        requester.display_name = display_name
    return requester


def ticket_by_number(session: Session, number: str) -> Ticket | None:
    return session.scalar(select(Ticket).where(Ticket.number == number))


def tickets_for_message_ids(
    session: Session, channel: str, id_lists: Sequence[Sequence[str]]
) -> list[Ticket | None]:
    """For each list of ids, the ticket of the newest of our stored messages (either
    direction) that has one of them; one query for the whole batch."""
    wanted = {i for ids in id_lists for i in ids}
    if not wanted:
        return [None] * len(id_lists)
    newest: dict[str, tuple[int, Ticket]] = {}
    rows = session.execute(
        select(Message.external_id, Message.id, Ticket)
        .join(Ticket, Message.ticket_id == Ticket.id)
        .where(Message.channel == channel, Message.external_id.in_(list(wanted)))
    )
    for external_id, message_id, ticket in rows:
        if external_id not in newest or newest[external_id][0] < message_id:
            newest[external_id] = (message_id, ticket)
    found: list[Ticket | None] = []
    for ids in id_lists:
        hits = [newest[i] for i in ids if i in newest]
        found.append(max(hits, key=lambda hit: hit[0])[1] if hits else None)
    return found


def list_tickets(
    session: Session, desk: str | None = None, status: str | None = None, limit: int = 50
) -> list[Ticket]:
    query = select(Ticket).order_by(Ticket.id.desc()).limit(limit)
    if desk:
        query = query.where(Ticket.desk == desk)
    if status:
        query = query.where(Ticket.status == status)
    return list(session.scalars(query))


def release_queued(session: Session, now: dt.datetime) -> list[Ticket]:
    """Queued tickets whose clock has started, most urgent first, then oldest."""
    return list(
        session.scalars(
            select(Ticket)
            .where(Ticket.status == TicketStatus.QUEUED, Ticket.clock_start <= now)
            .order_by(Ticket.urgent.desc(), Ticket.received_at, Ticket.id)
        )
    )


def audit(
    session: Session, actor: str, action: str, ticket: Ticket | None = None, **details: object
) -> None:
    session.add(
        AuditEvent(
            actor=actor,
            action=action,
            ticket_id=ticket.id if ticket is not None else None,
            details={k: v for k, v in details.items() if v is not None},
        )
    )


__all__ = [
    "audit",
    "find_message",
    "find_requester",
    "get_or_create_requester",
    "list_tickets",
    "next_ticket_number",
    "release_queued",
    "ticket_by_number",
    "tickets_for_message_ids",
]
