"""Step: the batch's new tickets go in, in one statement (the ORM's unit of work cost more
than the rest of the batch), and every message of the batch gets its ticket: a message that
answers an earlier one of this batch joins that one's ticket. What changes on a new ticket
later is updated by the write_rows step."""

from __future__ import annotations

from triage_desk.intake.steps.batch import Batch
from triage_desk.storage import repositories as repo


def insert_tickets(batch: Batch) -> None:
    created = [w.ticket for w in batch.opening if w.ticket is not None]
    repo.insert_tickets(batch.session, created)
    batch.inserted = [(t, t.status, t.first_response_at) for t in created]
    for work in batch.fresh:
        if work.ticket is None and work.parent is not None:
            work.ticket = work.parent.ticket  # parents come first, so theirs is set
        assert work.ticket is not None
