"""Group commit for listeners: mails that arrive together are stored in one transaction.

A listener's connections hand their mail to ``IngestBatcher.submit`` and wait for the
outcome; one worker thread takes everything that queued up while it was busy and stores it
in one go. Under light load a batch is a single mail, so nobody waits for company; under
load the per-mail cost of classifying and committing is shared by the whole batch.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

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

    def _process(
        self, batch: list[tuple[Item, asyncio.Future[Outcome], asyncio.AbstractEventLoop]]
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
