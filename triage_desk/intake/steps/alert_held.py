"""Step: staff learn of first replies the desk-wide limits held: of an urgent one at once,
of the others once per desk and clock hour (a flood must not flood them too)."""

from __future__ import annotations

import datetime as dt
import logging

from triage_desk.desks import Desk
from triage_desk.intake.steps.batch import Batch, Work
from triage_desk.intake.steps.decide_reply import is_urgent
from triage_desk.responders.outbox import base_context, dedupe_key, prepare_outbound
from triage_desk.storage import repositories as repo

log = logging.getLogger(__name__)


def _alert(batch: Batch, desk: Desk, held: list[Work], key: str, *, urgent: bool) -> None:
    staff, first = desk.config.staff_address, held[0]
    assert first.ticket is not None
    if not staff:
        log.error(
            "desk %s has no staff_address: nobody is told that %s got no automatic reply",
            desk.name,
            first.ticket.number,
        )
        return
    language, rules = desk.config.default_language, batch.rules
    context = {
        **base_context(desk, first.ticket, language),
        "held_ticket_numbers": [w.ticket.number for w in held if w.ticket is not None],
        "urgent": urgent,
        "category_label": desk.category_label(first.ticket.category, language),
        "limit_per_minute": rules.automatic_replies_per_desk_per_minute,
        "limit_per_hour": rules.automatic_replies_per_desk_per_hour,
    }
    rendered = batch.renderer.render("reply_limit_notice", desk.name, language, context)
    first.replies.append(
        prepare_outbound(
            desk=desk,
            ticket=first.ticket,
            kind="reply_limit_notice",
            rendered=rendered,
            recipient=staff,
            channel="email",  # staff notice mailboxes are mail addresses
            key=key,
            now=batch.now,
            sender_name=batch.sender_name,
        )
    )


def alert_held(batch: Batch) -> None:
    for desk_name, held in batch.held.items():
        desk = batch.desks[desk_name]
        log.warning(
            "desk %s: automatic replies held by the desk-wide limits: %s",
            desk_name,
            ", ".join(w.ticket.number for w in held if w.ticket is not None),
        )
        ordinary = [w for w in held if not is_urgent(w)]
        for work in held:
            if is_urgent(work):
                key = dedupe_key("held-urgent", work.inbound.channel, work.inbound.external_id)
                _alert(batch, desk, [work], key, urgent=True)
        if ordinary:
            hour = batch.now.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)
            key = dedupe_key("reply-limit", desk_name, hour.isoformat())
            if not repo.outbox_keys_present(batch.session, [key]):
                _alert(batch, desk, ordinary, key, urgent=False)
