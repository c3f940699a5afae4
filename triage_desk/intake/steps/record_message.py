"""Step: each message as the rows it is stored as (message, attachments, and for a new
ticket the model's suggestion and the ``ticket_created`` event), kept as values for the
write_rows step."""

from __future__ import annotations

import hashlib

from triage_desk.intake.steps.batch import Batch, Work
from triage_desk.storage.models import Direction


def _message(work: Work) -> None:
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
        "author_kind": work.author.kind,
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


def _suggest(batch: Batch, work: Work) -> None:
    prediction, ticket = work.prediction, work.ticket
    assert ticket is not None
    work.suggestion_values = {
        **prediction.suggestion_fields(),
        "needs_refinement": prediction.needs_refinement and batch.semantic_stage == "deferred",
    }
    work.audit(
        "ticket_created",
        category=ticket.category,
        confidence=prediction.confidence,
        status=ticket.status,
        author=work.author.kind,
    )


def record_message(batch: Batch) -> None:
    for work in batch.fresh:
        _message(work)
        if work.created_ticket:
            _suggest(batch, work)
