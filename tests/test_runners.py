"""Runners: the one loop that drives them, the one list `triage run` starts, and the
scheduler's lock (two schedulers at once release and audit each ticket once)."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import threading

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.exc import OperationalError

from triage_desk.clock import FixedClock
from triage_desk.desks import Desks
from triage_desk.refiner import Refiner
from triage_desk.runners import RunnerLoop, drive
from triage_desk.runners.dispatch import DispatchRunner
from triage_desk.runners.queue import QueueRunner
from triage_desk.scheduler import Scheduler, release_due_tickets
from triage_desk.storage import repositories as repo
from triage_desk.storage.db import make_engine, make_session_factory
from triage_desk.storage.models import AuditEvent, Ticket, TicketStatus

SATURDAY = dt.datetime(2026, 11, 28, 10, 0, tzinfo=dt.UTC)
MONDAY_0900_RIGA = dt.datetime(2026, 11, 30, 7, 0, tzinfo=dt.UTC)
# Guards against a hang only (a broken loop would otherwise never return); no test measures
# time against it.
HANG = 60


class Scripted:
    """A runner that returns the next of ``results`` (an exception is raised) and records
    the ``now`` of each run; ``on_call`` sees how many runs there were."""

    def __init__(self, results, idle_seconds: float, on_call=None) -> None:
        self.name = "scripted"
        self.idle_seconds = idle_seconds
        self.results = list(results)
        self.on_call = on_call
        self.nows: list[dt.datetime] = []

    def run_once(self, now: dt.datetime) -> int:
        self.nows.append(now)
        if self.on_call is not None:
            self.on_call(len(self.nows))
        result = self.results.pop(0) if self.results else 0
        if isinstance(result, Exception):
            raise result
        return result


def _run_until_stopped(loop: RunnerLoop, stop: asyncio.Event) -> None:
    async def main() -> None:
        await asyncio.wait_for(loop.run(stop), timeout=HANG)

    asyncio.run(main())


def test_the_loop_runs_back_to_back_while_there_is_work_and_passes_the_clock():
    """An hour's idle interval: had the loop paused after a run that found work, the
    guard would end the test with a timeout."""
    stop = asyncio.Event()
    clock = FixedClock(SATURDAY)

    def fourth_stops(calls: int) -> None:
        clock.advance(minutes=1)
        if calls == 4:
            stop.set()

    runner = Scripted([5, 3, 1, 0], idle_seconds=3600, on_call=fourth_stops)
    _run_until_stopped(RunnerLoop(runner, clock), stop)
    assert runner.nows == [SATURDAY + dt.timedelta(minutes=n) for n in range(4)]


def test_a_failing_run_is_logged_and_tried_again(caplog):
    stop = asyncio.Event()
    runner = Scripted(
        [RuntimeError("database away"), RuntimeError("still away"), 2, 0],
        idle_seconds=0,
        on_call=lambda calls: calls == 4 and stop.set(),
    )
    with caplog.at_level(logging.ERROR, logger="triage_desk.runners.loop"):
        _run_until_stopped(RunnerLoop(runner, FixedClock(SATURDAY)), stop)
    assert len(runner.nows) == 4
    failures = [r for r in caplog.records if "runner scripted failed" in r.getMessage()]
    assert len(failures) == 2 and failures[0].exc_info[1].args == ("database away",)


def test_wake_ends_an_idle_wait_and_stop_ends_the_loop():
    stop = asyncio.Event()
    holder: list[RunnerLoop] = []

    def wake_from_another_thread(calls: int) -> None:
        if calls == 1:  # nothing found: the loop is about to wait an hour
            threading.Thread(target=holder[0].wake).start()
        else:
            stop.set()

    runner = Scripted([0, 0], idle_seconds=3600, on_call=wake_from_another_thread)
    holder.append(RunnerLoop(runner, FixedClock(SATURDAY)))
    _run_until_stopped(holder[0], stop)
    assert len(runner.nows) == 2


def test_drive_stops_after_the_run_in_hand():
    stop = asyncio.Event()
    runner = Scripted([7, 7, 7], idle_seconds=3600, on_call=lambda calls: stop.set())

    async def main() -> None:
        await asyncio.wait_for(drive(runner, FixedClock(SATURDAY), stop), timeout=HANG)

    asyncio.run(main())
    assert len(runner.nows) == 1  # found work, but was asked to stop


@pytest.mark.parametrize(
    "semantic_stage, names",
    [
        ("deferred", ["inbound-queue", "dispatcher", "scheduler", "refiner"]),
        ("inline", ["inbound-queue", "dispatcher", "scheduler"]),
    ],
)
def test_triage_run_starts_every_runner_from_one_list(
    example_config, classifier, sqlite_url, semantic_stage, names
):
    from triage_desk.app import build_app
    from triage_desk.service import runners

    assert classifier.semantic  # else the refiner would have nothing to ask
    service = example_config.service.model_copy(update={"semantic_stage": semantic_stage})
    config = example_config.model_copy(update={"service": service})
    app = build_app(config, classifier=classifier, database_url=sqlite_url)
    try:
        found = runners(app)
    finally:
        app.engine.dispose()
    assert [r.name for r in found] == names
    assert isinstance(found[0], QueueRunner)
    assert found[0].processors["email"].intake is app.email_intake  # type: ignore[attr-defined]
    assert found[0].max_starts == config.email.max_processing_starts
    assert isinstance(found[1], DispatchRunner) and found[1].dispatcher is app.dispatcher
    assert found[1].idle_seconds == config.outbound.poll_seconds
    assert isinstance(found[2], Scheduler)
    assert all(isinstance(r, Refiner) for r in found[3:])


# The scheduler: two at once.


@pytest.fixture
def queued(database_url, example_config):
    """Five queued tickets (the last received first), due at Monday's opening, and two
    engines: two schedulers that share nothing but the database."""
    engines = [make_engine(database_url) for _ in range(2)]
    first, second = (make_session_factory(engine) for engine in engines)
    with first.begin() as session:
        requester = repo.get_or_create_requester(session, "email", "a@example.lv", "A")
        for n in range(5):
            session.add(
                Ticket(
                    number=f"MUN-2026-00000{n}",
                    desk="municipal",
                    requester=requester,
                    channel="email",
                    subject="s",
                    language="lv",
                    status=TicketStatus.QUEUED,
                    category="error",
                    received_at=SATURDAY + dt.timedelta(minutes=4 - n),
                    clock_start=MONDAY_0900_RIGA,
                )
            )
    yield engines, first, second, Desks(example_config)
    for engine in engines:
        engine.dispose()


def _releases(sessions) -> dict[str, int]:
    """How often each ticket was audited as released."""
    with sessions() as session:
        rows = session.execute(
            select(Ticket.number, func.count(AuditEvent.id))
            .outerjoin(
                AuditEvent,
                (AuditEvent.ticket_id == Ticket.id) & (AuditEvent.action == "released_from_queue"),
            )
            .group_by(Ticket.number)
        )
        return dict(rows.all())


def test_a_second_scheduler_cannot_take_tickets_the_first_holds(queued):
    """The second scheduler runs exactly while the first holds its claim (between reading
    the due tickets and writing their release): on PostgreSQL it passes over the locked
    tickets, on SQLite it cannot even begin (BEGIN IMMEDIATE; no busy wait here)."""
    (first_engine, second_engine), first, second, desks = queued
    dialect = first_engine.dialect.name
    if dialect == "sqlite":
        event.listen(
            second_engine,
            "connect",
            lambda connection, _record: connection.execute("PRAGMA busy_timeout=0"),
        )
    inner: list[object] = []

    def meanwhile(_conn, _cursor, statement, _params, _context, _many) -> None:
        if inner or "tickets.clock_start <=" not in statement:
            return
        try:
            inner.append(release_due_tickets(second, desks, MONDAY_0900_RIGA))
        except OperationalError as error:
            inner.append(error)

    event.listen(first_engine, "after_cursor_execute", meanwhile)
    released = release_due_tickets(first, desks, MONDAY_0900_RIGA)
    event.remove(first_engine, "after_cursor_execute", meanwhile)

    [what_the_second_did] = inner
    if dialect == "sqlite":
        assert isinstance(what_the_second_did, OperationalError)
        assert "database is locked" in str(what_the_second_did)
    else:
        assert what_the_second_did == []
    assert [r.number[-1] for r in released] == ["4", "3", "2", "1", "0"]  # oldest first
    assert release_due_tickets(second, desks, MONDAY_0900_RIGA) == []
    assert _releases(first) == {f"MUN-2026-00000{n}": 1 for n in range(5)}


def test_two_schedulers_at_once_release_and_audit_each_ticket_once(queued):
    _engines, first, second, desks = queued
    start = threading.Barrier(2, timeout=HANG)
    results: list[list[str]] = []
    errors: list[BaseException] = []

    def scheduler(sessions) -> None:
        try:
            start.wait()
            results.append(
                [r.number for r in release_due_tickets(sessions, desks, MONDAY_0900_RIGA)]
            )
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=scheduler, args=(s,)) for s in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    one, other = results
    assert set(one).isdisjoint(other) and len(one) + len(other) == 5
    assert _releases(first) == {f"MUN-2026-00000{n}": 1 for n in range(5)}
    with first() as session:
        assert set(session.scalars(select(Ticket.status))) == {TicketStatus.OPEN}
