"""Figures for the desk's reports: what the virtual assistant did in a chat over a period.

A period is whole days in the desk's zone, ``start`` to ``end`` inclusive, counted by when
the assistant spoke (``assistant_answers.created_at``, UTC). Read-only.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from triage_desk.desk_service.errors import InvalidInput
from triage_desk.desk_service.results import AssistantFigures
from triage_desk.desks import Desks
from triage_desk.storage.models import AssistantAnswer


def period_bounds(zone: dt.tzinfo, start: dt.date, end: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """The UTC instants of the local midnight starting ``start`` and the one after ``end``."""
    first = dt.datetime.combine(start, dt.time(), zone).astimezone(dt.UTC)
    after = dt.datetime.combine(end + dt.timedelta(days=1), dt.time(), zone).astimezone(dt.UTC)
    return first, after


def assistant_figures(
    session: Session, desks: Desks, desk: str, start: dt.date, end: dt.date
) -> AssistantFigures:
    """Offers (an answer with "Did this help?"), declines, the answers to the question and
    the hand-offs to staff (a decline, or a "no") of one desk in a period."""
    if desk not in desks.by_name:
        raise InvalidInput("desk", f"no desk {desk!r}", desk, sorted(desks.by_name))
    if end < start:
        raise InvalidInput("to", f"the period ends ({end}) before it starts ({start})")
    first, after = period_bounds(desks[desk].calendar.zone, start, end)
    answered = AssistantAnswer.article_slug.is_not(None)

    def count(condition: object) -> object:
        return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)  # type: ignore[arg-type]

    row = session.execute(
        select(
            count(answered),
            count(AssistantAnswer.article_slug.is_(None)),
            count(AssistantAnswer.helped.is_(True)),
            count(AssistantAnswer.helped.is_(False)),
        ).where(
            AssistantAnswer.desk == desk,
            AssistantAnswer.created_at >= first,
            AssistantAnswer.created_at < after,
        )
    ).one()
    offers, declined, helped, not_helped = (int(value) for value in row)
    said = helped + not_helped
    return AssistantFigures(
        desk=desk,
        start=start,
        end=end,
        offers=offers,
        declined=declined,
        helped=helped,
        not_helped=not_helped,
        no_feedback=offers - said,
        handoffs=declined + not_helped,
        helped_percent=round(100 * helped / said, 1) if said else None,
    )
