"""Step: what a message to an existing ticket does to it. A proven staff member who answered
from their own mail client gave the response; a person's reply to a resolved ticket reopens
it (``lifecycle.reopen``); robot mail changes nothing."""

from __future__ import annotations

from triage_desk.intake.lifecycle import record_first_response, reopen
from triage_desk.intake.steps.batch import Batch, Work
from triage_desk.storage.models import TicketStatus


def _follow_up(batch: Batch, work: Work) -> None:
    ticket, kind = work.ticket, work.author.kind
    assert ticket is not None
    if kind == "staff":
        if record_first_response(ticket, work.inbound.received_at):
            batch.legs_changed[id(ticket)] = ticket
        if ticket.status in (TicketStatus.OPEN, TicketStatus.QUEUED):
            ticket.status = TicketStatus.ANSWERED
    elif kind == "person" and ticket.status == TicketStatus.RESOLVED:
        desk = batch.desks[ticket.desk]
        work.audit("reopened", **reopen(ticket, desk, work.inbound.received_at))
        batch.legs_changed[id(ticket)] = ticket
        batch.reopened.add(ticket.id)
    work.audit("follow_up", author=kind, external_id=work.inbound.external_id)


def follow_up(batch: Batch) -> None:
    for work in batch.fresh:
        if not work.created_ticket:
            _follow_up(batch, work)
