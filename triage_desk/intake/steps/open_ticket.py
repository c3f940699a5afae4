"""Step: a new ticket for each message that continues none, numbered in one counter update
per desk and year, with the category, feedback type and due times triage chose (robot mail
is set apart: no due times, out of the work queue)."""

from __future__ import annotations

from triage_desk.intake.lifecycle import set_apart_as_robot
from triage_desk.intake.steps.batch import Batch, Work
from triage_desk.storage import repositories as repo
from triage_desk.storage.models import Ticket, TicketStatus


def _open(batch: Batch, work: Work, number: str) -> None:
    inbound, desk, prediction = work.inbound, work.desk, work.prediction
    category, due = work.triaged.category, work.triaged.due
    work.due = due
    work.ticket = Ticket(  # never added to the session: the insert_tickets step inserts it
        number=number,
        desk=desk.name,
        requester_id=batch.requester(work).requester_id,
        client_id=None,
        channel=inbound.channel,
        subject=inbound.subject,
        language=prediction.language,
        status=TicketStatus.QUEUED if due.clock_start > inbound.received_at else TicketStatus.OPEN,
        category=category,
        feedback_type=work.triaged.feedback_type,
        category_confirmed=(prediction.auto_accept and category == prediction.category)
        or category == inbound.category,
        urgent=desk.config.categories[category].urgent,
        received_at=inbound.received_at,
        clock_start=due.clock_start,
        response_due=due.response_due,
        resolution_due=due.resolution_due,
        first_response_at=None,
    )
    if work.author.kind == "robot":
        work.due = set_apart_as_robot(work.ticket)
    work.created_ticket = True


def open_ticket(batch: Batch) -> None:
    groups: dict[tuple[str, int], list[Work]] = {}
    for work in batch.opening:
        year = work.inbound.received_at.astimezone(work.desk.calendar.zone).year
        groups.setdefault((work.desk.name, year), []).append(work)
    for (desk_name, year), group in groups.items():
        prefix = batch.desks[desk_name].config.ticket_prefix
        numbers = repo.allocate_ticket_numbers(batch.session, desk_name, prefix, year, len(group))
        for work, number in zip(group, numbers, strict=True):
            _open(batch, work, number)
