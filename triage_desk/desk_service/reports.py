"""Figures for the desk's reports. Read-only.

* The assistant: what it did in a chat over a period, whole days in the desk's zone,
  ``start`` to ``end`` inclusive, counted by when it spoke (``assistant_answers.created_at``).
* The late share (terms clause 37), feedback by month (standard IV) and triage quality are
  per calendar year, and a ticket counts in year Y when it was **received** in Y in the
  desk's zone (a mail of 31 December 23:30 in Riga is that year's, whenever it is
  answered). Robot mail is never a case; a refused ticket is none while the refusal stands.
* Late share: a case is late on a leg when any round of that leg is late by the rule of
  ``sla.legs.is_late`` (``storage.sla_legs.late_condition``), with "now" the service's
  clock: a ticket still open past its due time is late even before the scheduler marks it.
  A case late on both legs counts once in ``late``. A category without a resolution target
  (consultation, data processing) has response legs only; one without targets has no row.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import and_, case, exists, func, or_, select
from sqlalchemy.orm import Session

from triage_desk.desk_service.errors import InvalidInput
from triage_desk.desk_service.results import (
    AssistantFigures,
    FeedbackReport,
    LateShareReport,
    LateShareRow,
    TriageQualityReport,
    TriageQualityRow,
)
from triage_desk.desks import Desk, Desks
from triage_desk.sla import Leg
from triage_desk.storage.models import (
    AssistantAnswer,
    Decision,
    SlaLeg,
    Suggestion,
    Ticket,
    TicketStatus,
)
from triage_desk.storage.sla_legs import late_condition

FIRST_YEAR, LAST_YEAR = 2000, 2100
_NO_CASE = (TicketStatus.ROBOT, TicketStatus.REFUSED)


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


def _desk_year(desks: Desks, desk: str, year: int) -> tuple[Desk, dt.datetime, dt.datetime]:
    if desk not in desks.by_name:
        raise InvalidInput("desk", f"no desk {desk!r}", desk, sorted(desks.by_name))
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise InvalidInput("year", f"a year from {FIRST_YEAR} to {LAST_YEAR}", str(year))
    found = desks[desk]
    first, after = period_bounds(found.calendar.zone, dt.date(year, 1, 1), dt.date(year, 12, 31))
    return found, first, after


def _percent(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 1) if whole else None


def late_share(
    session: Session, desks: Desks, desk: str, year: int, now: dt.datetime
) -> LateShareReport:
    """Per category: cases received in ``year``, late on response, on resolution, on either,
    the late share against the allowed share (clause 37)."""
    found, first, after = _desk_year(desks, desk, year)
    late = late_condition(now)

    def late_on(leg: Leg) -> object:
        return func.max(case((and_(SlaLeg.leg == leg.value, late), 1), else_=0))

    per_case = (
        select(
            Ticket.category.label("category"),
            late_on(Leg.RESPONSE).label("response"),
            late_on(Leg.RESOLUTION).label("resolution"),
        )
        .select_from(Ticket)
        .outerjoin(SlaLeg, SlaLeg.ticket_id == Ticket.id)
        .where(
            Ticket.desk == desk,
            Ticket.received_at >= first,
            Ticket.received_at < after,
            Ticket.status.not_in(_NO_CASE),
        )
        .group_by(Ticket.id, Ticket.category)
        .subquery()
    )
    either = case((or_(per_case.c.response == 1, per_case.c.resolution == 1), 1), else_=0)
    counted = {
        row[0]: tuple(int(v or 0) for v in row[1:])
        for row in session.execute(
            select(
                per_case.c.category,
                func.count(),
                func.sum(per_case.c.response),
                func.sum(per_case.c.resolution),
                func.sum(either),
            ).group_by(per_case.c.category)
        )
    }
    categories = found.config.categories
    shown = [
        name
        for name, rules in categories.items()
        if rules.response is not None or rules.resolution is not None
    ]
    shown += sorted(name for name in counted if name not in categories)  # since removed
    rows = []
    for name in shown:
        cases, late_response, late_resolution, late_cases = counted.get(name, (0, 0, 0, 0))
        rules = categories.get(name)
        allowed = rules.allowed_late_share if rules is not None else None
        within = None if allowed is None or not cases else late_cases * 100 <= allowed * cases
        rows.append(
            LateShareRow(
                category=name,
                cases=cases,
                late_response=late_response,
                late_resolution=late_resolution,
                late=late_cases,
                late_percent=_percent(late_cases, cases),
                allowed_percent=allowed,
                within=within,
            )
        )
    return LateShareReport(desk=desk, year=year, as_of=now, rows=tuple(rows))


def feedback_by_month(session: Session, desks: Desks, desk: str, year: int) -> FeedbackReport:
    """Tickets received in ``year`` by feedback type (the ticket's current one) and local
    month of receipt; tickets with no feedback type are not counted."""
    found, first, after = _desk_year(desks, desk, year)
    zone = found.calendar.zone
    seen = session.execute(
        select(Ticket.received_at, Ticket.feedback_type).where(
            Ticket.desk == desk,
            Ticket.received_at >= first,
            Ticket.received_at < after,
            Ticket.status != TicketStatus.ROBOT,
            Ticket.feedback_type != "none",
        )
    ).all()
    types = list(found.config.feedback_types)
    types += sorted({kind for _at, kind in seen} - set(types))
    column = {kind: index for index, kind in enumerate(types)}
    counts = [[0] * len(types) for _month in range(12)]
    for received, kind in seen:
        counts[received.astimezone(zone).month - 1][column[kind]] += 1
    totals = tuple(sum(month[i] for month in counts) for i in range(len(types)))
    return FeedbackReport(
        desk=desk,
        year=year,
        types=tuple(types),
        counts=tuple(tuple(month) for month in counts),
        totals=totals,
    )


def triage_quality(session: Session, desks: Desks, desk: str, year: int) -> TriageQualityReport:
    """Each ticket's first suggestion (intake's) by category and model version: how many
    were auto-accepted and kept, confirmed by staff unchanged, or changed by staff."""
    _found, first, after = _desk_year(desks, desk, year)
    first_suggestion = (
        select(func.min(Suggestion.id).label("id"))
        .join(Ticket, Ticket.id == Suggestion.ticket_id)
        .where(
            Ticket.desk == desk,
            Ticket.received_at >= first,
            Ticket.received_at < after,
            Ticket.status != TicketStatus.ROBOT,
        )
        .group_by(Suggestion.ticket_id)
        .subquery()
    )
    on_category = and_(Decision.ticket_id == Suggestion.ticket_id, Decision.field == "category")
    changed = exists().where(on_category, Decision.from_value != Decision.to_value)
    confirmed = exists().where(on_category, Decision.from_value == Decision.to_value)
    figures: dict[tuple[str, str], list[int]] = {}
    for category, version, auto, was_changed, was_confirmed in session.execute(
        select(
            Suggestion.category,
            Suggestion.model_version,
            Suggestion.auto_accept,
            changed,
            confirmed,
        ).join(first_suggestion, first_suggestion.c.id == Suggestion.id)
    ):
        counts = figures.setdefault((category, version), [0, 0, 0, 0])
        counts[0] += 1
        if was_changed:
            counts[3] += 1
        elif auto:
            counts[1] += 1
        elif was_confirmed:
            counts[2] += 1
    rows = tuple(
        TriageQualityRow(
            category=category,
            model_version=version,
            suggestions=total,
            auto_accepted=auto,
            confirmed=confirmed_count,
            changed=changed_count,
            auto_accepted_percent=_percent(auto, total),
            changed_percent=_percent(changed_count, total),
        )
        for (category, version), (total, auto, confirmed_count, changed_count) in sorted(
            figures.items()
        )
    )
    return TriageQualityReport(desk=desk, year=year, rows=rows)
