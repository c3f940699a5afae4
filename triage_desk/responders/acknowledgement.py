"""The first answer to a new ticket: acknowledgement, 24/7 route, or refusal (and the notice
that withdraws a refusal).

Each builder returns the template context for its kind; every context starts from
``base_context`` so all templates can rely on the same common variables.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from triage_desk.config import FEEDBACK_CATEGORY
from triage_desk.desks import Desk
from triage_desk.responders.outbox import base_context, local_text
from triage_desk.sla import DueTimes
from triage_desk.storage.models import Ticket


@dataclass(frozen=True)
class ArticleSuggestion:
    title: str
    summary: str
    url: str | None = None


def acknowledgement_context(
    desk: Desk,
    ticket: Ticket,
    due: DueTimes,
    received_at: dt.datetime,
    articles: Sequence[ArticleSuggestion] = (),
) -> dict[str, Any]:
    lang = ticket.language
    category = desk.config.categories[ticket.category]
    return {
        **base_context(desk, ticket, lang),
        "category": ticket.category,
        "category_label": category.label(lang),
        "feedback_type": ticket.feedback_type,
        "feedback_label": desk.feedback_label(ticket.feedback_type, lang),
        "response_due_text": local_text(desk, due.response_due, lang),
        "resolution_due_text": local_text(desk, due.resolution_due, lang),
        "out_of_hours": due.clock_start > received_at,
        "clock_start_text": local_text(desk, due.clock_start, lang),
        "around_the_clock": category.around_the_clock,
        "urgent": category.urgent,
        "assistant_articles": [
            {"title": a.title, "summary": a.summary, "url": a.url} for a in articles
        ],
    }


def urgent_route_context(desk: Desk, ticket: Ticket, received_at: dt.datetime) -> dict[str, Any]:
    lang = ticket.language
    return {
        **base_context(desk, ticket, lang),
        "category": ticket.category,
        "category_label": desk.category_label(ticket.category, lang),
        "received_text": local_text(desk, received_at, lang),
    }


def refusal_context(
    desk: Desk,
    ticket: Ticket,
    client_name: str | None,
    representatives: Sequence[str],
) -> dict[str, Any]:
    lang = ticket.language
    allowed = [
        config.label(lang)
        for key, config in desk.config.categories.items()
        if config.submitted_by == "anyone" and key != FEEDBACK_CATEGORY
    ]
    grounds = desk.config.refusal_grounds
    return {
        **base_context(desk, ticket, lang),
        "category": ticket.category,
        "category_label": desk.category_label(ticket.category, lang),
        "client_name": client_name,
        "representatives": list(representatives),
        "allowed_category_labels": allowed,
        "grounds_text": grounds.get(lang) or grounds.get("en") or "",
    }


def refusal_withdrawn_context(
    desk: Desk, ticket: Ticket, due: DueTimes, now: dt.datetime
) -> dict[str, Any]:
    """Staff overrode a refusal: the request is accepted, with the due times it has had since
    it arrived. A due time already past is not promised again (``response_overdue``)."""
    lang = ticket.language
    resolution = due.resolution_due if due.resolution_due and due.resolution_due > now else None
    return {
        **base_context(desk, ticket, lang),
        "category": ticket.category,
        "category_label": desk.category_label(ticket.category, lang),
        "response_due_text": local_text(desk, due.response_due, lang),
        "response_overdue": due.response_due is not None and due.response_due <= now,
        "resolution_due_text": local_text(desk, resolution, lang),
    }
