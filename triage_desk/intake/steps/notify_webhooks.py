"""Step (after ``write_rows``, added by the app when webhooks are configured): each new
ticket's ``ticket.created`` event is queued for the webhooks that want it, in the transaction
that stores the ticket (``responders/webhooks.py``). Robot mail opens no event."""

from __future__ import annotations

from triage_desk.intake.steps.batch import Batch
from triage_desk.responders.webhooks import CREATED, Webhooks
from triage_desk.storage.models import TicketStatus


class NotifyWebhooks:
    def __init__(self, webhooks: Webhooks) -> None:
        self.webhooks = webhooks

    def __call__(self, batch: Batch) -> None:
        for work in batch.fresh:
            ticket = work.ticket
            if not work.created_ticket or ticket is None or ticket.status == TicketStatus.ROBOT:
                continue
            self.webhooks.enqueue(batch.session, CREATED, ticket, batch.now)


__all__ = ["NotifyWebhooks"]
