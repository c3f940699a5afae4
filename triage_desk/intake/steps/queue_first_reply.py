"""Step: the first reply of each message decided to get one: a refusal, the category's 24/7
route, or an acknowledgement (with knowledge-base suggestions). Exactly one per message,
ever: its outbox key is made from the message's channel and id. An email acknowledgement
may offer a link to continue in the desk's chat (``responders.chat_offer``)."""

from __future__ import annotations

import hashlib

from triage_desk.intake.steps.batch import Batch, Work
from triage_desk.intake.steps.decide_reply import FIRST_REPLY_PREFIX
from triage_desk.responders.acknowledgement import (
    acknowledgement_context,
    refusal_context,
    urgent_route_context,
)
from triage_desk.responders.chat_offer import REDACTED, chat_offer, linked_to_chat, offering_bot
from triage_desk.responders.outbox import prepare_outbound
from triage_desk.storage.clients import representatives_of


def acknowledgement_key(channel: str, external_id: str) -> str:
    """The outbox dedupe key: one first reply per inbound message, ever."""
    digest = hashlib.sha256(f"{channel}\0{external_id}".encode()).hexdigest()[:40]
    return f"{FIRST_REPLY_PREFIX}{digest}"


def _queue(batch: Batch, work: Work, linked: set[int]) -> None:
    inbound, desk, ticket = work.inbound, work.desk, work.ticket
    assert ticket is not None and work.due is not None
    route = desk.config.categories[ticket.category].reply_template
    if work.refused:
        kind = "refusal"
        client = work.standing.client if work.standing else None
        representatives = representatives_of(client) if client else ()
        context = refusal_context(
            desk, ticket, client.name if client else None, tuple(representatives)
        )
    elif route:
        kind = route
        context = urgent_route_context(desk, ticket, inbound.received_at)
    else:
        kind = "acknowledgement"
        articles = work.triaged.articles
        if articles is None:  # triage did not look them up ahead
            articles = batch.articles(work.triaged, desk)
        context = acknowledgement_context(desk, ticket, work.due, inbound.received_at, articles)
    token = None
    username = offering_bot(desk, inbound.channel) if kind == "acknowledgement" else None
    requester_id = batch.requester(work).requester_id
    if username and requester_id not in linked:
        offer, token = chat_offer(batch.session, username, requester_id, inbound.sender, batch.now)
        context = {**context, **offer}
    rendered = batch.renderer.render(kind, desk.name, ticket.language, context)
    pending = prepare_outbound(
        desk=desk,
        ticket=ticket,
        kind=kind,
        rendered=rendered,
        recipient=inbound.sender,
        channel=inbound.channel,
        key=acknowledgement_key(inbound.channel, inbound.external_id),
        now=batch.now,
        sender_name=batch.sender_name,
        # Answer the sender's own id only (not one we made up for a message without).
        in_reply_to=work.sender_message_id,
        references=inbound.references,
    )
    if token is not None:  # the thread's copy, for staff: the link without its secret
        for key in ("text", "new_text"):
            pending.message[key] = pending.message[key].replace(token, REDACTED)
    work.replies.append(pending)


def queue_first_reply(batch: Batch) -> None:
    offering = [
        w for w in batch.fresh if w.acknowledged and offering_bot(w.desk, w.inbound.channel)
    ]
    requesters = {batch.requester(w).requester_id for w in offering}
    linked = linked_to_chat(batch.session, requesters)
    for work in batch.fresh:
        if work.acknowledged:
            _queue(batch, work, linked)
