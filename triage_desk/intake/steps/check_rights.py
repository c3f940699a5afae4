"""Step: submission rights (terms clause 28). Some categories may only be submitted by a
client's designated representative; a new ticket of such a category from anyone else is
refused, when the category is sure. On a guess staff decide instead: refusing it would turn
away an error report."""

from __future__ import annotations

from triage_desk.intake.steps.batch import Batch, Work
from triage_desk.storage.models import TicketStatus


def _check(work: Work) -> None:
    ticket, desk, standing = work.ticket, work.desk, work.standing
    assert ticket is not None and standing is not None
    category = ticket.category
    ticket.client_id = standing.client.id if standing.client else None
    if desk.config.categories[category].submitted_by != "representative":
        return
    if standing.is_representative or work.author.kind != "person":
        return
    prediction = work.prediction
    sure = work.inbound.category == category or (  # staff chose it, or the model is sure
        not prediction.needs_refinement
        and (
            prediction.auto_accept
            or prediction.category_confidence >= desk.config.refusal_min_confidence
        )
    )
    if not sure:
        work.audit("rights_unclear", category=category, confidence=prediction.category_confidence)
        return
    ticket.status = TicketStatus.REFUSED
    work.refused = True
    work.audit(
        "refused",
        category=category,
        reason="not a designated representative",
        client=standing.client.name if standing.client else None,
    )


def check_rights(batch: Batch) -> None:
    for work in batch.opening:
        _check(work)
