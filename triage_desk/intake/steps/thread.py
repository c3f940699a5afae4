"""Step: the ticket each message continues, if any.

In this order: the ticket of the message a bounce is about, of the messages it answers
(``thread_refs``), of a ticket number in its subject (only for that ticket's participants),
of a stored message that answers this one (its reply came first), and last of an earlier
message of this batch (a reply joins its original, an original its reply). One query per
channel for the whole batch; the subject number only where the references found nothing.

A chat message (``continue_days`` set: a chat has no reply headers) continues its sender's
latest ticket on the desk that is still worked on or was resolved within that many days
(``follow_up`` reopens a resolved one), or an earlier message of the same conversation in
this batch; else it opens a ticket.
"""

from __future__ import annotations

import datetime as dt
import logging
import re

from triage_desk.intake.steps.batch import Batch, Work
from triage_desk.storage import repositories as repo
from triage_desk.storage.models import Ticket

log = logging.getLogger(__name__)
# A ticket number as people write it: "[MUN-2026-000027]", "Re: MUN-2026-000027", lower case.
_TICKET_NUMBER = re.compile(r"(?<![A-Za-z0-9-])([A-Za-z]{2,6}-\d{4}-\d{6})(?![\d-])")
_MAX_NUMBERS = 5  # read from one subject or text: more is no conversation, only noise


def ticket_numbers(text: str) -> list[str]:
    """The ticket numbers written in a subject or text, upper-cased, first ones first."""
    found: dict[str, None] = {}
    for match in _TICKET_NUMBER.finditer(text):
        found.setdefault(match.group(1).upper(), None)
        if len(found) >= _MAX_NUMBERS:
            break
    return list(found)


def _takes_part(batch: Batch, work: Work, ticket: Ticket) -> bool:
    """Its requester, anyone on its thread, or proven staff. Our own addresses are on every
    thread (recipients of each message, sender of each reply), so a message claiming one of
    them takes part in none."""
    if work.author.kind == "staff":
        return True
    if batch.policy.own_mailbox(work.inbound):
        return False
    participants = repo.ticket_participants(batch.session, ticket, work.inbound.channel)
    return work.inbound.sender in participants


def _ticket_in_subject(batch: Batch, work: Work) -> Ticket | None:
    """The ticket a number in the subject names, for its participants on its own desk.

    Numbers are sequential, so anyone can guess one: a message from someone who takes no
    part in that ticket opens its own ticket, which staff see "mentions" the other (and the
    sender is told nothing about it, not even that it exists).
    """
    for number in ticket_numbers(work.inbound.subject):
        ticket = repo.ticket_by_number(batch.session, number)
        if ticket is None:
            continue
        if ticket.desk == work.desk.name and _takes_part(batch, work, ticket):
            return ticket
        log.info(
            "a message from %s names ticket %s but takes no part in it: not joined",
            work.inbound.sender,
            number,
        )
        work.mentions.append(number)
    return None


def _stored_tickets(batch: Batch) -> None:
    by_channel: dict[str, list[Work]] = {}
    for work in batch.fresh:
        by_channel.setdefault(work.inbound.channel, []).append(work)
    for channel, group in by_channel.items():
        id_lists = []
        for work in group:
            bounce = work.inbound.bounce
            id_lists.append(
                [*(bounce.original_message_ids if bounce else ()), *work.inbound.thread_refs]
            )
        found = repo.tickets_for_message_ids(batch.session, channel, id_lists)
        for work, ticket in zip(group, found, strict=True):
            work.ticket = ticket or _ticket_in_subject(batch, work)
        # An original stored after a reply to it joins the reply's ticket.
        orphans = [w for w in group if w.ticket is None]
        later = repo.tickets_referencing(
            batch.session, channel, [w.inbound.external_id for w in orphans]
        )
        for work in orphans:
            work.ticket = later.get(work.inbound.external_id)
    for work in batch.fresh:
        if work.ticket is None and work.inbound.continue_days is not None:
            work.ticket = _conversation(batch, work)


def _conversation(batch: Batch, work: Work) -> Ticket | None:
    """The ticket a chat message continues (one query: chats come a few at a time)."""
    inbound = work.inbound
    since = batch.now - dt.timedelta(days=inbound.continue_days or 0)
    return repo.continued_ticket(
        batch.session, inbound.channel, inbound.sender, work.desk.name, since
    )


def _conversation_key(work: Work) -> tuple[str, str, str] | None:
    inbound = work.inbound
    if inbound.continue_days is None:
        return None
    return inbound.channel, work.desk.name, inbound.sender


def thread(batch: Batch) -> None:
    _stored_tickets(batch)
    earlier: dict[str, Work] = {}
    named_by: dict[str, Work] = {}  # ids that earlier messages of the batch refer to
    talking: dict[tuple[str, str, str], Work] = {}  # a chat's first new message in the batch
    for work in batch.fresh:
        key = _conversation_key(work)
        if work.ticket is None:
            refs = work.inbound.thread_refs
            work.parent = next((earlier[i] for i in refs if i in earlier), None)
            if work.parent is None:
                work.parent = named_by.get(work.inbound.external_id)
            if work.parent is None and key is not None:
                work.parent = talking.get(key)
            if key is not None:
                talking.setdefault(key, work)
        earlier[work.inbound.external_id] = work
        for named in work.referenced_ids:
            named_by.setdefault(named, work)
    batch.opening = [w for w in batch.fresh if w.ticket is None and w.parent is None]
