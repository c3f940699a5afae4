"""What staff do to a ticket: confirm or change its category, reply, resolve.

The command line calls these today and the web console will call the same functions. Each
action records who did it and why, and queues the message it owes the person (terms clause
33: a changed category is explained; standard IV: a resolved request invites feedback) in the
same transaction.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from triage_desk.clock import Clock, system_clock
from triage_desk.desks import Desk, Desks
from triage_desk.responders.acknowledgement import refusal_withdrawn_context
from triage_desk.responders.outbox import (
    base_context,
    dedupe_key,
    last_inbound,
    local_text,
    queue_outbound,
)
from triage_desk.responders.render import TemplateRenderer
from triage_desk.sla import due_times
from triage_desk.storage import repositories as repo
from triage_desk.storage.models import Decision, Ticket, TicketStatus


class ActionError(Exception):
    """The action cannot be done as asked; the message says why and what to do instead."""


@dataclass(frozen=True)
class ActionResult:
    ticket_number: str
    status: str
    message: str  # one line for the person who acted
    outbox_kind: str | None = None


class StaffActions:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        desks: Desks,
        renderer: TemplateRenderer,
        sender_name: str = "Triage Desk",
        clock: Clock = system_clock,
        staff_names: Mapping[str, str] | None = None,
    ) -> None:
        self.clock = clock
        self.sessions = sessions
        self.desks = desks
        self.renderer = renderer
        self.sender_name = sender_name
        # Login → the name a customer may see under a reply (outbound.staff_names).
        self.staff_names = dict(staff_names or {})

    # ------------------------------------------------------------------ helpers

    def _ticket(self, session: Session, number: str) -> tuple[Ticket, Desk]:
        ticket = repo.ticket_by_number(session, number.strip().upper())
        if ticket is None:
            raise ActionError(f"no ticket {number!r}; `triage tickets` lists them")
        return ticket, self.desks[ticket.desk]

    def _signature(self, staff: str) -> str | None:
        """The name signed under mail to a customer: the configured display name, or none
        (the desk's name alone). Never the login, which is an internal account name."""
        return self.staff_names.get(staff.strip())

    @staticmethod
    def _recipient(ticket: Ticket, force: bool) -> str:
        addresses = [a for a in ticket.requester.addresses if a.channel == ticket.channel]
        if not addresses:
            raise ActionError(f"{ticket.number}: the requester has no {ticket.channel} address")
        address = addresses[0]
        if ticket.channel == "email" and "@" not in address.address:
            raise ActionError(
                f"{ticket.number}: the mail gave no address to write to "
                f"({address.address!r}); contact the person another way"
            )
        if address.undeliverable and not force:
            raise ActionError(
                f"{ticket.number}: mail to {address.address} bounces "
                f"({address.undeliverable_reason}); contact the person another way, or "
                "use --force to send anyway"
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
            in_reply_to=previous.external_id
            if previous and previous.headers.get("Message-ID")
            else None,
            references=tuple(previous.references) if previous else (),
            automatic=not written_by_person,
        )

    # ------------------------------------------------------------------ actions

    def confirm(
        self, number: str, staff: str, reason: str | None = None, now: dt.datetime | None = None
    ) -> ActionResult:
        """Staff agree with the category. On a refused ticket this overrides the refusal."""
        now = now or self.clock()
        with self.sessions.begin() as session:
            ticket, desk = self._ticket(session, number)
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
            repo.audit(session, staff, "category_confirmed", ticket, category=ticket.category)
            if ticket.status != TicketStatus.REFUSED:
                return ActionResult(
                    ticket.number,
                    ticket.status,
                    f"{ticket.number}: category {ticket.category} confirmed",
                )
            # Override: the request is accepted after all, with its original due times.
            ticket.status = _waiting_status(ticket, now)
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
            repo.audit(session, staff, "refusal_overridden", ticket, reason=reason)
            return ActionResult(
                ticket.number,
                ticket.status,
                f"{ticket.number}: refusal withdrawn, notice queued",
                "refusal_withdrawn",
            )

    def change_category(
        self,
        number: str,
        category: str,
        reason: str,
        staff: str,
        now: dt.datetime | None = None,
    ) -> ActionResult:
        """Put the ticket in another category; the person is told why and the new due time."""
        now = now or self.clock()
        if not reason or not reason.strip():
            raise ActionError(
                "a category change needs --reason: the person is told why (terms clause 33)"
            )
        with self.sessions.begin() as session:
            ticket, desk = self._ticket(session, number)
            if category not in desk.config.categories:
                raise ActionError(
                    f"desk {desk.name!r} has no category {category!r}; use one "
                    f"of {sorted(desk.config.categories)}"
                )
            old = ticket.category
            if category == old:
                raise ActionError(f"{ticket.number} is already {category}; use --confirm")
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
            repo.audit(
                session, staff, "category_changed", ticket, old=old, new=category, reason=reason
            )
            return ActionResult(
                ticket.number,
                ticket.status,
                f"{ticket.number}: {old} → {category}; notice queued",
                "recategorisation",
            )

    def change_feedback_type(
        self,
        number: str,
        feedback_type: str,
        staff: str,
        reason: str | None = None,
        now: dt.datetime | None = None,
    ) -> ActionResult:
        now = now or self.clock()
        with self.sessions.begin() as session:
            ticket, desk = self._ticket(session, number)
            allowed = {"none", *desk.config.feedback_types}
            if feedback_type not in allowed:
                raise ActionError(
                    f"unknown feedback type {feedback_type!r}; use one of {sorted(allowed)}"
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
            repo.audit(
                session,
                staff,
                "feedback_type_set",
                ticket,
                old=ticket.feedback_type,
                new=feedback_type,
            )
            ticket.feedback_type = feedback_type
            return ActionResult(
                ticket.number, ticket.status, f"{ticket.number}: feedback type {feedback_type}"
            )

    def reply(
        self,
        number: str,
        text: str,
        staff: str,
        force: bool = False,
        now: dt.datetime | None = None,
    ) -> ActionResult:
        """A staff reply through the ticket's channel; the first one is the response time."""
        now = now or self.clock()
        if not text.strip():
            raise ActionError("the reply text is empty")
        with self.sessions.begin() as session:
            ticket, desk = self._ticket(session, number)
            context = {
                **base_context(desk, ticket, ticket.language),
                "body": text.strip(),
                "staff_name": self._signature(staff),
            }
            digest = hashlib.sha256(text.encode()).hexdigest()[:16]
            self._send(
                session,
                desk,
                ticket,
                "staff_reply",
                context,
                dedupe_key("reply", ticket.id, now.isoformat(), digest),
                now,
                force,
                written_by_person=True,
            )
            if ticket.first_response_at is None:
                ticket.first_response_at = now
            if ticket.status in (TicketStatus.OPEN, TicketStatus.QUEUED, TicketStatus.REFUSED):
                ticket.status = TicketStatus.ANSWERED
            repo.audit(session, staff, "replied", ticket, characters=len(text))
            return ActionResult(
                ticket.number,
                ticket.status,
                f"{ticket.number}: reply queued to the requester",
                "staff_reply",
            )

    def resolve(
        self,
        number: str,
        staff: str,
        note: str | None = None,
        force: bool = False,
        now: dt.datetime | None = None,
    ) -> ActionResult:
        """Resolved (terms clause 36); the person gets the notice with the survey link."""
        now = now or self.clock()
        with self.sessions.begin() as session:
            ticket, desk = self._ticket(session, number)
            if ticket.status == TicketStatus.RESOLVED:
                raise ActionError(f"{ticket.number} is already resolved")
            ticket.status = TicketStatus.RESOLVED
            ticket.resolved_at = now
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
            repo.audit(session, staff, "resolved", ticket, note=note)
            return ActionResult(
                ticket.number,
                ticket.status,
                f"{ticket.number}: resolved; notice with survey queued",
                "resolution",
            )


def _waiting_status(ticket: Ticket, now: dt.datetime) -> str:
    return TicketStatus.QUEUED if ticket.clock_start > now else TicketStatus.OPEN
