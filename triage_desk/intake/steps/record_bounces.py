"""Step: a permanent bounce marks an address undeliverable, and staff are told.

Only when it is about a message we sent to that address (the bounce names the id of one of
our outbound messages): anyone can write a bounce, but only the recipient's server sees the
id of our message to them. The notice to staff is in our own words (the address, the status
code, the tickets), nothing of the bounce's free text (a link, a lure).
"""

from __future__ import annotations

import logging

from triage_desk.intake.steps.batch import Batch, Work
from triage_desk.responders.outbox import base_context, dedupe_key, prepare_outbound
from triage_desk.storage import repositories as repo

log = logging.getLogger(__name__)


def _mark(batch: Batch, work: Work) -> list[str]:
    """The addresses this bounce marked undeliverable."""
    bounce, channel = work.inbound.bounce, work.inbound.channel
    assert bounce is not None
    ours = repo.sent_mails(batch.session, channel, bounce.original_message_ids)
    marked, unproven = [], []
    for address in (a.lower() for a in bounce.failed_addresses if bounce.permanent):
        sent = next((m for m in ours if address in m.recipients), None)
        if sent is None:
            unproven.append(address)
            continue
        status = bounce.status or "no status code"
        reason = f"permanent bounce ({status}) of our mail on {sent.ticket_number}"
        if repo.mark_undeliverable(batch.session, channel, address, reason, batch.now):
            marked.append(address)
            row = batch.requesters.get((channel, address))
            if row is not None:  # a message of this batch from that address gets no reply
                row.undeliverable = True
    if unproven:
        log.warning(
            "a bounce from %s names %s, but no mail we sent to them: not marked undeliverable",
            work.inbound.sender,
            ", ".join(unproven),
        )
    work.audit(
        "bounce",
        permanent=bounce.permanent,
        addresses=list(bounce.failed_addresses),
        status=bounce.status,
        marked=marked,
        not_ours=unproven or None,
    )
    return marked


def _notify(batch: Batch, work: Work, address: str, staff: str) -> None:
    desk, ticket, bounce = work.desk, work.ticket, work.inbound.bounce
    assert ticket is not None and bounce is not None
    language = desk.config.default_language
    context = {
        **base_context(desk, ticket, language),
        "address": address,
        "status_code": bounce.status,
        "affected_ticket_numbers": repo.open_ticket_numbers_for(batch.session, [address]),
    }
    rendered = batch.renderer.render("undeliverable_notice", desk.name, language, context)
    key = dedupe_key("undeliverable", work.inbound.channel, work.inbound.external_id, address)
    work.replies.append(
        prepare_outbound(
            desk=desk,
            ticket=ticket,
            kind="undeliverable_notice",
            rendered=rendered,
            recipient=staff,
            channel="email",  # staff notice mailboxes are mail addresses
            key=key,
            now=batch.now,
            sender_name=batch.sender_name,
        )
    )


def record_bounces(batch: Batch) -> None:
    for work in batch.fresh:
        if work.inbound.bounce is None:
            continue
        marked = _mark(batch, work)
        staff = work.desk.config.staff_address
        for address in marked if staff else ():
            _notify(batch, work, address, staff)
