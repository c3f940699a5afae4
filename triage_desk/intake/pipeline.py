"""The intake pipeline: inbound messages → stored, triaged, timed and acknowledged.

Everything a message causes (ticket, message, attachments, suggestion, acknowledgement in the
outbox, audit) is written in ONE transaction, so a crash leaves all of it or none of it, and
the unique (channel, direction, external id) makes a replayed message a no-op instead of a
second ticket or a second acknowledgement.

Messages are taken in batches (``process_many``): the model classifies a batch far faster
than one message at a time, and one commit serves the whole batch. A single message is a
batch of one. Classification and everything else that needs no database is
``intake.triage``; ``store`` takes its results, which may come from a worker process.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import logging
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from triage_desk.classifier.predict import Classifier, Prediction
from triage_desk.clock import Clock, system_clock
from triage_desk.config import EmailConfig
from triage_desk.desks import Desk, Desks
from triage_desk.intake.authentication import authenticated_domains, proves_address
from triage_desk.intake.lifecycle import reopen, set_apart_as_robot
from triage_desk.intake.message import InboundMessage
from triage_desk.intake.triage import ArticleFinder, MessageTriage, Triaged, choose_labels
from triage_desk.responders.acknowledgement import (
    ArticleSuggestion,
    acknowledgement_context,
    refusal_context,
    urgent_route_context,
)
from triage_desk.responders.outbox import (
    PendingOutbound,
    base_context,
    dedupe_key,
    prepare_outbound,
    recipient_key,
    write_outbound,
)
from triage_desk.responders.render import TemplateRenderer
from triage_desk.sla import DueTimes
from triage_desk.storage import repositories as repo
from triage_desk.storage.clients import Standing, representatives_of, standings
from triage_desk.storage.models import (
    AuditEvent,
    Direction,
    Message,
    MessageReference,
    StoredAttachment,
    Suggestion,
    Ticket,
    TicketStatus,
)

log = logging.getLogger(__name__)
# A ticket number as people write it: "[MUN-2026-000027]", "Re: MUN-2026-000027", lower case.
_TICKET_NUMBER = re.compile(r"(?<![A-Za-z0-9-])([A-Za-z]{2,6}-\d{4}-\d{6})(?![\d-])")
_MAX_NUMBERS = 5  # read from one subject or text: more is no conversation, only noise
_MAX_LOOP_SCAN = 200_000  # characters of a text searched for our own reply quoted back
_QUOTE_MARKS = re.compile(r"(?m)^[ \t]*(?:>[ \t]?)+")
_MIN_QUOTED_LINE = 30  # a line of our reply this long, found in a mail, is our text quoted
_MAX_EXTERNAL_ID = Message.__table__.c.external_id.type.length
# Every automatic first reply (acknowledgement, 24/7 route, refusal) has a dedupe key with
# this prefix; the per-sender hourly limit counts them together.
FIRST_REPLY_PREFIX = "ack:"
__all__ = [
    "FIRST_REPLY_PREFIX",
    "ArticleFinder",
    "IntakePipeline",
    "IntakeResult",
    "acknowledgement_key",
    "choose_labels",
]


@dataclass(frozen=True)
class IntakeResult:
    ticket_number: str
    ticket_id: int
    message_id: int
    created_ticket: bool
    duplicate: bool
    acknowledged: bool
    category: str
    prediction: Prediction | None
    due: DueTimes | None
    no_ack_reason: str | None = None


def acknowledgement_key(channel: str, external_id: str) -> str:
    """The outbox dedupe key: one acknowledgement per inbound message, ever."""
    digest = hashlib.sha256(f"{channel}\0{external_id}".encode()).hexdigest()[:40]
    return f"{FIRST_REPLY_PREFIX}{digest}"


def content_digest(inbound: InboundMessage) -> str:
    """What makes two deliveries the same mail: sender, subject, text and attachments (names
    and sizes). Identical bytes give the same digest; so does one mail that came twice with
    different transport headers (a copy in each of two desk mailboxes)."""
    digest = hashlib.sha256()
    for part in (inbound.sender, inbound.subject, inbound.text):
        digest.update(part.encode("utf-8", "surrogatepass") + b"\0")
    for attachment in inbound.attachments:
        size = attachment.size or len(attachment.data)
        digest.update(f"{attachment.filename}\0{size}\0".encode("utf-8", "surrogatepass"))
    return digest.hexdigest()


def derived_external_id(external_id: str, digest: str) -> str:
    """The id a different mail under a known Message-ID is stored under: ``<id>#<digest>``."""
    suffix = "#" + digest[:12]
    return external_id[: _MAX_EXTERNAL_ID - len(suffix)] + suffix


def ticket_numbers(text: str) -> list[str]:
    """The ticket numbers written in a subject or text, upper-cased, first ones first."""
    found: dict[str, None] = {}
    for match in _TICKET_NUMBER.finditer(text):
        found.setdefault(match.group(1).upper(), None)
        if len(found) >= _MAX_NUMBERS:
            break
    return list(found)


def quotes_text(mail_text: str, ours: str) -> bool:
    """Whether ``mail_text`` quotes ``ours`` back: at least two of its longer lines (all of
    them, if it has fewer), whatever quote marks or rewrapping the quoting client added."""
    flat = " ".join(_QUOTE_MARKS.sub("", mail_text[:_MAX_LOOP_SCAN]).split())
    lines = [" ".join(line.split()) for line in ours.splitlines()]
    lines = [line for line in lines if len(line) >= _MIN_QUOTED_LINE]
    if not lines:
        return False
    return sum(line in flat for line in lines) >= min(2, len(lines))


@dataclass
class _Work:
    """One inbound message's progress through a batch."""

    triaged: Triaged
    desk: Desk
    author_kind: str = "person"
    staff_unproven: bool = False  # From names staff, but no configured evidence proves it
    duplicate_of: Message | None = None
    # Set when a different mail came under a Message-ID we know: the id it really carries
    # (its inbound.external_id is then the derived one it is stored under).
    reused_id: str | None = None
    mentions: list[str] = field(default_factory=list)  # ticket numbers it named, not joined
    same_as: _Work | None = None  # an earlier copy of the same message in this batch
    parent: _Work | None = None  # an earlier message of this batch that this one replies to
    ticket: Ticket | None = None
    message_id: int | None = None
    # Rows written in bulk once the batch's tickets have ids (see _write_rows).
    message_values: dict[str, Any] | None = None
    attachment_values: list[dict[str, Any]] = field(default_factory=list)
    suggestion_values: dict[str, Any] | None = None
    audits: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    replies: list[PendingOutbound] = field(default_factory=list)
    created_ticket: bool = False
    due: DueTimes | None = None
    no_ack_reason: str | None = None
    acknowledged: bool = False
    refused: bool = False
    client_name: str | None = None
    representatives: tuple[str, ...] = ()

    @property
    def inbound(self) -> InboundMessage:
        return self.triaged.inbound

    @property
    def prediction(self) -> Prediction:
        return self.triaged.prediction

    @cached_property
    def content_digest(self) -> str:
        return content_digest(self.inbound)

    @property
    def sender_message_id(self) -> str | None:
        """The Message-ID the sender gave (our reply threads under it), None if none."""
        if self.reused_id is not None:
            return self.reused_id
        return self.inbound.external_id if self.inbound.headers.get("Message-ID") else None

    def store_as(self, external_id: str) -> None:
        """Store this message under ``external_id`` instead of the id it carries."""
        self.reused_id = self.inbound.external_id
        inbound = dataclasses.replace(self.inbound, external_id=external_id)
        self.triaged = dataclasses.replace(self.triaged, inbound=inbound)

    @cached_property
    def referenced_ids(self) -> list[str]:
        """The ids this message names, as recorded in ``message_references``."""
        return repo.referenced_ids(self.inbound.in_reply_to, self.inbound.references)

    def audit(self, action: str, actor: str = "system", **details: Any) -> None:
        """An audit event about this message's ticket, written with the batch."""
        self.audits.append((actor, action, {k: v for k, v in details.items() if v is not None}))

    def result(self) -> IntakeResult:
        if self.same_as is not None:
            first = self.same_as.result()
            return IntakeResult(
                first.ticket_number,
                first.ticket_id,
                first.message_id,
                False,
                True,
                False,
                first.category,
                None,
                None,
                "duplicate",
            )
        if self.duplicate_of is not None:
            return _duplicate_result(self.duplicate_of)
        assert self.ticket is not None and self.message_id is not None
        return IntakeResult(
            ticket_number=self.ticket.number,
            ticket_id=self.ticket.id,
            message_id=self.message_id,
            created_ticket=self.created_ticket,
            duplicate=False,
            acknowledged=self.acknowledged,
            category=self.ticket.category,
            prediction=self.prediction,
            due=self.due,
            no_ack_reason=self.no_ack_reason,
        )


def _same_mail(stored: Message, work: _Work) -> bool:
    """Whether a stored message is this very mail again (a redelivery or a second copy)."""
    if stored.content_digest is not None:
        return stored.content_digest == work.content_digest
    # Stored before digests were kept: the same bytes, or what the digest is made of.
    inbound = work.inbound
    if stored.raw is not None and stored.raw == inbound.raw:
        return True
    return (stored.sender, stored.subject, stored.text) == (
        inbound.sender,
        inbound.subject,
        inbound.text,
    )


def _sender_key(inbound: InboundMessage) -> str:
    """The sender as the per-sender limit counts it (a plus-address as its base address)."""
    return recipient_key(inbound.channel, inbound.sender)


@dataclass
class _ReplyBudget:
    """Automatic first replies sent, as the limits count them: per sender (by base address)
    in the last hour, per desk in the last minute and the last hour."""

    per_sender: Counter[str]
    desk_minute: Counter[str]
    desk_hour: Counter[str]
    held: dict[str, list[_Work]] = field(default_factory=dict)  # desk: over its limits

    def spend(self, work: _Work) -> None:
        self.per_sender[_sender_key(work.inbound)] += 1
        self.desk_minute[work.desk.name] += 1
        self.desk_hour[work.desk.name] += 1

    def desk_limit(self, work: _Work, rules: EmailConfig) -> str | None:
        """Why the desk may send no more automatic replies now, or None."""
        desk = work.desk.name
        per_minute = rules.automatic_replies_per_desk_per_minute
        if self.desk_minute[desk] >= per_minute:
            return f"desk-wide limit of {per_minute} automatic replies per minute reached"
        per_hour = rules.automatic_replies_per_desk_per_hour
        if self.desk_hour[desk] >= per_hour:
            return f"desk-wide limit of {per_hour} automatic replies per hour reached"
        return None


def _duplicate_result(existing: Message) -> IntakeResult:
    return IntakeResult(
        existing.ticket.number,
        existing.ticket_id,
        existing.id,
        False,
        True,
        False,
        existing.ticket.category,
        None,
        None,
        "duplicate",
    )


class IntakePipeline:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        desks: Desks,
        classifier: Classifier,
        renderer: TemplateRenderer,
        sender_name: str = "Triage Desk",
        rules: EmailConfig | None = None,
        now: Clock = system_clock,
        assistant: ArticleFinder | None = None,
        semantic_stage: str = "deferred",
    ) -> None:
        self.sessions = sessions
        self.semantic_stage = semantic_stage  # see ServiceConfig.semantic_stage
        self.desks = desks
        self.renderer = renderer
        self.sender_name = sender_name
        self.rules = rules or EmailConfig()
        self.now = now
        self.triage = MessageTriage(
            desks, classifier, assistant, semantic_stage, self.rules, clock=now
        )
        self._own_addresses = desks.all_addresses()
        # The desks' staff notice mailboxes: never answered (they would answer back).
        self._staff_mailboxes = {
            desk.config.staff_address.strip().lower()
            for desk in desks.by_name.values()
            if desk.config.staff_address
        }

    # ------------------------------------------------------------------ entry points

    def process(self, inbound: InboundMessage) -> IntakeResult:
        return self.process_many([inbound])[0]

    def process_many(self, inbounds: Sequence[InboundMessage]) -> list[IntakeResult]:
        return self.store(self.triage.triage(inbounds))

    def store(self, triaged: Sequence[Triaged], *, again: bool = False) -> list[IntakeResult]:
        """Store triaged messages in one transaction (``MessageTriage.triage`` made them)."""
        if not triaged:
            return []
        works = [self._work(item) for item in triaged]
        try:
            with self.sessions.begin() as session:
                self._store(session, works)
                session.flush()
                return [work.result() for work in works]
        except IntegrityError:
            # Another worker stored one of these between our check and our insert: one by
            # one, each sees what is stored now (the same mail: a duplicate; a different one
            # under the same Message-ID: stored under a derived id). Never dropped.
            if len(triaged) > 1:
                return [self.store([item])[0] for item in triaged]
            if again:
                raise
            return self.store(triaged, again=True)

    # ------------------------------------------------------------------ steps

    def _work(self, item: Triaged) -> _Work:
        inbound = item.inbound
        work = _Work(item, self.desks[inbound.desk])
        if inbound.bounce is not None or inbound.no_reply_reason:
            work.author_kind = "robot"
        elif inbound.channel == "email" and self.rules.is_staff(inbound.sender):
            if self._proven_staff(inbound):
                work.author_kind = "staff"
            else:
                work.staff_unproven = True
        return work

    def _proven_staff(self, inbound: InboundMessage) -> bool:
        """A From header is no proof: a trusted server's DKIM or SPF pass for the address's
        domain is (``email.trusted_authserv_ids``)."""
        domains = authenticated_domains(
            inbound.authentication_results, self.rules.trusted_authserv_ids
        )
        return proves_address(domains, inbound.sender)

    def _store(self, session: Session, works: list[_Work]) -> None:
        self._find_duplicates(session, works)
        fresh = [w for w in works if w.duplicate_of is None and w.same_as is None]
        earlier: dict[str, _Work] = {}
        named_by: dict[str, _Work] = {}  # ids that earlier works of the batch refer to
        self._thread(session, fresh)
        for work in fresh:
            if work.ticket is None:
                # A reply to a mail that arrived in this same batch joins that mail's ticket,
                # and so does an original whose reply came earlier in the batch.
                ids = (work.inbound.in_reply_to, *work.inbound.references)
                work.parent = next((earlier[i] for i in ids if i and i in earlier), None)
                if work.parent is None:
                    work.parent = named_by.get(work.inbound.external_id)
            earlier[work.inbound.external_id] = work
            for named in work.referenced_ids:
                named_by.setdefault(named, work)
        budget = self._reply_budget(session, fresh)
        requesters = self._requesters(session, fresh)
        new = [w for w in fresh if w.ticket is None and w.parent is None]
        positions = self._standings(session, new)
        self._open_tickets(session, new, requesters, positions)
        # New tickets are plain objects inserted in one statement (the ORM's unit of work
        # cost more than the rest of the batch); what changes on them later is updated.
        created = [w.ticket for w in new if w.ticket is not None]
        repo.insert_tickets(session, created)
        as_inserted = [(t.status, t.first_response_at) for t in created]
        for work in fresh:
            if work.ticket is None and work.parent is not None:
                work.ticket = work.parent.ticket  # parents come first, so theirs is set
            assert work.ticket is not None
            self._message(work)
            if work.created_ticket:
                self._suggest(work)
            else:
                self._follow_up(work)
            if work.inbound.bounce is not None:
                self._record_bounce(session, work, requesters)
            self._flag(work)
            address = requesters[(work.inbound.channel, work.inbound.sender)]
            work.no_ack_reason = self._no_ack_reason(session, work, address, budget)
            if work.no_ack_reason is None:
                self._queue_first_reply(session, work)
                budget.spend(work)
            elif work.created_ticket:
                work.audit("no_acknowledgement", reason=work.no_ack_reason)
        self._alert_held(session, budget)
        repo.update_tickets(
            session,
            [
                t
                for t, before in zip(created, as_inserted, strict=True)
                if (t.status, t.first_response_at) != before
            ],
            ("status", "first_response_at"),
        )
        self._write_rows(session, fresh)

    @staticmethod
    def _write_rows(session: Session, works: list[_Work]) -> None:
        """Everything the batch adds besides tickets and requesters, one INSERT per table.

        The ORM's unit of work costs far more per object than the database does per row;
        these rows are only ever inserted here, so they go in as plain values, in the
        order their foreign keys need: messages, attachments, suggestions, replies, audit.
        """
        if not works:
            return
        # Every work here has its ticket and message values (set in _store's loop).
        messages = Message.__table__
        message_ids = session.scalars(
            insert(messages).returning(messages.c.id, sort_by_parameter_order=True),
            [{**w.message_values, "ticket_id": w.ticket.id} for w in works],
        ).all()
        for work, message_id in zip(works, message_ids, strict=True):
            work.message_id = message_id
        references = [
            {"message_id": w.message_id, "referenced_id": i, "channel": w.inbound.channel}
            for w in works
            for i in w.referenced_ids
        ]
        if references:
            session.execute(insert(MessageReference.__table__), references)
        attachments = [
            {**a, "message_id": w.message_id} for w in works for a in w.attachment_values
        ]
        if attachments:
            session.execute(insert(StoredAttachment.__table__), attachments)
        suggestions = [
            {**w.suggestion_values, "ticket_id": w.ticket.id, "message_id": w.message_id}
            for w in works
            if w.suggestion_values is not None
        ]
        if suggestions:
            session.execute(insert(Suggestion.__table__), suggestions)
        write_outbound(session, [reply for w in works for reply in w.replies])
        events = [
            {
                "actor": actor,
                "action": action,
                "details": details,
                "ticket_id": w.ticket.id if w.ticket is not None else None,
            }
            for w in works
            for actor, action, details in w.audits
        ]
        if events:
            session.execute(insert(AuditEvent.__table__), events)

    def _find_duplicates(self, session: Session, works: list[_Work]) -> None:
        """The same mail again (same bytes, or the same content delivered twice) is a
        duplicate; a different mail under a Message-ID we know (broken mailers send
        ``<1@localhost>`` every time, an attacker can pre-empt an id) is stored under a
        derived id, ``<id>#<digest>``, and flagged: never dropped."""
        by_channel: dict[str, set[str]] = {}
        for work in works:
            ids = by_channel.setdefault(work.inbound.channel, set())
            ids.add(work.inbound.external_id)
            ids.add(derived_external_id(work.inbound.external_id, work.content_digest))
        stored: dict[tuple[str, str], Message] = {}
        for channel, ids in by_channel.items():
            # Usually none: the messages themselves are loaded only when some are stored.
            known = repo.stored_external_ids(session, channel, sorted(ids))
            if known:
                stored.update(
                    ((channel, external_id), message)
                    for external_id, message in repo.find_messages(
                        session, channel, sorted(known)
                    ).items()
                )
        first: dict[tuple[str, str], _Work] = {}
        for work in works:
            channel, external_id = work.inbound.channel, work.inbound.external_id
            derived = derived_external_id(external_id, work.content_digest)
            known = stored.get((channel, external_id))
            if known is not None and _same_mail(known, work):
                work.duplicate_of = known
            elif (channel, derived) in stored:  # this different mail came before
                work.duplicate_of = stored[(channel, derived)]
            elif (channel, derived) in first:  # twice in this batch, under the derived id
                work.same_as = first[(channel, derived)]
            elif (channel, external_id) not in first and known is None:
                first[(channel, external_id)] = work
            elif (earlier := first.get((channel, external_id))) is not None and (
                earlier.content_digest == work.content_digest
            ):
                work.same_as = earlier
            else:
                log.warning(
                    "a different mail from %s reuses Message-ID <%s>; stored as <%s>",
                    work.inbound.sender,
                    external_id,
                    derived,
                )
                work.store_as(derived)
                first[(channel, derived)] = work

    def _thread(self, session: Session, works: Sequence[_Work]) -> None:
        """The ticket each message continues: bounce original, reply headers, subject number,
        and last a stored message that names this one (its reply, stored first).

        One query per channel for the whole batch; the subject number only where the
        headers found nothing.
        """
        by_channel: dict[str, list[_Work]] = {}
        for work in works:
            by_channel.setdefault(work.inbound.channel, []).append(work)
        for channel, group in by_channel.items():
            id_lists = []
            for work in group:
                inbound = work.inbound
                ids = list(inbound.bounce.original_message_ids) if inbound.bounce else []
                ids.extend(i for i in (inbound.in_reply_to, *inbound.references) if i)
                id_lists.append(ids)
            for work, ticket in zip(
                group, repo.tickets_for_message_ids(session, channel, id_lists), strict=True
            ):
                work.ticket = ticket or self._ticket_in_subject(session, work)
            # An original stored after a reply to it joins the reply's ticket.
            orphans = [w for w in group if w.ticket is None]
            later = repo.tickets_referencing(
                session, channel, [w.inbound.external_id for w in orphans]
            )
            for work in orphans:
                work.ticket = later.get(work.inbound.external_id)

    def _ticket_in_subject(self, session: Session, work: _Work) -> Ticket | None:
        """The ticket a number in the subject names, for its participants on its own desk.

        Numbers are sequential, so anyone can guess one: a mail from someone who takes no part
        in that ticket opens its own ticket, which staff see "mentions" the other (and the
        sender is told nothing about it, not even that it exists).
        """
        for number in ticket_numbers(work.inbound.subject):
            ticket = repo.ticket_by_number(session, number)
            if ticket is None:
                continue
            if ticket.desk == work.desk.name and self._takes_part(session, work, ticket):
                return ticket
            log.info(
                "a mail from %s names ticket %s but takes no part in it: not joined",
                work.inbound.sender,
                number,
            )
            work.mentions.append(number)
        return None

    def _takes_part(self, session: Session, work: _Work, ticket: Ticket) -> bool:
        """Its requester, anyone on its thread, or staff (proven, see ``_proven_staff``).

        Our own addresses are on every thread (To of each mail, sender of each reply), so a
        mail claiming one of them takes part in none.
        """
        if work.author_kind == "staff":
            return True
        if self._own_mailbox(work.inbound):
            return False
        return work.inbound.sender in repo.ticket_participants(
            session, ticket, work.inbound.channel
        )

    def _requesters(
        self, session: Session, works: list[_Work]
    ) -> dict[tuple[str, str], repo.SenderRow]:
        """Each sender's address row; new senders get a requester, all in one go."""
        senders: dict[str, list[InboundMessage]] = {}
        for work in works:
            senders.setdefault(work.inbound.channel, []).append(work.inbound)
        rows: dict[tuple[str, str], repo.SenderRow] = {}
        for channel, inbounds in senders.items():
            known = repo.sender_rows(session, channel, [i.sender for i in inbounds])
            new: dict[str, str | None] = {}
            names: dict[int, str] = {}
            for inbound in inbounds:
                row = known.get(inbound.sender)
                if row is None:
                    new.setdefault(inbound.sender, inbound.sender_name)
                elif inbound.sender_name and not row.display_name:
                    row.display_name = names[row.requester_id] = inbound.sender_name
            known.update(repo.insert_senders(session, channel, new))
            repo.name_requesters(session, names)
            rows.update(((channel, address), row) for address, row in known.items())
        return rows

    @staticmethod
    def _standings(session: Session, works: list[_Work]) -> dict[tuple[str, str, str], Standing]:
        """Who each new ticket's sender is (client, representative), one lookup per desk."""
        groups: dict[tuple[str, str], set[str]] = {}
        for work in works:
            groups.setdefault((work.desk.name, work.inbound.channel), set()).add(
                work.inbound.sender
            )
        return {
            (desk, channel, address): position
            for (desk, channel), addresses in groups.items()
            for address, position in standings(session, desk, channel, addresses).items()
        }

    def _open_tickets(
        self,
        session: Session,
        works: list[_Work],
        requesters: dict[tuple[str, str], repo.SenderRow],
        positions: dict[tuple[str, str, str], Standing],
    ) -> None:
        """New tickets, numbered in one counter update per desk and year."""
        groups: dict[tuple[str, int], list[_Work]] = {}
        for work in works:
            year = work.inbound.received_at.astimezone(work.desk.calendar.zone).year
            groups.setdefault((work.desk.name, year), []).append(work)
        for (desk_name, year), group in groups.items():
            prefix = self.desks[desk_name].config.ticket_prefix
            numbers = repo.allocate_ticket_numbers(session, desk_name, prefix, year, len(group))
            for work, number in zip(group, numbers, strict=True):
                position = positions[(work.desk.name, work.inbound.channel, work.inbound.sender)]
                self._open_ticket(session, work, number, requesters, position)

    def _open_ticket(
        self,
        session: Session,
        work: _Work,
        number: str,
        requesters: dict[tuple[str, str], repo.SenderRow],
        position: Standing,
    ) -> None:
        inbound, desk, prediction = work.inbound, work.desk, work.prediction
        category, feedback = work.triaged.category, work.triaged.feedback_type
        rules = desk.config.categories[category]
        work.due = work.triaged.due
        work.ticket = Ticket(  # never added to the session: repo.insert_tickets inserts it
            number=number,
            desk=desk.name,
            requester_id=requesters[(inbound.channel, inbound.sender)].requester_id,
            client_id=None,
            channel=inbound.channel,
            subject=inbound.subject,
            language=prediction.language,
            status=TicketStatus.QUEUED
            if work.due.clock_start > inbound.received_at
            else TicketStatus.OPEN,
            category=category,
            feedback_type=feedback,
            category_confirmed=prediction.auto_accept and category == prediction.category,
            urgent=rules.urgent,
            received_at=inbound.received_at,
            clock_start=work.due.clock_start,
            response_due=work.due.response_due,
            resolution_due=work.due.resolution_due,
            first_response_at=None,
        )
        if work.author_kind == "robot":
            work.due = set_apart_as_robot(work.ticket)
        work.created_ticket = True
        self._check_rights(session, work, category, position)

    def _message(self, work: _Work) -> None:
        inbound = work.inbound
        work.message_values = {
            "direction": Direction.INBOUND,
            "channel": inbound.channel,
            "external_id": inbound.external_id,
            "in_reply_to": inbound.in_reply_to,
            "references": list(inbound.references),
            "sender": inbound.sender,
            "sender_name": inbound.sender_name,
            "recipients": list(inbound.recipients),
            "subject": inbound.subject,
            "text": inbound.text,
            "new_text": inbound.new_text,
            "headers": inbound.headers,
            "raw": inbound.raw,
            "language": work.prediction.language,
            "received_at": inbound.received_at,
            "author_kind": work.author_kind,
            "content_digest": work.content_digest,
        }
        work.attachment_values = [
            {
                "filename": attachment.filename,
                "content_type": attachment.content_type,
                "content_id": attachment.content_id,
                "inline": attachment.inline,
                "size": attachment.size or len(attachment.data),
                "md5": hashlib.md5(attachment.data, usedforsecurity=False).hexdigest(),
                "data": None if attachment.dropped_reason else attachment.data,
                "dropped_reason": attachment.dropped_reason,
            }
            for attachment in inbound.attachments
        ]

    def _suggest(self, work: _Work) -> None:
        prediction = work.prediction
        work.suggestion_values = {
            **prediction.suggestion_fields(),
            "needs_refinement": (prediction.needs_refinement and self.semantic_stage == "deferred"),
        }
        assert work.ticket is not None
        work.audit(
            "ticket_created",
            category=work.ticket.category,
            confidence=prediction.confidence,
            status=work.ticket.status,
            author=work.author_kind,
        )

    def _follow_up(self, work: _Work) -> None:
        ticket = work.ticket
        assert ticket is not None
        if work.author_kind == "staff":
            # A staff member answered from their own mail client: that is the response.
            if ticket.first_response_at is None:
                ticket.first_response_at = work.inbound.received_at
            if ticket.status in (TicketStatus.OPEN, TicketStatus.QUEUED):
                ticket.status = TicketStatus.ANSWERED
        elif work.author_kind == "person" and ticket.status == TicketStatus.RESOLVED:
            desk = self.desks[ticket.desk]
            work.audit("reopened", **reopen(ticket, desk, work.inbound.received_at))
        work.audit("follow_up", author=work.author_kind, external_id=work.inbound.external_id)

    def _record_bounce(
        self, session: Session, work: _Work, senders: dict[tuple[str, str], repo.SenderRow]
    ) -> None:
        """A bounce marks an address undeliverable only when it is about mail we sent to that
        address (its Message-ID is one of our outbound messages'): anyone can write a bounce,
        but only the recipient's server sees the Message-ID of our mail to them."""
        bounce, channel = work.inbound.bounce, work.inbound.channel
        assert bounce is not None
        ours = repo.sent_mails(session, channel, bounce.original_message_ids)
        marked, unproven = [], []
        for address in (a.lower() for a in bounce.failed_addresses if bounce.permanent):
            sent = next((m for m in ours if address in m.recipients), None)
            if sent is None:
                unproven.append(address)
                continue
            status = bounce.status or "no status code"
            reason = f"permanent bounce ({status}) of our mail on {sent.ticket_number}"
            if repo.mark_undeliverable(session, channel, address, reason, self.now()):
                marked.append(address)
                # A later mail of this batch from that address gets no acknowledgement.
                row = senders.get((channel, address))
                if row is not None:
                    row.undeliverable = True
        if unproven:
            log.warning(
                "a bounce from %s names %s, but no mail we sent to them: not marked undeliverable",
                work.inbound.sender,
                ", ".join(unproven),
            )
        work.audit(
            "bounce",
            permanent=bounce.permanent,
            addresses=list(bounce.failed_addresses),
            status=bounce.status,
            marked=marked,
            not_ours=unproven or None,
        )
        staff = work.desk.config.staff_address
        if staff and work.ticket is not None:
            for address in marked:
                self._notify_undeliverable(session, work, address, staff)

    def _notify_undeliverable(
        self, session: Session, work: _Work, address: str, staff: str
    ) -> None:
        """Tell staff in our own words: the address, the status code, the tickets. Nothing of
        the bounce's free text (it is whatever its sender wrote: a link, a lure)."""
        desk, ticket, bounce = work.desk, work.ticket, work.inbound.bounce
        assert ticket is not None and bounce is not None
        language = desk.config.default_language
        context = {
            **base_context(desk, ticket, language),
            "address": address,
            "status_code": bounce.status,
            "affected_ticket_numbers": repo.open_ticket_numbers_for(session, [address]),
        }
        rendered = self.renderer.render("undeliverable_notice", desk.name, language, context)
        work.replies.append(
            prepare_outbound(
                desk=desk,
                ticket=ticket,
                kind="undeliverable_notice",
                rendered=rendered,
                recipient=staff,
                channel="email",
                key=dedupe_key(
                    "undeliverable", work.inbound.channel, work.inbound.external_id, address
                ),
                now=self.now(),
                sender_name=self.sender_name,
            )
        )

    def _flag(self, work: _Work) -> None:
        """What staff should know about where a message came from, on its ticket."""
        if work.reused_id is not None:
            work.audit(
                "message_id_reused",
                message_id=work.reused_id,
                stored_as=work.inbound.external_id,
            )
        if work.mentions:
            work.audit("mentions", tickets=work.mentions)
        if work.staff_unproven:
            work.audit("staff_claim_unproven", sender=work.inbound.sender)

    # ------------------------------------------------------------------ the reply decision

    def _reply_budget(self, session: Session, works: list[_Work]) -> _ReplyBudget:
        """What the limits have counted so far, before this batch adds anything."""
        now = self.now()
        hour_ago, minute_ago = now - dt.timedelta(hours=1), now - dt.timedelta(minutes=1)
        senders = {_sender_key(w.inbound) for w in works}
        desks = {w.desk.name: w.desk.address for w in works}
        return _ReplyBudget(
            per_sender=Counter(
                repo.replies_by_recipient(session, senders, FIRST_REPLY_PREFIX, hour_ago)
            ),
            desk_minute=Counter(
                {
                    name: repo.replies_from(session, address, FIRST_REPLY_PREFIX, minute_ago)
                    for name, address in desks.items()
                }
            ),
            desk_hour=Counter(
                {
                    name: repo.replies_from(session, address, FIRST_REPLY_PREFIX, hour_ago)
                    for name, address in desks.items()
                }
            ),
        )

    def _no_ack_reason(
        self,
        session: Session,
        work: _Work,
        address: repo.SenderRow,
        budget: _ReplyBudget,
    ) -> str | None:
        """Why this message gets no automatic first reply, or None when it gets one.

        In this order: what it is (a follow-up, a robot, a bounce, staff, one of our own
        mailboxes); whether a reply would reach a person (undeliverable, old mail, a robot
        quoting our reply back); then the limits: per sender, which the 24/7 route and
        urgent acknowledgements skip, and desk-wide, which holds every reply (a held urgent
        one alerts staff at once, the others once an hour).
        """
        inbound = work.inbound
        if not work.created_ticket:
            return "follow-up to an open ticket"
        if inbound.no_reply_reason:
            return inbound.no_reply_reason
        if inbound.bounce is not None:
            return "bounce"
        if work.author_kind == "staff":
            return "sender is staff"
        own = self._own_mailbox(inbound)
        if own:
            return own
        if inbound.channel == "email" and "@" not in inbound.sender:
            return "no address to reply to"
        if address.undeliverable:
            return "address is known to be undeliverable"
        max_age = dt.timedelta(hours=self.rules.acknowledge_max_age_hours)
        if self.now() - inbound.received_at > max_age:
            return f"received more than {self.rules.acknowledge_max_age_hours:g} h ago"
        if self._quotes_our_reply(session, work):
            return "quotes our own automatic reply back (a mail loop)"
        limit = self.rules.acknowledgements_per_sender_per_hour
        if not self._urgent(work) and budget.per_sender[_sender_key(inbound)] >= limit:
            return f"limit of {limit} acknowledgements per sender per hour reached"
        over = budget.desk_limit(work, self.rules)
        if over:
            budget.held.setdefault(work.desk.name, []).append(work)
        return over

    def _own_mailbox(self, inbound: InboundMessage) -> str | None:
        """Our own addresses, also with a plus part (``atbalsts+x@``), and the staff notice
        mailboxes: answering them would make the desk answer itself."""
        if not inbound.sender:
            return "sender is one of our own addresses"
        addresses = {inbound.sender, _sender_key(inbound)}
        if addresses & self._own_addresses:
            return "sender is one of our own addresses"
        if addresses & self._staff_mailboxes:
            return "sender is a desk's staff notice mailbox"
        return None

    @staticmethod
    def _urgent(work: _Work) -> bool:
        """Its first reply is the 24/7 route or an urgent (emergency) acknowledgement."""
        assert work.ticket is not None
        rules = work.desk.config.categories[work.ticket.category]
        return not work.refused and bool(
            rules.reply_template or rules.urgent or rules.around_the_clock
        )

    @staticmethod
    def _quotes_our_reply(session: Session, work: _Work) -> bool:
        """A robot that strips every header answers our acknowledgement with a new mail:
        one from the address we sent a ticket's first reply to that quotes that reply back
        gets no second one (the loop stops after one round trip)."""
        inbound = work.inbound
        numbers = ticket_numbers(inbound.text[:_MAX_LOOP_SCAN])
        if not numbers:
            return False
        ours = repo.first_replies_to(session, numbers, _sender_key(inbound), FIRST_REPLY_PREFIX)
        return any(quotes_text(inbound.text, text) for text in ours)

    def _alert_held(self, session: Session, budget: _ReplyBudget) -> None:
        """Staff learn of first replies the desk-wide limits held: of an urgent one at once,
        of the others once per desk and clock hour (a flood must not flood them too)."""
        now = self.now()
        for desk_name, held in budget.held.items():
            desk = self.desks[desk_name]
            urgent = [w for w in held if self._urgent(w)]
            ordinary = [w for w in held if not self._urgent(w)]
            log.warning(
                "desk %s: automatic replies held by the desk-wide limits: %s",
                desk_name,
                ", ".join(w.ticket.number for w in held if w.ticket is not None),
            )
            for work in urgent:
                key = dedupe_key("held-urgent", work.inbound.channel, work.inbound.external_id)
                self._alert_staff(desk, [work], key, urgent=True)
            if ordinary:
                hour = now.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)
                key = dedupe_key("reply-limit", desk_name, hour.isoformat())
                if not repo.outbox_keys_present(session, [key]):
                    self._alert_staff(desk, ordinary, key, urgent=False)

    def _alert_staff(self, desk: Desk, held: list[_Work], key: str, *, urgent: bool) -> None:
        staff = desk.config.staff_address
        first = held[0]
        assert first.ticket is not None
        if not staff:
            log.error(
                "desk %s has no staff_address: nobody is told that %s got no automatic reply",
                desk.name,
                first.ticket.number,
            )
            return
        language = desk.config.default_language
        context = {
            **base_context(desk, first.ticket, language),
            "held_ticket_numbers": [w.ticket.number for w in held if w.ticket is not None],
            "urgent": urgent,
            "category_label": desk.category_label(first.ticket.category, language),
            "limit_per_minute": self.rules.automatic_replies_per_desk_per_minute,
            "limit_per_hour": self.rules.automatic_replies_per_desk_per_hour,
        }
        rendered = self.renderer.render("reply_limit_notice", desk.name, language, context)
        first.replies.append(
            prepare_outbound(
                desk=desk,
                ticket=first.ticket,
                kind="reply_limit_notice",
                rendered=rendered,
                recipient=staff,
                channel="email",
                key=key,
                now=self.now(),
                sender_name=self.sender_name,
            )
        )

    def _check_rights(
        self, session: Session, work: _Work, category: str, position: Standing
    ) -> None:
        """Terms clause 28: some categories only from a client's designated representative."""
        ticket, desk = work.ticket, work.desk
        assert ticket is not None
        ticket.client_id = position.client.id if position.client else None
        if desk.config.categories[category].submitted_by != "representative":
            return
        if position.is_representative or work.author_kind != "person":
            return
        prediction = work.prediction
        sure = not prediction.needs_refinement and (
            prediction.auto_accept
            or prediction.category_confidence >= desk.config.refusal_min_confidence
        )
        if not sure:
            # Refusing on a guess would turn away an error report; staff decide instead.
            work.audit(
                "rights_unclear", category=category, confidence=work.prediction.category_confidence
            )
            return
        ticket.status = TicketStatus.REFUSED
        work.refused = True
        work.client_name = position.client.name if position.client else None
        work.representatives = tuple(representatives_of(position.client) if position.client else ())
        work.audit(
            "refused",
            category=category,
            reason="not a designated representative",
            client=work.client_name,
        )

    def _articles(self, work: _Work) -> tuple[ArticleSuggestion, ...]:
        """The acknowledgement's suggestions: looked up by triage, or now if it did not."""
        triaged = work.triaged
        if triaged.articles is not None:
            return triaged.articles
        return self.triage.articles(
            triaged.inbound, work.desk, triaged.category, triaged.prediction.language, triaged.due
        )

    def _queue_first_reply(self, session: Session, work: _Work) -> None:
        """Refusal, 24/7 route or acknowledgement: exactly one, in this transaction."""
        inbound, desk, ticket = work.inbound, work.desk, work.ticket
        assert ticket is not None and work.due is not None
        route = desk.config.categories[ticket.category].reply_template
        if work.refused:
            kind = "refusal"
            context = refusal_context(desk, ticket, work.client_name, work.representatives)
        elif route:
            kind = route
            context = urgent_route_context(desk, ticket, inbound.received_at)
        else:
            kind = "acknowledgement"
            context = acknowledgement_context(
                desk, ticket, work.due, inbound.received_at, self._articles(work)
            )
        rendered = self.renderer.render(kind, desk.name, ticket.language, context)
        # Thread under the person's Message-ID only when they sent one (not our fingerprint).
        replied_to = work.sender_message_id
        work.replies.append(
            prepare_outbound(
                desk=desk,
                ticket=ticket,
                kind=kind,
                rendered=rendered,
                recipient=inbound.sender,
                channel=inbound.channel,
                key=acknowledgement_key(inbound.channel, inbound.external_id),
                now=self.now(),
                sender_name=self.sender_name,
                in_reply_to=replied_to,
                references=inbound.references,
            )
        )
        work.acknowledged = True
