"""Step: everything the batch adds besides tickets and requesters, one INSERT per table.

The ORM's unit of work costs far more per object than the database does per row; these rows
are only ever inserted here, so they go in as plain values, in the order their foreign keys
need: messages, references, attachments, suggestions, replies, audit events. A new ticket a
later step changed (a staff answer of this batch) is updated first; then the SLA legs of the
new tickets go in, and those of earlier tickets a step changed are brought up to date.
"""

from __future__ import annotations

from sqlalchemy import insert

from triage_desk.intake.steps.batch import Batch
from triage_desk.responders.outbox import write_outbound
from triage_desk.storage import repositories as repo
from triage_desk.storage import sla_legs
from triage_desk.storage.models import (
    AuditEvent,
    Message,
    MessageReference,
    StoredAttachment,
    Suggestion,
)


def write_rows(batch: Batch) -> None:
    session, works = batch.session, batch.fresh
    changed = [
        t
        for t, status, first in batch.inserted
        if (t.status, t.first_response_at) != (status, first)
    ]
    repo.update_tickets(session, changed, ("status", "first_response_at"))
    created = [t for t, _status, _first in batch.inserted]
    sla_legs.insert_new(session, created, batch.now)
    new = {id(t) for t in created}
    earlier = [t for key, t in batch.legs_changed.items() if key not in new]
    sla_legs.sync(session, earlier, batch.now, batch.reopened)
    if not works:
        return
    messages = Message.__table__
    message_ids = session.scalars(
        insert(messages).returning(messages.c.id, sort_by_parameter_order=True),
        [{**w.message_values, "ticket_id": w.ticket.id} for w in works],  # type: ignore[dict-item, union-attr]
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
    attachments = [{**a, "message_id": w.message_id} for w in works for a in w.attachment_values]
    if attachments:
        session.execute(insert(StoredAttachment.__table__), attachments)
    suggestions = [
        {**w.suggestion_values, "ticket_id": w.ticket.id, "message_id": w.message_id}  # type: ignore[union-attr]
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
