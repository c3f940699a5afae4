"""The reports page (``/reports``) and the CSV downloads of each report.

Supervisors and admins only: the figures measure the desk's staff against the contract
(clause 37) and the model, which is a manager's view, not what an agent needs to work the
queue. The chart is inline SVG drawn on the server (no script, no inline style: the CSP
allows neither); its colours come from ``console.css`` by class.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import Response

from triage_desk.console.app import Console
from triage_desk.console.security import Staff
from triage_desk.desk_service.export import (
    assistant_csv,
    feedback_csv,
    late_share_csv,
    triage_quality_csv,
)
from triage_desk.desk_service.reports import FIRST_YEAR, LAST_YEAR
from triage_desk.desk_service.results import LateShareReport

# The chart's geometry, in SVG user units.
LABEL_WIDTH, BAR_SPAN, ROW_HEIGHT, BAR_HEIGHT = 170, 400, 26, 16


@dataclass(frozen=True)
class Bar:
    """One category's bar: late share as a width, the allowed share as a mark."""

    label: str
    y: int
    width: float
    allowed_x: float | None
    kind: str  # "within", "over" or "none" (a CSS class)
    text: str


def chart(report: LateShareReport, labels: dict[str, str]) -> tuple[list[Bar], int, int]:
    """Bars (0–100 % over BAR_SPAN) and the SVG's width and height."""
    bars = []
    for index, row in enumerate(report.rows):
        late = row.late_percent or 0.0
        allowed = row.allowed_percent
        kind = {True: "within", False: "over", None: "none"}[row.within]
        bars.append(
            Bar(
                label=labels.get(row.category, row.category),
                y=index * ROW_HEIGHT,
                width=round(BAR_SPAN * late / 100, 1),
                allowed_x=None
                if allowed is None
                else LABEL_WIDTH + round(BAR_SPAN * allowed / 100, 1),
                kind=kind,
                text="-" if row.late_percent is None else f"{row.late_percent:g} %",
            )
        )
    return bars, LABEL_WIDTH + BAR_SPAN + 70, max(1, len(bars)) * ROW_HEIGHT


def _filename(kind: str, desk: str, year: int) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", f"{kind}-{desk}-{year}.csv")


def _csv(text: str, kind: str, desk: str, year: int) -> Response:
    return Response(
        text.encode("utf-8"),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{_filename(kind, desk, year)}"'},
    )


def register(web: FastAPI, console: Console) -> None:
    supervisor = console.guard.need("supervisor")
    service = console.service

    def chosen(desk: str | None, year: int | None) -> tuple[str, int]:
        desk = desk or console.config.service.default_desk
        if desk not in console.config.desks:
            raise HTTPException(404)
        if year is None:
            year = console.clock().astimezone(service.zone(desk)).year
        return desk, year

    years = Query(None, ge=FIRST_YEAR, le=LAST_YEAR)

    @web.get("/reports")
    async def reports(
        request: Request,
        desk: str | None = None,
        year: int | None = years,
        staff: Staff = Depends(supervisor),
    ):
        desk, year = chosen(desk, year)
        late = service.late_share(desk, year)
        rules = console.config.desks[desk]
        lang = staff.language
        labels = {name: c.label(lang) for name, c in rules.categories.items()}
        feedback_labels = {
            name: f.labels.get(lang, name) for name, f in rules.feedback_types.items()
        }
        bars, width, height = chart(late, labels)
        return console.page(
            request,
            "reports.html",
            staff,
            desk=desk,
            year=year,
            late=late,
            bars=bars,
            chart_width=width,
            chart_height=height,
            label_width=LABEL_WIDTH,
            bar_span=BAR_SPAN,
            bar_height=BAR_HEIGHT,
            labels=labels,
            feedback=service.feedback_by_month(desk, year),
            feedback_labels=feedback_labels,
            quality=service.triage_quality(desk, year),
            assistant=service.assistant_figures(desk, dt.date(year, 1, 1), dt.date(year, 12, 31)),
            zone=service.zone(desk),
        )

    @web.get("/reports/sla.csv")
    async def sla_csv(
        desk: str | None = None, year: int | None = years, staff: Staff = Depends(supervisor)
    ):
        desk, year = chosen(desk, year)
        return _csv(late_share_csv(service.late_share(desk, year)), "sla", desk, year)

    @web.get("/reports/feedback.csv")
    async def feedback_download(
        desk: str | None = None, year: int | None = years, staff: Staff = Depends(supervisor)
    ):
        desk, year = chosen(desk, year)
        return _csv(feedback_csv(service.feedback_by_month(desk, year)), "feedback", desk, year)

    @web.get("/reports/quality.csv")
    async def quality_download(
        desk: str | None = None, year: int | None = years, staff: Staff = Depends(supervisor)
    ):
        desk, year = chosen(desk, year)
        return _csv(triage_quality_csv(service.triage_quality(desk, year)), "quality", desk, year)

    @web.get("/reports/assistant.csv")
    async def assistant_download(
        desk: str | None = None, year: int | None = years, staff: Staff = Depends(supervisor)
    ):
        desk, year = chosen(desk, year)
        figures = service.assistant_figures(desk, dt.date(year, 1, 1), dt.date(year, 12, 31))
        return _csv(assistant_csv(figures), "assistant", desk, year)


__all__ = ["Bar", "chart", "register"]
