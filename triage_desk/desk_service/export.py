"""The reports as CSV, the same for every front end (the console's downloads, ``triage
report sla --csv``): one header row of fixed English column names, then the figures.

A cell that a spreadsheet would read as a formula (starting with = + - @, or a tab or
carriage return) is prefixed with ' (CSV injection): a category or feedback type name comes
from configuration, but a report file is opened by people who trust it.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence

from triage_desk.desk_service.results import (
    AssistantFigures,
    FeedbackReport,
    LateShareReport,
    TriageQualityReport,
)

_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

Cell = str | int | float | bool | None


def safe_cell(value: Cell) -> str:
    """One value as CSV text: None empty, booleans yes/no, formulas defused."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def to_csv(header: Sequence[str], rows: Iterable[Sequence[Cell]], line_end: str = "\r\n") -> str:
    """RFC 4180 (CRLF) for downloads; a terminal's tools want ``line_end="\n"``."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator=line_end)
    writer.writerow([safe_cell(name) for name in header])
    writer.writerows([safe_cell(value) for value in row] for row in rows)
    return buffer.getvalue()


LATE_SHARE_COLUMNS = (
    "category",
    "cases",
    "late_response",
    "late_resolution",
    "late",
    "late_percent",
    "allowed_percent",
    "within",
)


def late_share_csv(report: LateShareReport, line_end: str = "\r\n") -> str:
    return to_csv(
        LATE_SHARE_COLUMNS,
        (
            (
                r.category,
                r.cases,
                r.late_response,
                r.late_resolution,
                r.late,
                r.late_percent,
                r.allowed_percent,
                r.within,
            )
            for r in report.rows
        ),
        line_end,
    )


def feedback_csv(report: FeedbackReport) -> str:
    rows = [
        (f"{report.year}-{month:02d}", *counts)
        for month, counts in enumerate(report.counts, start=1)
    ]
    return to_csv(("month", *report.types), [*rows, ("total", *report.totals)])


def triage_quality_csv(report: TriageQualityReport) -> str:
    return to_csv(
        (
            "category",
            "model_version",
            "suggestions",
            "auto_accepted",
            "confirmed",
            "changed",
            "auto_accepted_percent",
            "changed_percent",
        ),
        (
            (
                r.category,
                r.model_version,
                r.suggestions,
                r.auto_accepted,
                r.confirmed,
                r.changed,
                r.auto_accepted_percent,
                r.changed_percent,
            )
            for r in report.rows
        ),
    )


def assistant_csv(figures: AssistantFigures) -> str:
    return to_csv(
        (
            "desk",
            "from",
            "to",
            "offers",
            "declined",
            "helped",
            "not_helped",
            "no_feedback",
            "handoffs",
            "helped_percent",
        ),
        [
            (
                figures.desk,
                figures.start.isoformat(),
                figures.end.isoformat(),
                figures.offers,
                figures.declined,
                figures.helped,
                figures.not_helped,
                figures.no_feedback,
                figures.handoffs,
                figures.helped_percent,
            )
        ],
    )
