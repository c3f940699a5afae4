"""Group commit for listeners: mails that arrive together are stored in one transaction.

A listener's connections hand their mail to ``IngestBatcher.submit`` and wait for the
outcome; one worker thread takes everything that queued up while it was busy and stores it
in one go. Under light load a batch is a single mail, so nobody waits for company; under
load the per-mail cost of classifying and committing is shared by the whole batch.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

log = logging.getLogger(__name__)

Item = TypeVar("Item")
Outcome = TypeVar("Outcome")
_STOP = object()


class IngestBatcher(Generic[Item, Outcome]):
    def __init__(
        self,
        process_many: Callable[[Sequence[Item]], list[Outcome]],
        max_batch: int = 64,
        name: str = "ingest-batcher",
    ) -> None:
        self.process_many = process_many
        self.max_batch = max_batch
        self._queue: queue.Queue[object] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    async def submit(self, item: Item) -> Outcome:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Outcome] = loop.create_future()
        self._queue.put((item, future, loop))
        return await future

    def close(self) -> None:
        self._queue.put(_STOP)
        self._thread.join(timeout=30)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is _STOP:
                return
            batch = [first]
            stop = False
            while len(batch) < self.max_batch:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is _STOP:
                    stop = True
                    break
                batch.append(more)
            self._process(batch)  # type: ignore[arg-type]
            if stop:
                return

    def _process(self, batch: list[tuple[Item, asyncio.Future[Outcome], asyncio.AbstractEventLoop]]
                 ) -> None:
        items = [item for item, _future, _loop in batch]
        try:
            outcomes: list[Outcome | BaseException] = list(self.process_many(items))
        except Exception:
            if len(batch) == 1:
                log.exception("storing a mail failed")
                outcomes = [RuntimeError("storing the mail failed")]
            else:
                # One bad mail must not fail its neighbours: retry them one by one.
                outcomes = []
                for item in items:
                    try:
                        outcomes.extend(self.process_many([item]))
                    except Exception as exc:
                        log.exception("storing a mail failed")
                        outcomes.append(exc)
        for (_item, future, loop), outcome in zip(batch, outcomes, strict=True):
            loop.call_soon_threadsafe(_resolve, future, outcome)


def _resolve(future: asyncio.Future[Outcome], outcome: Outcome | BaseException) -> None:
    if future.done():  # the connection went away meanwhile
        return
    if isinstance(outcome, BaseException):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)


class PreparingBatcher(Generic[Item, Outcome]):
    """Group commit with the next mails prepared while the last ones are stored.

    ``begin`` hands a batch to a prepare worker and returns at once (``EmailIntake.begin``);
    ``finish_all`` stores begun batches in one transaction (``EmailIntake.finish_all``). One
    thread hands over whatever queued, one batch at a time, so batches grow with the load
    rather than fragment; another stores every batch that has been handed over, together,
    and answers the submitters. A failed store is retried mail by mail (``process_many``),
    as in ``IngestBatcher``.
    """

    def __init__(
        self,
        begin: Callable[[Sequence[Item]], Any],
        finish_all: Callable[[Sequence[Any]], list[Outcome]],
        process_many: Callable[[Sequence[Item]], list[Outcome]],
        max_batch: int = 64,
        name: str = "ingest-batcher",
    ) -> None:
        self.begin = begin
        self.finish_all = finish_all
        self.process_many = process_many
        self.max_batch = max_batch
        self._queue: queue.Queue[object] = queue.Queue()
        self._begun: queue.Queue[object] = queue.Queue()
        self._handing = threading.Thread(target=self._hand_over, name=f"{name}-prepare",
                                         daemon=True)
        self._storing = threading.Thread(target=self._store, name=name, daemon=True)
        self._handing.start()
        self._storing.start()

    async def submit(self, item: Item) -> Outcome:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Outcome] = loop.create_future()
        self._queue.put((item, future, loop))
        return await future

    def close(self) -> None:
        self._queue.put(_STOP)
        self._handing.join(timeout=30)
        self._storing.join(timeout=30)

    def _hand_over(self) -> None:
        while True:
            batch, stop = _take(self._queue, self.max_batch)
            if batch:
                items = [item for item, _future, _loop in batch]
                try:
                    pending = self.begin(items)
                except Exception as exc:  # stored (or failed) mail by mail
                    log.exception("preparing a batch failed")
                    pending = exc
                self._begun.put((batch, pending))
                # One batch in the worker at a time: what arrives meanwhile joins the next.
                wait = getattr(pending, "future", None)
                if wait is not None:
                    with contextlib.suppress(Exception):
                        wait.exception()
            if stop:
                self._begun.put(_STOP)
                return

    def _store(self) -> None:
        while True:
            begun, stop = _take(self._begun, self.max_batch)
            if begun:
                self._finish(begun)
            if stop:
                return

    def _finish(self, begun: list[tuple[list[Any], Any]]) -> None:
        batch = [entry for entries, _pending in begun for entry in entries]
        pendings = [pending for _entries, pending in begun]
        try:
            if any(isinstance(p, BaseException) for p in pendings):
                raise RuntimeError("a batch could not be handed over")
            outcomes: list[Outcome | BaseException] = list(self.finish_all(pendings))
        except Exception:
            if len(batch) == 1:
                log.exception("storing a mail failed")
                outcomes = [RuntimeError("storing the mail failed")]
            else:
                outcomes = []
                for item, _future, _loop in batch:
                    try:
                        outcomes.extend(self.process_many([item]))
                    except Exception as exc:
                        log.exception("storing a mail failed")
                        outcomes.append(exc)
        for (_item, future, loop), outcome in zip(batch, outcomes, strict=True):
            loop.call_soon_threadsafe(_resolve, future, outcome)


def _take(source: queue.Queue[object], limit: int) -> tuple[list[Any], bool]:
    """The next entry (waiting for it) and whatever else is queued, up to ``limit``; and
    whether the stop mark came."""
    first = source.get()
    if first is _STOP:
        return [], True
    taken = [first]
    while len(taken) < limit:
        try:
            more = source.get_nowait()
        except queue.Empty:
            break
        if more is _STOP:
            return taken, True
        taken.append(more)
    return taken, False
