"""What staff do: confirm or change a ticket's category, reply, resolve, reopen; requeue a
dead outbox item; release or discard quarantined mail; lift an undeliverable mark.

Every front end (the command line, the web console, the Telegram bot) calls these. Each
action records who did it and why in the audit log, and queues the message it owes the
person (terms clause 33: a changed category is explained; standard IV: a resolved request
invites feedback) in the same transaction. "Now" is the injected clock's. Refusals are typed
(``errors``), never worded for one front end.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Mapping
from typing import Protocol

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from triage_desk.clock import Clock, system_clock
from triage_desk.desk_service.errors import Conflict, InvalidInput, NotAllowed, NotFound
from triage_desk.desk_service.queries import normalise_number
from triage_desk.desk_service.results import ActionResult
from triage_desk.desks import Desk, Desks
from triage_desk.intake.lifecycle import record_first_response, reopen
from triage_desk.responders.acknowledgement import refusal_withdrawn_context
from triage_desk.responders.outbox import (
    base_context,
    dedupe_key,
    last_inbound,
    local_text,
    queue_outbound,
)
from triage_desk.responders.render import TemplateRenderer
from triage_desk.responders.webhooks import DECIDED, RESOLVED, Webhooks
from triage_desk.sla import due_times
from triage_desk.storage import repositories as repo
from triage_desk.storage import sla_legs
from triage_desk.storage.models import (
    AuditEvent,
    Decision,
    Message,
    OutboxItem,
    OutboxStatus,
    QuarantinedMail,
    QuarantineStatus,
    StaffUser,
    Ticket,
    TicketNote,
    TicketStatus,
)

MAX_NOTE_CHARS = 10_000


class ReprocessOutcome(Protocol):
    """What processing a quarantined mail again gave (``intake.quarantine.RetryResult``)."""

    @property
    def released(self) -> bool: ...

    @property
    def ticket_number(self) -> str | None: ...

    @property
    def reason(self) -> str | None: ...  # why it is still held


# Process quarantined mail #id again, with an optional time limit in seconds. The application
# provides it (it owns the intake machinery); it marks the row released or still held.
Reprocess = Callable[[int, float | None], ReprocessOutcome]


def _audit(
    session: Session,
    actor: str,
    action: str,
    at: dt.datetime,
    ticket: Ticket | None = None,
    **details: object,
) -> None:
    session.add(
        AuditEvent(
            at=at,
            actor=actor,
            action=action,
            ticket_id=ticket.id if ticket is not None else None,
            details={k: v for k, v in details.items() if v is not None},
        )
    )


def _who(staff: str) -> str:
    if not staff or not staff.strip():
        raise InvalidInput("staff", "say who is acting: it is recorded with the action")
    return staff.strip()


def _why(reason: str | None) -> str | None:
    return reason.strip() if reason and reason.strip() else None


class StaffActions:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        desks: Desks,
        renderer: TemplateRenderer,
        sender_name: str = "Triage Desk",
        clock: Clock = system_clock,
        staff_names: Mapping[str, str] | None = None,
        reprocess: Reprocess | None = None,
        webhooks: Webhooks | None = None,
    ) -> None:
        self.clock = clock
        # Events for outgoing webhooks, queued in each action's own transaction.
        self.webhooks = webhooks or Webhooks()
        self.sessions = sessions
        self.desks = desks
        self.renderer = renderer
        self.sender_name = sender_name
        # Login → the name a customer may see under a reply (outbound.staff_names).
        self.staff_names = dict(staff_names or {})
        self.reprocess = reprocess

    # ------------------------------------------------------------------ helpers

    def _ticket(self, session: Session, number: str) -> tuple[Ticket, Desk]:
        ticket = repo.ticket_by_number(session, normalise_number(number))
        if ticket is None:
            raise NotFound("ticket", number)
        desk = self.desks.by_name.get(ticket.desk)
        if desk is None:
            raise NotAllowed(
                f"{ticket.number} belongs to desk {ticket.desk!r}, which is not configured",
                code="unknown_desk",
            )
        return ticket, desk

    def _signature(self, staff: str) -> str | None:
        """The name signed under mail to a customer: the configured display name, or none
        (the desk's name alone). Never the login, which is an internal account name."""
        return self.staff_names.get(staff.strip())

    @staticmethod
    def _recipient(ticket: Ticket, force: bool) -> str:
        addresses = [a for a in ticket.requester.addresses if a.channel == ticket.channel]
        if not addresses:
            raise NotAllowed(
                f"{ticket.number}: the requester has no {ticket.channel} address",
                code="no_address",
            )
        address = addresses[0]
        if ticket.channel == "email" and "@" not in address.address:
            raise NotAllowed(
                f"{ticket.number}: the mail gave no address to write to "
                f"({address.address!r}); contact the person another way",
                code="no_address",
            )
        if address.undeliverable and not force:
            where = (
                f"mail to {address.address} bounces"
                if ticket.channel == "email"
                else f"the {ticket.channel.capitalize()} chat {address.address} cannot be reached"
            )
            raise NotAllowed(
                f"{ticket.number}: {where} ({address.undeliverable_reason}); contact the "
                "person another way",
                code="undeliverable",
            )
        return address.address

    def _send(
        self,
        session: Session,
        desk: Desk,
        ticket: Ticket,
        kind: str,
        context: dict,
        key: str,
        now: dt.datetime,
        force: bool = False,
        written_by_person: bool = False,
    ) -> None:
        rendered = self.renderer.render(kind, desk.name, ticket.language, context)
        previous = last_inbound(ticket)
        queue_outbound(
            session,
            desk=desk,
            ticket=ticket,
            kind=kind,
            rendered=rendered,
            recipient=self._recipient(ticket, force),
            channel=ticket.channel,
            key=key,
            now=now,
            sender_name=self.sender_name,
            in_reply_to=_answerable_id(previous),
            references=tuple(previous.references) if previous else (),
            automatic=not written_by_person,
        )

    # ------------------------------------------------------------------ ticket actions

    def confirm(
        self, number: str, staff: str, reason: str | None = None, override: bool = True
    ) -> ActionResult:
        """Staff agree with the category. On a refused ticket this overrides the refusal,
        unless ``override`` is False (then a refused ticket is refused: ``NotAllowed``)."""
        staff, reason, now = _who(staff), _why(reason), self.clock()
        with self.sessions.begin() as session:
            ticket, desk = self._ticket(session, number)
            if ticket.status == TicketStatus.REFUSED and not override:
                raise NotAllowed(
                    f"{ticket.number} was refused: confirming it overrides the refusal",
                    code="needs_override",
                )
            session.add(
                Decision(
                    ticket=ticket,
                    field="category",
                    from_value=ticket.category,
                    to_value=ticket.category,
                    staff=staff,
                    reason=reason,
                    created_at=now,
                )
            )
            ticket.category_confirmed = True
            _audit(
                session,
                staff,
                "category_confirmed",
                now,
                ticket,
                category=ticket.category,
                reason=reason,
            )
            decided = _decided("category", ticket.category, staff, reason)
            self.webhooks.enqueue(session, DECIDED, ticket, now, **decided)
            if ticket.status != TicketStatus.REFUSED:
                return ActionResult(
                    ticket.number,
                    ticket.status,
                    f"{ticket.number}: category {ticket.category} confirmed",
                )
            # Override: the request is accepted after all, with its original due times.
            ticket.status = _waiting_status(ticket, now)
            sla_legs.sync(session, [ticket], now)  # a case now: its legs are written
            due = due_times(
                desk.calendar, desk.config.categories[ticket.category], ticket.received_at
            )
            # Not the acknowledgement: that would call the category provisional and say the
            # mail arrived out of hours; the person must hear the refusal is withdrawn.
            context = refusal_withdrawn_context(desk, ticket, due, now)
            self._send(
                session,
                desk,
                ticket,
                "refusal_withdrawn",
                context,
                dedupe_key("override", ticket.id),
                now,
            )
            _audit(session, staff, "refusal_overridden", now, ticket, reason=reason)
            return ActionResult(
                ticket.number,
                ticket.status,
                f"{ticket.number}: refusal withdrawn, notice queued",
                "refusal_withdrawn",
            )

    def change_category(self, number: str, category: str, reason: str, staff: str) -> ActionResult:
        """Put the ticket in another category; the person is told why and the new due time."""
        staff, now = _who(staff), self.clock()
        if not reason or not reason.strip():
            raise InvalidInput(
                "reason",
                "a category change needs a reason: the person is told why (terms clause 33)",
            )
        with self.sessions.begin() as session:
            ticket, desk = self._ticket(session, number)
            if category not in desk.config.categories:
                raise InvalidInput(
                    "category",
                    f"desk {desk.name!r} has no category {category!r}",
                    category,
                    desk.config.categories,
                )
            old = ticket.category
            if category == old:
                raise Conflict(f"{ticket.number} is already {category}", code="same_category")
            rules = desk.config.categories[category]
            due = due_times(desk.calendar, rules, ticket.received_at)
            decision = Decision(
                ticket=ticket,
                field="category",
                from_value=old,
                to_value=category,
                staff=staff,
                reason=reason,
                created_at=now,
            )
            session.add(decision)
            ticket.category = category
            ticket.category_confirmed = True
            ticket.urgent = rules.urgent
            ticket.clock_start = due.clock_start
            ticket.response_due = due.response_due
            ticket.resolution_due = due.resolution_due
            if ticket.status == TicketStatus.REFUSED:
                ticket.status = _waiting_status(ticket, now)
            session.flush()
            sla_legs.sync(session, [ticket], now)  # the legs follow the new due times
            lang = ticket.language
            context = {
                **base_context(desk, ticket, lang),
                "old_category_label": desk.category_label(old, lang),
                "new_category_label": desk.category_label(category, lang),
                "reason": reason.strip(),
                "staff_name": self._signature(staff),
                "response_due_text": local_text(desk, due.response_due, lang),
                "resolution_due_text": local_text(desk, due.resolution_due, lang),
            }
            self._send(
                session,
                desk,
                ticket,
                "recategorisation",
                context,
                dedupe_key("recategorisation", decision.id),
                now,
                force=True,
            )
            _audit(
                session,
                staff,
                "category_changed",
                now,
                ticket,
                old=old,
                new=category,
                reason=reason,
            )
            self.webhooks.enqueue(
                session, DECIDED, ticket, now, **_decided("category", old, staff, reason, category)
            )
            return ActionResult(
                ticket.number,
                ticket.status,
                f"{ticket.number}: {old} → {category}; notice queued",
                "recategorisation",
            )

    def change_feedback_type(
        self, number: str, feedback_type: str, staff: str, reason: str | None = None
    ) -> ActionResult:
        staff, reason, now = _who(staff), _why(reason), self.clock()
        with self.sessions.begin() as session:
            ticket, desk = self._ticket(session, number)
            allowed = {"none", *desk.config.feedback_types}
            if feedback_type not in allowed:
                raise InvalidInput(
                    "feedback_type",
                    f"unknown feedback type {feedback_type!r}",
                    feedback_type,
                    allowed,
                )
            session.add(
                Decision(
                    ticket=ticket,
                    field="feedback_type",
                    from_value=ticket.feedback_type,
                    to_value=feedback_type,
                    staff=staff,
                    reason=reason,
                    created_at=now,
                )
            )
            _audit(
                session,
                staff,
                "feedback_type_set",
                now,
                ticket,
                old=ticket.feedback_type,
                new=feedback_type,
                reason=reason,
            )
            ticket.feedback_type = feedback_type
            return ActionResult(
                ticket.number, ticket.status, f"{ticket.number}: feedback type {feedback_type}"
            )

    def reply(self, number: str, text: str, staff: str, force: bool = False) -> ActionResult:
        """A staff reply through the ticket's channel; the first one is the response time."""
        staff, now = _who(staff), self.clock()
        if not text.strip():
            raise InvalidInput("text", "the reply text is empty")
        with self.sessions.begin() as session:
            ticket, desk = self._ticket(session, number)
            context = {
                **base_context(desk, ticket, ticket.language),
                "body": text.strip(),
                "staff_name": self._signature(staff),
            }
            digest = hashlib.sha256(text.encode()).hexdigest()[:16]
            key = dedupe_key("reply", ticket.id, now.isoformat(), digest)
            if session.scalar(select(OutboxItem.id).where(OutboxItem.dedupe_key == key)):
                # The same text sent twice at the same instant: a repeated request.
                raise Conflict(f"{ticket.number}: this reply was just queued", code="same_reply")
            self._send(
                session,
                desk,
                ticket,
                "staff_reply",
                context,
                key,
                now,
                force,
                written_by_person=True,
            )
            record_first_response(ticket, now)
            if ticket.status in (TicketStatus.OPEN, TicketStatus.QUEUED, TicketStatus.REFUSED):
                ticket.status = TicketStatus.ANSWERED
            sla_legs.sync(session, [ticket], now)
            _audit(session, staff, "replied", now, ticket, characters=len(text))
            return ActionResult(
                ticket.number,
                ticket.status,
                f"{ticket.number}: reply queued to the requester",
                "staff_reply",
            )

    def resolve(
        self, number: str, staff: str, note: str | None = None, force: bool = False
    ) -> ActionResult:
        """Resolved (terms clause 36); the person gets the notice with the survey link."""
        staff, note, now = _who(staff), _why(note), self.clock()
        with self.sessions.begin() as session:
            ticket, desk = self._ticket(session, number)
            if ticket.status == TicketStatus.RESOLVED:
                raise Conflict(f"{ticket.number} is already resolved", code="already_resolved")
            ticket.status = TicketStatus.RESOLVED
            ticket.resolved_at = now
            sla_legs.sync(session, [ticket], now)
            lang = ticket.language
            context = {
                **base_context(desk, ticket, lang),
                "resolved_text": local_text(desk, now, lang),
                "survey_url": desk.config.contacts.get("survey_url"),
                "category_label": desk.category_label(ticket.category, lang),
            }
            self._send(
                session,
                desk,
                ticket,
                "resolution",
                context,
                dedupe_key("resolution", ticket.id, now.isoformat()),
                now,
                force,
            )
            _audit(session, staff, "resolved", now, ticket, note=note)
            self.webhooks.enqueue(session, RESOLVED, ticket, now, staff=staff)
            return ActionResult(
                ticket.number,
                ticket.status,
                f"{ticket.number}: resolved; notice with survey queued",
                "resolution",
            )

    def reopen(self, number: str, staff: str, reason: str | None = None) -> ActionResult:
        """Staff reopen a resolved ticket, as a person's reply to it would
        (``intake.lifecycle.reopen``): open (queued out of hours), the category's targets
        counted afresh from now, the first-response and resolution times cleared; the
        ``reopened`` audit event keeps the previous ones. Nothing is sent."""
        staff, reason, now = _who(staff), _why(reason), self.clock()
        with self.sessions.begin() as session:
            ticket, desk = self._ticket(session, number)
            if ticket.status != TicketStatus.RESOLVED:
                raise Conflict(
                    f"{ticket.number} is {ticket.status}, not resolved: only a resolved "
                    "ticket is reopened",
                    code="not_resolved",
                )
            before = reopen(ticket, desk, now)
            sla_legs.sync(session, [ticket], now, new_round={ticket.id})
            _audit(session, staff, "reopened", now, ticket, **before, reason=reason)
            return ActionResult(ticket.number, ticket.status, f"{ticket.number}: reopened")

    def assign(self, number: str, assignee: str | None, staff: str) -> ActionResult:
        """Give the ticket to a console user (``assignee``), or to nobody (None)."""
        staff, now = _who(staff), self.clock()
        assignee = assignee.strip().lower() if assignee and assignee.strip() else None
        with self.sessions.begin() as session:
            ticket, _desk = self._ticket(session, number)
            if assignee is not None and not session.scalar(
                select(StaffUser.id).where(
                    StaffUser.username == assignee, StaffUser.active.is_(True)
                )
            ):
                raise InvalidInput("assignee", f"no active console user {assignee!r}", assignee)
            before, ticket.assignee = ticket.assignee, assignee
            _audit(session, staff, "assigned", now, ticket, old=before, new=assignee)
            return ActionResult(
                ticket.number, ticket.status, f"{ticket.number}: assigned to {assignee or '-'}"
            )

    def add_note(self, number: str, text: str, staff: str) -> ActionResult:
        """An internal note: kept with the ticket, never sent."""
        staff, now = _who(staff), self.clock()
        text = text.strip()
        if not text:
            raise InvalidInput("text", "the note is empty")
        if len(text) > MAX_NOTE_CHARS:
            raise InvalidInput("text", f"a note has at most {MAX_NOTE_CHARS} characters")
        with self.sessions.begin() as session:
            ticket, _desk = self._ticket(session, number)
            session.add(TicketNote(ticket_id=ticket.id, author=staff, text=text, created_at=now))
            _audit(session, staff, "note_added", now, ticket, characters=len(text))
            return ActionResult(ticket.number, ticket.status, f"{ticket.number}: note added")

    # ------------------------------------------------------------------ outbox, quarantine

    def requeue_outbox(self, item_id: int, staff: str, reason: str | None = None) -> ActionResult:
        """A dead letter goes back to the dispatcher: pending, its attempts counted afresh.
        The audit event keeps its attempts and last error."""
        staff, reason, now = _who(staff), _why(reason), self.clock()
        with self.sessions.begin() as session:
            item = session.get(OutboxItem, item_id)
            if item is None:
                raise NotFound("outbox item", item_id, f"no outbox item #{item_id}")
            if item.status != OutboxStatus.DEAD:
                raise Conflict(
                    f"outbox item #{item_id} is {item.status}, not dead: only a dead letter "
                    "is requeued",
                    code="not_dead",
                )
            attempts, error = item.attempts, item.last_error
            table = OutboxItem.__table__
            changed = session.execute(
                update(table)
                .where(table.c.id == item_id, table.c.status == OutboxStatus.DEAD)
                .values(
                    status=OutboxStatus.PENDING,
                    attempts=0,
                    unconfirmed_sends=0,
                    claimed_at=None,
                    next_attempt_at=now,
                    last_error=None,
                )
            ).rowcount  # type: ignore[attr-defined]
            if not changed:
                raise Conflict(f"outbox item #{item_id} changed meanwhile", code="not_dead")
            _audit(
                session,
                staff,
                "outbox_requeued",
                now,
                item.ticket,
                outbox_id=item_id,
                attempts=attempts,
                error=error,
                reason=reason,
            )
            number = item.ticket.number if item.ticket else None
            return ActionResult(
                number,
                OutboxStatus.PENDING,
                f"outbox #{item_id} requeued: the dispatcher sends it at its next run",
                item.kind,
            )

    def _held(self, session: Session, quarantine_id: int) -> QuarantinedMail:
        item = session.get(QuarantinedMail, quarantine_id)
        if item is None:
            raise NotFound(
                "quarantined mail", quarantine_id, f"no quarantined mail #{quarantine_id}"
            )
        if item.status != QuarantineStatus.HELD:
            raise Conflict(
                f"quarantined mail #{quarantine_id} was already {item.status}", code="not_held"
            )
        return item

    def release_quarantined(
        self, quarantine_id: int, staff: str, time_limit: float | None = None
    ) -> ActionResult:
        """Process a held mail again (the cause fixed, or with more time): a ticket on
        success, still held with the new reason otherwise."""
        staff = _who(staff)
        if time_limit is not None and time_limit <= 0:
            raise InvalidInput("time_limit", "the time limit must be more than 0 seconds")
        if self.reprocess is None:
            raise NotAllowed(
                "releasing quarantined mail needs the intake machinery, and this desk "
                "service was built without it",
                code="no_intake",
            )
        with self.sessions() as session:
            self._held(session, quarantine_id)
        try:
            outcome = self.reprocess(quarantine_id, time_limit)
        except LookupError as exc:  # released or discarded between the check and now
            raise Conflict(str(exc), code="not_held") from None
        now = self.clock()
        with self.sessions.begin() as session:
            ticket = (
                repo.ticket_by_number(session, outcome.ticket_number)
                if outcome.ticket_number
                else None
            )
            _audit(
                session,
                staff,
                "quarantine_released" if outcome.released else "quarantine_retry_failed",
                now,
                ticket,
                quarantine_id=quarantine_id,
                reason=outcome.reason,
            )
        if outcome.released:
            return ActionResult(
                outcome.ticket_number,
                QuarantineStatus.RELEASED,
                f"#{quarantine_id} released as {outcome.ticket_number}",
            )
        return ActionResult(
            None, QuarantineStatus.HELD, f"#{quarantine_id} still held: {outcome.reason}"
        )

    def discard_quarantined(
        self, quarantine_id: int, staff: str, reason: str | None = None
    ) -> ActionResult:
        """Staff give up on a held mail: it leaves the list of held mail, and its row and raw
        bytes stay, with who discarded it, when and why."""
        staff, reason, now = _who(staff), _why(reason), self.clock()
        with self.sessions.begin() as session:
            item = self._held(session, quarantine_id)
            table = QuarantinedMail.__table__
            changed = session.execute(
                update(table)
                .where(table.c.id == quarantine_id, table.c.status == QuarantineStatus.HELD)
                .values(
                    status=QuarantineStatus.DISCARDED,
                    discarded_by=staff,
                    discarded_at=now,
                    discard_reason=reason,
                    updated_at=now,
                )
            ).rowcount  # type: ignore[attr-defined]
            if not changed:
                raise Conflict(
                    f"quarantined mail #{quarantine_id} changed meanwhile", code="not_held"
                )
            _audit(
                session,
                staff,
                "quarantine_discarded",
                now,
                quarantine_id=quarantine_id,
                source=item.source,
                held_for=item.reason,
                reason=reason,
            )
        return ActionResult(
            None,
            QuarantineStatus.DISCARDED,
            f"#{quarantine_id} discarded; its raw mail is kept",
        )

    # ------------------------------------------------------------------ addresses

    def clear_address(
        self, address: str, staff: str, channel: str = "email", reason: str | None = None
    ) -> ActionResult:
        """Lift the undeliverable mark of an address: mail to it works again."""
        staff, reason, now = _who(staff), _why(reason), self.clock()
        with self.sessions.begin() as session:
            row = repo.clear_undeliverable(session, channel, address)
            if row is None:
                raise NotFound("address", address, f"no known {channel} address {address}")
            _audit(session, staff, "undeliverable_cleared", now, address=row.address, reason=reason)
            again = "mail goes to it again" if channel == "email" else "messages go to it again"
            return ActionResult(None, "cleared", f"{row.address}: mark cleared; {again}")


def _answerable_id(message: Message | None) -> str | None:
    """The id a reply to ``message`` may name: a mail's only if it came with a Message-ID
    (without one the id was made up); a chat message's id is always the platform's own."""
    if message is None:
        return None
    if message.channel == "email" and not message.headers.get("Message-ID"):
        return None
    return message.external_id


def _decided(
    field: str, old: str, staff: str, reason: str | None, new: str | None = None
) -> dict[str, object]:
    """A ``ticket.decided`` event's details: a confirmation has the same old and new value."""
    return {"field": field, "from": old, "to": new or old, "staff": staff, "reason": reason}


def _waiting_status(ticket: Ticket, now: dt.datetime) -> str:
    return TicketStatus.QUEUED if ticket.clock_start > now else TicketStatus.OPEN


__all__ = ["Reprocess", "ReprocessOutcome", "StaffActions"]
