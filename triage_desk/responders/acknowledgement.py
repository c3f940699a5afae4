"""The acknowledgement: the honest promise of when a human will answer."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from triage_desk.desks import Desk
from triage_desk.responders.localtime import format_local
from triage_desk.responders.render import Rendered, TemplateRenderer
from triage_desk.sla import DueTimes


@dataclass(frozen=True)
class AckFacts:
    ticket_number: str
    category: str
    feedback_type: str
    language: str
    subject: str
    received_at: dt.datetime
    due: DueTimes


def acknowledgement_context(desk: Desk, facts: AckFacts) -> dict[str, Any]:
    zone = desk.calendar.zone
    lang = facts.language
    category = desk.config.categories[facts.category]
    calendar = desk.config.calendar

    def shown(instant: dt.datetime | None) -> str | None:
        return format_local(instant, zone, lang) if instant else None

    return {
        "ticket_number": facts.ticket_number,
        "desk_name": desk.config.name,
        "category": facts.category,
        "category_label": category.label(lang),
        "feedback_type": facts.feedback_type,
        "feedback_label": desk.feedback_label(facts.feedback_type, lang),
        "response_due_text": shown(facts.due.response_due),
        "resolution_due_text": shown(facts.due.resolution_due),
        "out_of_hours": facts.due.clock_start > facts.received_at,
        "clock_start_text": shown(facts.due.clock_start),
        "opening_hours_text": f"{calendar.open:%H:%M}–{calendar.close:%H:%M}",
        "subject": facts.subject,
        "around_the_clock": category.around_the_clock,
        "urgent": category.urgent,
    }


def render_acknowledgement(renderer: TemplateRenderer, desk: Desk, facts: AckFacts) -> Rendered:
    return renderer.render(
        "acknowledgement", desk.name, facts.language, acknowledgement_context(desk, facts)
    )


def new_message_id(desk: Desk, ticket_number: str) -> str:
    """Our own Message-ID (without <>), fixed before sending so a resend reuses it."""
    domain = desk.address.split("@", 1)[1]
    return f"{uuid.uuid4().hex}.{ticket_number.lower()}@{domain}"


def reply_headers(
    message_id: str, in_reply_to: str | None, references: tuple[str, ...]
) -> dict[str, str]:
    """Threading plus the RFC 3834 marks that stop other robots from answering us."""
    headers = {
        "Message-ID": f"<{message_id}>",
        "Auto-Submitted": "auto-replied",
        "X-Auto-Response-Suppress": "All",
    }
    if in_reply_to:
        headers["In-Reply-To"] = f"<{in_reply_to}>"
        chain = [*references, in_reply_to] if in_reply_to not in references else list(references)
        headers["References"] = " ".join(f"<{ref}>" for ref in chain[-20:])
    return headers
