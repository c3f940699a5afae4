"""The reports over a year of tickets built through the real intake and staff actions
(``tests/sla_world.py``): the late share (clause 37) agrees with a count done here by hand
from the due and done times chosen for each ticket; feedback by month; triage quality."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from tests.sla_world import LEGS, REPORT_AT, make_sla_world, riga, seed_year
from triage_desk.desk_service import InvalidInput
from triage_desk.desk_service.results import LateShareRow, TriageQualityRow
from triage_desk.storage.db import make_engine, make_session_factory
from triage_desk.storage.models import SlaLeg, Ticket


@pytest.fixture
def world(database_url, example_config):
    engine = make_engine(database_url)
    world = make_sla_world(make_session_factory(engine), example_config)
    yield world
    engine.dispose()


@pytest.fixture
def seeded(world):
    seed_year(world)
    return world


def _hand_count() -> dict[str, tuple[int, int, int, int]]:
    """Per category: cases, late on response, late on resolution, late on either, from
    LEGS alone (a leg is late when met after its due, or unmet with its due passed)."""
    counts: dict[str, list[int]] = {}
    for category, legs in LEGS.values():
        late = {"response": False, "resolution": False}
        for leg, due, done in legs:
            if due is not None and (done or REPORT_AT) > due:
                late[leg] = True
        row = counts.setdefault(category, [0, 0, 0, 0])
        row[0] += 1
        row[1] += late["response"]
        row[2] += late["resolution"]
        row[3] += late["response"] or late["resolution"]
    return {name: (a, b, c, d) for name, (a, b, c, d) in counts.items()}


def test_the_hand_count_is_what_the_test_means():
    # Written out, so a change to LEGS that moves the figures is seen here first.
    assert _hand_count() == {
        "error": (5, 2, 0, 2),  # late_reply; reopened (its second round)
        "consultation": (3, 0, 1, 1),  # saturday, resolved a day late
        "emergency": (3, 2, 2, 3),  # recategorised, slow fix, late on both (once)
        "serious_error": (1, 0, 0, 0),
        "data_processing": (1, 1, 0, 1),  # unanswered, open past its due
    }


def test_the_legs_have_the_due_and_done_times_worked_out_by_hand(seeded):
    world = seeded
    calendar = world.desks["municipal"].calendar
    assert not calendar.is_business_day(dt.date(2026, 11, 18))  # Proclamation Day
    with world.sessions() as session:
        for name, (category, legs) in LEGS.items():
            ticket = session.scalar(select(Ticket).where(Ticket.number == world.numbers[name]))
            assert ticket.category == category, name
            stored = session.scalars(
                select(SlaLeg).where(SlaLeg.ticket_id == ticket.id).order_by(SlaLeg.round)
            ).all()
            wanted = legs
            got = sorted(stored, key=lambda row: (row.round, row.leg != "response"))
            assert [row.leg for row in got] == [leg for leg, _due, _done in wanted], name
            for row, (_leg, due, done) in zip(got, wanted, strict=True):
                assert row.category == category, name
                assert row.done_at == (done.astimezone(dt.UTC) if done else None), name
                if due is None:  # not pinned: after whatever ended or the report's now
                    assert row.due_at > (done or REPORT_AT), name
                    continue
                assert row.due_at == due.astimezone(dt.UTC), (name, row.leg, row.round)
                late = (done or REPORT_AT) > due
                if done is not None and late:
                    assert row.late_seconds == int((done - due).total_seconds()), name
                    assert row.breached_at == row.due_at
                elif done is not None:
                    assert (row.late_seconds, row.breached_at) == (None, None), name
        robot = session.scalar(select(Ticket).where(Ticket.number == world.numbers["robot"]))
        assert robot.status == "robot"
        assert session.scalars(select(SlaLeg).where(SlaLeg.ticket_id == robot.id)).all() == []


def test_the_late_share_agrees_with_the_hand_count(seeded):
    report = seeded.service.late_share("municipal", 2026)
    assert report.as_of == REPORT_AT.astimezone(dt.UTC)
    rows = {row.category: row for row in report.rows}
    # Every category with a target, in the configuration's order; feedback has none.
    assert list(rows) == [
        "emergency",
        "serious_error",
        "error",
        "inaccuracy",
        "data_processing",
        "consultation",
    ]
    hand = _hand_count()
    for name, row in rows.items():
        cases, late_response, late_resolution, late = hand.get(name, (0, 0, 0, 0))
        assert (row.cases, row.late_response, row.late_resolution, row.late) == (
            cases,
            late_response,
            late_resolution,
            late,
        ), name
    assert rows["error"] == LateShareRow("error", 5, 2, 0, 2, 40.0, 10.0, False)
    assert rows["consultation"] == LateShareRow("consultation", 3, 0, 1, 1, 33.3, 5.0, False)
    assert rows["serious_error"] == LateShareRow("serious_error", 1, 0, 0, 0, 0.0, 7.0, True)
    assert rows["data_processing"] == LateShareRow("data_processing", 1, 1, 0, 1, 100.0, None, None)
    assert rows["inaccuracy"] == LateShareRow("inaccuracy", 0, 0, 0, 0, None, 5.0, None)


def test_an_unanswered_ticket_is_late_before_and_after_the_scheduler_marks_it(seeded):
    from triage_desk.scheduler import mark_breached_legs

    world = seeded
    number = world.numbers["unanswered"]
    # A day before its due time it is not late; the report asks at its own "now".
    world.clock.set(riga(2026, 12, 14, 12))
    early = {r.category: r for r in world.service.late_share("municipal", 2026).rows}
    assert early["data_processing"].late == 0
    world.clock.set(REPORT_AT)
    marked = mark_breached_legs(world.sessions, REPORT_AT)
    with world.sessions() as session:
        ticket_id = session.scalar(select(Ticket.id).where(Ticket.number == number))
        forgotten = session.scalar(
            select(Ticket.id).where(Ticket.number == world.numbers["last_year"])
        )
        # This one and last year's forgotten ticket (both legs); nothing else is unmet and due.
        assert sorted((m.ticket_id, m.leg) for m in marked) == [
            (forgotten, "resolution"),
            (forgotten, "response"),
            (ticket_id, "response"),
        ]
        leg = session.scalar(select(SlaLeg).where(SlaLeg.ticket_id == ticket_id))
        assert leg.breached_at == riga(2026, 12, 15, 10).astimezone(dt.UTC)
    assert mark_breached_legs(world.sessions, REPORT_AT) == []  # once
    late = {r.category: r for r in world.service.late_share("municipal", 2026).rows}
    assert late["data_processing"].late == 1
    # Answered now, it stays late, by how late it was.
    world.reply("unanswered", REPORT_AT)
    with world.sessions() as session:
        leg = session.scalar(select(SlaLeg).where(SlaLeg.ticket_id == ticket_id))
        assert leg.late_seconds == int((REPORT_AT - riga(2026, 12, 15, 10)).total_seconds())
    late = {r.category: r for r in world.service.late_share("municipal", 2026).rows}
    assert late["data_processing"].late == 1


def test_the_year_is_the_desks_local_year(seeded):
    world = seeded
    last = {r.category: r for r in world.service.late_share("municipal", 2025).rows}
    # 31 Dec 2025 23:30 in Riga, never answered: 2025's, and late there.
    assert (last["error"].cases, last["error"].late) == (1, 1)
    assert sum(r.cases for r in last.values()) == 1


def test_feedback_by_type_per_month(seeded):
    report = seeded.service.feedback_by_month("municipal", 2026)
    assert report.types == (
        "suggestion",
        "praise",
        "complaint_service",
        "complaint_customer_service",
    )
    by_month = {
        month + 1: dict(zip(report.types, counts, strict=True))
        for month, counts in enumerate(report.counts)
        if any(counts)
    }
    assert by_month == {
        2: {"suggestion": 1, "praise": 0, "complaint_service": 0, "complaint_customer_service": 0},
        3: {"suggestion": 0, "praise": 0, "complaint_service": 1, "complaint_customer_service": 0},
        6: {"suggestion": 0, "praise": 1, "complaint_service": 0, "complaint_customer_service": 0},
        9: {"suggestion": 0, "praise": 0, "complaint_service": 1, "complaint_customer_service": 0},
    }
    assert report.totals == (1, 1, 2, 0)


def test_triage_quality_per_category_and_model_version(seeded):
    report = seeded.service.triage_quality("municipal", 2026)
    assert report.rows == (
        # new_year, saturday, friday_evening kept; recategorised changed by staff
        TriageQualityRow("consultation", "v1", 4, 3, 0, 1, 75.0, 25.0),
        TriageQualityRow("data_processing", "v2", 1, 1, 0, 0, 100.0, 0.0),
        TriageQualityRow("emergency", "v2", 2, 2, 0, 0, 100.0, 0.0),
        TriageQualityRow("error", "v1", 2, 2, 0, 0, 100.0, 0.0),
        # holiday was unsure and confirmed by staff
        TriageQualityRow("error", "v2", 3, 2, 1, 0, 66.7, 0.0),
        TriageQualityRow("serious_error", "v1", 1, 1, 0, 0, 100.0, 0.0),
    )


def test_reports_refuse_an_unknown_desk_or_year(world):
    with pytest.raises(InvalidInput) as unknown:
        world.service.late_share("nowhere", 2026)
    assert unknown.value.field == "desk"
    with pytest.raises(InvalidInput) as year:
        world.service.feedback_by_month("municipal", 1900)
    assert year.value.field == "year"


LATE_SHARE_CSV = (
    "category,cases,late_response,late_resolution,late,late_percent,allowed_percent,within\r\n"
    "emergency,3,2,2,3,100.0,5.0,no\r\n"
    "serious_error,1,0,0,0,0.0,7.0,yes\r\n"
    "error,5,2,0,2,40.0,10.0,no\r\n"
    "inaccuracy,0,0,0,0,,5.0,\r\n"
    "data_processing,1,1,0,1,100.0,,\r\n"
    "consultation,3,0,1,1,33.3,5.0,no\r\n"
)


def _triage(database_url: str, *args: str):  # type: ignore[no-untyped-def]
    from click.testing import CliRunner

    from tests.conftest import EXAMPLE_CONFIG
    from triage_desk.cli import main

    return CliRunner().invoke(
        main,
        ["--config", str(EXAMPLE_CONFIG), *args],
        env={"TRIAGE_DATABASE_URL": database_url, "COLUMNS": "200"},
    )


def test_triage_report_sla_csv_and_table(database_url, world):
    # The command line reads the wall clock: every leg is met, so "now" cannot matter.
    seed_year(world, finish=True)
    result = _triage(database_url, "report", "sla", "--year", "2026", "--csv")
    assert result.exit_code == 0, result.output
    assert result.stdout == LATE_SHARE_CSV.replace("\r\n", "\n")
    table = _triage(database_url, "report", "sla", "--year", "2026", "--desk", "municipal")
    assert table.exit_code == 0, table.output
    error_line = next(line for line in table.stdout.splitlines() if " error " in line)
    cells = [cell.strip() for cell in error_line.split("│")[1:-1]]
    assert cells == ["error", "5", "2", "0", "2", "40", "10", "OVER"]
    unknown = _triage(database_url, "report", "sla", "--year", "2026", "--desk", "nowhere")
    assert unknown.exit_code == 2 and "--desk" in unknown.stderr


def test_csv_cells_cannot_be_formulas():
    from triage_desk.desk_service.export import safe_cell, to_csv

    assert [safe_cell(v) for v in ("=1+1", "+1", "-1", "@SUM(A1)", "\tx", "ok", None, True)] == [
        "'=1+1",
        "'+1",
        "'-1",
        "'@SUM(A1)",
        "'\tx",
        "ok",
        "",
        "yes",
    ]
    assert to_csv(("a", "b"), [('=HYPERLINK("x")', 3)]) == 'a,b\r\n"\'=HYPERLINK(""x"")",3\r\n'
