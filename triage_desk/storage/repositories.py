"""Small, named queries the rest of the service uses instead of raw SQL."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import and_, func, insert, or_, select, update
from sqlalchemy.orm import Session, joinedload

from triage_desk.storage.models import (
    AuditEvent,
    Direction,
    Message,
    MessageReference,
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

    One upsert: the counter row is created at ``count``, or advanced by ``count``, and its new
    value returned (INSERT … ON CONFLICT DO UPDATE … RETURNING, which SQLite and PostgreSQL
    both serialise per row). On the table, not the ORM class: no autoflush of the session.
    """
    dialect = session.get_bind().dialect.name
    # The dialect's own INSERT (ON CONFLICT), imported here: the PostgreSQL package is slow
    # to import and SQLite users never need it.
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    counters = TicketCounter.__table__
    last = session.execute(
        insert(counters)
        .values(desk=desk, year=year, last=count)
        .on_conflict_do_update(
            index_elements=["desk", "year"], set_={"last": counters.c.last + count}
        )
        .returning(counters.c.last)
    ).scalar_one()
    return [f"{prefix}-{year}-{n:06d}" for n in range(last - count + 1, last + 1)]


def next_ticket_number(session: Session, desk: str, prefix: str, year: int) -> str:
    return allocate_ticket_numbers(session, desk, prefix, year, 1)[0]


def find_messages(
    session: Session,
    channel: str,
    external_ids: Sequence[str],
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


def stored_external_ids(
    session: Session,
    channel: str,
    external_ids: Sequence[str],
    direction: str = Direction.INBOUND,
) -> set[str]:
    """Which of ``external_ids`` are stored already (one plain query; ``find_messages`` loads
    the messages, for the rare batch that has any)."""
    if not external_ids:
        return set()
    messages = Message.__table__
    return set(
        session.scalars(
            select(messages.c.external_id).where(
                messages.c.channel == channel,
                messages.c.direction == direction,
                messages.c.external_id.in_(list(external_ids)),
            )
        )
    )


def replies_by_recipient(
    session: Session, recipient_keys: set[str], key_prefix: str, since: dt.datetime
) -> dict[str, int]:
    """How many outbox items whose dedupe key starts with ``key_prefix`` went (or wait) to
    each recipient since ``since``; recipients by ``OutboxItem.recipient_key`` (a
    plus-address counts as its base address)."""
    if not recipient_keys:
        return {}
    outbox = OutboxItem.__table__
    rows = session.execute(
        select(outbox.c.recipient_key, func.count())
        .where(
            outbox.c.recipient_key.in_(sorted(recipient_keys)),
            outbox.c.dedupe_key.startswith(key_prefix, autoescape=True),
            outbox.c.created_at >= since,
        )
        .group_by(outbox.c.recipient_key)
    )
    return {recipient: int(number) for recipient, number in rows}


def replies_from(session: Session, sender: str, key_prefix: str, since: dt.datetime) -> int:
    """How many outbox items with a dedupe key starting with ``key_prefix`` one of our
    addresses sent (or will send) since ``since``: the desk-wide automatic reply limits."""
    outbox = OutboxItem.__table__
    return int(
        session.scalar(
            select(func.count())
            .select_from(outbox)
            .where(
                outbox.c.sender == sender,
                outbox.c.created_at >= since,
                outbox.c.dedupe_key.startswith(key_prefix, autoescape=True),
            )
        )
        or 0
    )


def outbox_keys_present(session: Session, keys: Sequence[str]) -> set[str]:
    """Which of these dedupe keys are in the outbox already."""
    if not keys:
        return set()
    outbox = OutboxItem.__table__
    return set(session.scalars(select(outbox.c.dedupe_key).where(outbox.c.dedupe_key.in_(keys))))


@dataclass(frozen=True)
class SentMail:
    """One of our outbound mails, as a bounce that names it needs it."""

    external_id: str
    ticket_number: str
    recipients: tuple[str, ...]


def sent_mails(session: Session, channel: str, external_ids: Sequence[str]) -> list[SentMail]:
    """Those of ``external_ids`` that are mail we sent (outbound messages), with recipients."""
    if not external_ids:
        return []
    rows = session.execute(
        select(Message.external_id, Ticket.number, Message.recipients)
        .join(Ticket, Message.ticket_id == Ticket.id)
        .where(
            Message.channel == channel,
            Message.direction == Direction.OUTBOUND,
            Message.external_id.in_(list(external_ids)),
        )
    )
    return [
        SentMail(external_id, number, tuple(r.lower() for r in recipients or ()))
        for external_id, number, recipients in rows
    ]


def ticket_participants(session: Session, ticket: Ticket, channel: str) -> set[str]:
    """Who takes part in a ticket: its requester's addresses, everyone who wrote on it or was
    written to (To/Cc of its mail, recipients of ours). Lower-cased."""
    found = set(
        session.scalars(
            select(RequesterAddress.address).where(
                RequesterAddress.requester_id == ticket.requester_id,
                RequesterAddress.channel == channel,
            )
        )
    )
    for direction, sender, recipients in session.execute(
        select(Message.direction, Message.sender, Message.recipients).where(
            Message.ticket_id == ticket.id, Message.channel == channel
        )
    ):
        if direction == Direction.INBOUND:
            found.add(sender)
        found.update(recipients or ())
    return {address.lower() for address in found if address}


def first_replies_to(
    session: Session, numbers: Sequence[str], recipient_key: str, key_prefix: str
) -> list[str]:
    """The texts of the automatic first replies of these tickets that went to this recipient."""
    if not numbers:
        return []
    return list(
        session.scalars(
            select(OutboxItem.body_text)
            .join(Ticket, OutboxItem.ticket_id == Ticket.id)
            .where(
                Ticket.number.in_(list(numbers)),
                OutboxItem.recipient_key == recipient_key,
                OutboxItem.dedupe_key.startswith(key_prefix, autoescape=True),
            )
        )
    )


@dataclass
class SenderRow:
    """A sender's address as intake needs it: whose it is and whether mail to it bounces."""

    requester_id: int
    undeliverable: bool = False
    display_name: str | None = None


def sender_rows(session: Session, channel: str, addresses: Sequence[str]) -> dict[str, SenderRow]:
    """The known ones among ``addresses`` (one plain query, no ORM objects)."""
    if not addresses:
        return {}
    rows, people = RequesterAddress.__table__, Requester.__table__
    found = session.execute(
        select(rows.c.address, rows.c.requester_id, rows.c.undeliverable, people.c.display_name)
        .join(people, people.c.id == rows.c.requester_id)
        .where(rows.c.channel == channel, rows.c.address.in_(sorted(set(addresses))))
    )
    return {
        address: SenderRow(requester_id, bool(undeliverable), name)
        for address, requester_id, undeliverable, name in found
    }


def insert_senders(
    session: Session, channel: str, names: dict[str, str | None]
) -> dict[str, SenderRow]:
    """A new requester for each new address (``names``: address -> display name); two
    INSERTs for any number of them."""
    if not names:
        return {}
    people, rows = Requester.__table__, RequesterAddress.__table__
    addresses = list(names)
    ids = session.scalars(
        insert(people).returning(people.c.id, sort_by_parameter_order=True),
        [{"display_name": names[address]} for address in addresses],
    ).all()
    session.execute(
        insert(rows),
        [
            {"requester_id": requester_id, "channel": channel, "address": address}
            for address, requester_id in zip(addresses, ids, strict=True)
        ],
    )
    return {
        address: SenderRow(requester_id, False, names[address])
        for address, requester_id in zip(addresses, ids, strict=True)
    }


def name_requesters(session: Session, names: dict[int, str]) -> None:
    """Give requesters that had none a display name (rare: one UPDATE each)."""
    people = Requester.__table__
    for requester_id, name in names.items():
        session.execute(
            update(people)
            .where(people.c.id == requester_id, func.coalesce(people.c.display_name, "") == "")
            .values(display_name=name)
        )


# The columns intake sets on a new ticket; the others take their defaults.
NEW_TICKET_COLUMNS = (
    "number",
    "desk",
    "requester_id",
    "client_id",
    "channel",
    "subject",
    "language",
    "status",
    "category",
    "feedback_type",
    "category_confirmed",
    "urgent",
    "received_at",
    "clock_start",
    "response_due",
    "resolution_due",
    "first_response_at",
)


def insert_tickets(session: Session, tickets: Sequence[Ticket]) -> None:
    """Insert new tickets built as plain objects (never added to the session) in one
    statement, and give each its id; ``update_tickets`` writes later changes to them."""
    if not tickets:
        return
    table = Ticket.__table__
    ids = session.scalars(
        insert(table).returning(table.c.id, sort_by_parameter_order=True),
        [{column: getattr(ticket, column) for column in NEW_TICKET_COLUMNS} for ticket in tickets],
    ).all()
    for ticket, ticket_id in zip(tickets, ids, strict=True):
        ticket.id = ticket_id


def update_tickets(session: Session, tickets: Sequence[Ticket], columns: Sequence[str]) -> None:
    table = Ticket.__table__
    for ticket in tickets:
        session.execute(
            update(table)
            .where(table.c.id == ticket.id)
            .values({column: getattr(ticket, column) for column in columns})
        )


def mark_undeliverable(
    session: Session, channel: str, address: str, reason: str, at: dt.datetime
) -> bool:
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
    row.undeliverable_at = at
    return True


def clear_undeliverable(session: Session, channel: str, address: str) -> RequesterAddress | None:
    """Lift the mark (staff: mail to it works again); the address row, None if unknown."""
    row = find_requester_address(session, channel, address.strip().lower())
    if row is not None:
        row.undeliverable = False
        row.undeliverable_reason = None
        row.undeliverable_at = None
    return row


def undeliverable_addresses(session: Session) -> list[RequesterAddress]:
    """Every address marked undeliverable, most recently marked first."""
    return list(
        session.scalars(
            select(RequesterAddress)
            .where(RequesterAddress.undeliverable.is_(True))
            .order_by(
                RequesterAddress.undeliverable_at.desc().nulls_last(), RequesterAddress.id.desc()
            )
        )
    )


def open_ticket_numbers_for(session: Session, addresses: Sequence[str]) -> list[str]:
    """Unresolved tickets of the requesters behind these addresses, oldest first."""
    return list(
        session.scalars(
            select(Ticket.number)
            .join(RequesterAddress, RequesterAddress.requester_id == Ticket.requester_id)
            .where(
                RequesterAddress.address.in_(list(addresses)),
                Ticket.status != TicketStatus.RESOLVED,
            )
            .order_by(Ticket.id)
        )
    )


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
        .where(
            RequesterAddress.channel == channel,
            RequesterAddress.address.in_(sorted(set(addresses))),
        )
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


# A long thread's References list every message since the first; the direct parent and its
# nearest ancestors are what a late original can be.
MAX_REFERENCES = 10
# A longer id than messages.external_id holds can never be matched.
_MAX_ID = Message.__table__.c.external_id.type.length


def referenced_ids(in_reply_to: str | None, references: Sequence[str]) -> list[str]:
    """The ids an inbound message is recorded as naming (``MessageReference``): In-Reply-To
    and the last ``MAX_REFERENCES`` References, once each."""
    ids = [in_reply_to, *references[-MAX_REFERENCES:]]
    return list(dict.fromkeys(i for i in ids if i and len(i) <= _MAX_ID))


def tickets_referencing(
    session: Session, channel: str, external_ids: Sequence[str]
) -> dict[str, Ticket]:
    """For each id, the ticket of the earliest stored message that names it (one query)."""
    if not external_ids:
        return {}
    rows = session.execute(
        select(MessageReference.referenced_id, Ticket)
        .join(Message, MessageReference.message_id == Message.id)
        .join(Ticket, Message.ticket_id == Ticket.id)
        .where(
            MessageReference.channel == channel,
            MessageReference.referenced_id.in_(list(set(external_ids))),
        )
        .order_by(MessageReference.message_id.desc())
    )
    return {referenced: ticket for referenced, ticket in rows}  # the earliest is last


def list_tickets(
    session: Session,
    desk: str | None = None,
    status: str | None = None,
    limit: int = 50,
    exclude: Sequence[str] = (),
) -> list[Ticket]:
    """Newest first; ``exclude`` leaves out statuses (robot mail) unless ``status`` asks."""
    query = select(Ticket).order_by(Ticket.id.desc()).limit(limit)
    if desk:
        query = query.where(Ticket.desk == desk)
    if status:
        query = query.where(Ticket.status == status)
    elif exclude:
        query = query.where(Ticket.status.not_in(list(exclude)))
    return list(session.scalars(query))


def queued_tickets_due(session: Session, now: dt.datetime, lock: bool = False) -> list[Ticket]:
    """Queued tickets whose clock has started, most urgent first, then oldest; ``lock``
    locks them for this transaction and passes over those another one holds (PostgreSQL)."""
    query = (
        select(Ticket)
        .where(Ticket.status == TicketStatus.QUEUED, Ticket.clock_start <= now)
        .order_by(Ticket.urgent.desc(), Ticket.received_at, Ticket.id)
    )
    if lock:
        query = query.with_for_update(skip_locked=True, of=Ticket)
    return list(session.scalars(query))


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
    "queued_tickets_due",
    "ticket_by_number",
    "tickets_for_message_ids",
]


def continued_ticket(
    session: Session, channel: str, address: str, desk: str, resolved_since: dt.datetime
) -> Ticket | None:
    """The sender's latest ticket on ``desk`` that a chat message continues: one still being
    worked on, or resolved since ``resolved_since`` (a refused or robot ticket is never
    continued: a new request gets its own look)."""
    working = (TicketStatus.QUEUED, TicketStatus.OPEN, TicketStatus.ANSWERED)
    return session.scalar(
        select(Ticket)
        .join(RequesterAddress, RequesterAddress.requester_id == Ticket.requester_id)
        .where(
            RequesterAddress.channel == channel,
            RequesterAddress.address == address,
            Ticket.desk == desk,
            or_(
                Ticket.status.in_(working),
                and_(Ticket.status == TicketStatus.RESOLVED, Ticket.resolved_at >= resolved_since),
            ),
        )
        .order_by(Ticket.id.desc())
        .limit(1)
    )
