"""Step: what staff should know about where a message came from, on its ticket: an id
another message already had, ticket numbers it named but could not join, a staff address
no trusted check proved."""

from __future__ import annotations

from triage_desk.intake.steps.batch import Batch


def flag_origin(batch: Batch) -> None:
    for work in batch.fresh:
        if work.reused_id is not None:
            work.audit(
                "message_id_reused", message_id=work.reused_id, stored_as=work.inbound.external_id
            )
        if work.mentions:
            work.audit("mentions", tickets=work.mentions)
        if work.author.staff_unproven:
            work.audit("staff_claim_unproven", sender=work.inbound.sender)
