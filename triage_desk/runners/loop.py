"""The one loop that drives a runner: back to back while it finds work, then idle."""

from __future__ import annotations

import asyncio
import logging
import threading

from triage_desk.clock import Clock
from triage_desk.runners.runner import Runner

log = logging.getLogger(__name__)


class RunnerLoop:
    """Drives one runner until ``stop``; ``wake`` (from any thread) ends an idle wait early."""

    def __init__(self, runner: Runner, clock: Clock) -> None:
        self.runner = runner
        self.clock = clock
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def wake(self) -> None:
        """Run again now rather than after the idle interval (new work was just committed)."""
        if self._loop is not None and self._wake is not None:
            self._loop.call_soon_threadsafe(self._wake.set)

    async def run(self, stop: asyncio.Event) -> None:
        self._loop, self._wake = asyncio.get_running_loop(), asyncio.Event()
        runner = self.runner
        while not stop.is_set():
            self._wake.clear()
            done = 0
            try:
                # In a thread: a run blocks on the database and the network.
                done = await asyncio.to_thread(runner.run_once, self.clock())
            except Exception:
                log.exception(
                    "runner %s failed; it runs again in %s s", runner.name, runner.idle_seconds
                )
            if done:
                continue  # more may be waiting: no pause while a queue has work
            await _first(stop, self._wake, runner.idle_seconds)


async def drive(runner: Runner, clock: Clock, stop: asyncio.Event) -> None:
    """Run ``runner`` until ``stop`` is set (after the run in hand)."""
    await RunnerLoop(runner, clock).run(stop)


async def _first(stop: asyncio.Event, wake: asyncio.Event, seconds: float) -> None:
    """Wait until ``stop`` or ``wake`` is set, or ``seconds`` have passed."""
    waits = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(wake.wait())]
    try:
        await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiting in waits:
            waiting.cancel()


class RunnerThread:
    """Drives one runner in a thread of its own, for a synchronous front end (``triage
    fetch`` listening): the same rhythm as ``RunnerLoop``."""

    def __init__(self, runner: Runner, clock: Clock) -> None:
        self.runner = runner
        self.clock = clock
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=runner.name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 60.0) -> None:
        """Stop after the run in hand."""
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=timeout)

    def _run(self) -> None:
        runner = self.runner
        while not self._stop.is_set():
            self._wake.clear()
            done = 0
            try:
                done = runner.run_once(self.clock())
            except Exception:
                log.exception(
                    "runner %s failed; it runs again in %s s", runner.name, runner.idle_seconds
                )
            if not done:
                self._wake.wait(timeout=runner.idle_seconds)
