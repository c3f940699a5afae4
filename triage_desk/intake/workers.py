"""Forked worker processes for the per-mail work that needs no database (``intake.prepare``).

Parsing, classifying and looking up suggestions are about half of a mail's Python time and
read nothing from the database, but threads cannot share that work out (the interpreter
lock), so a worker process does it for the next batch while the main process stores the one
before. Workers are forked once the model and the knowledge base are loaded: they share
them copy-on-write and start at once. They only ever return results; everything that
commits stays in the main process, so a worker that dies or hangs loses nothing: its
batches are prepared again in the main process (``EmailIntake.finish``).
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import multiprocessing
import os
import queue
import signal
import threading
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import replace
from multiprocessing.connection import Connection
from typing import Any

from triage_desk.intake.prepare import MailPreparer, Prepared, RawMail

log = logging.getLogger(__name__)


class WorkerLost(Exception):
    """No worker can take (or finish) the batch: prepare it in the main process instead."""


class WorkerFailed(Exception):
    """The worker raised while preparing the batch (the main process will see why again)."""


def fork_is_safe() -> bool:
    """Whether a worker forked now can detect languages: lingua's thread pool does not
    survive fork, so a child of a process that already built the detector waits forever
    for threads it does not have. Fork before the first message is classified."""
    from triage_desk.classifier import language

    built = getattr(getattr(language, "_detector", None), "cache_info", None)
    return built is not None and built().currsize == 0


def default_processes() -> int:
    """One worker where there is a second core to run it on; none on a single core."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    return 1 if cores > 1 else 0


class _Worker:
    """One forked process, the main side of its pipe, and the batches it has not answered."""

    def __init__(self, process: Any, connection: Connection) -> None:
        self.process = process
        self.connection = connection
        self.pending: dict[int, Future[list[Prepared]]] = {}
        self.alive = True
        self.state_lock = threading.Lock()  # pending and alive
        # Requests go out from a thread of their own: a busy worker reads its next batch
        # only when done with the last, and the pipe holds far less than a batch.
        self.outbox: queue.SimpleQueue[tuple[int, list[RawMail]] | None] = queue.SimpleQueue()
        self.reader = threading.Thread(target=self._read, name="prepare-worker-reader", daemon=True)
        self.sender = threading.Thread(target=self._send, name="prepare-worker-sender", daemon=True)

    def start(self) -> None:
        self.reader.start()
        self.sender.start()

    def _send(self) -> None:
        while True:
            request = self.outbox.get()
            try:
                self.connection.send(request)
            except (OSError, ValueError) as exc:
                self.fail(WorkerLost(f"prepare worker {self.process.pid}: {exc}"))
                return
            if request is None:
                return

    def _read(self) -> None:
        """Hand each answer to its future; when the pipe closes, fail what is left."""
        while True:
            try:
                ident, ok, value = self.connection.recv()
            except (EOFError, OSError):
                break
            except Exception:  # an answer that cannot be unpickled: treat as failed
                log.exception("unreadable answer from prepare worker %s", self.process.pid)
                break
            with self.state_lock:
                future = self.pending.pop(ident, None)
            if future is None:
                continue
            if ok:
                future.set_result(value)
            else:
                future.set_exception(WorkerFailed(value))
        self.fail(WorkerLost(f"prepare worker {self.process.pid} went away"))

    def fail(self, error: Exception) -> None:
        with self.state_lock:
            self.alive = False
            pending, self.pending = self.pending, {}
        for future in pending.values():
            if not future.done():
                future.set_exception(error)


class PrepareWorkers:
    """``processes`` forked workers running ``preparer.prepare``; batches in, futures out."""

    def __init__(
        self, preparer: MailPreparer, processes: int = 1, warm_desks: Sequence[str] = ()
    ) -> None:
        context = multiprocessing.get_context("fork")
        self._ids = itertools.count()
        self._workers: list[_Worker] = []
        for _ in range(processes):
            ours, theirs = context.Pipe()
            # The child closes the main side of every pipe, so that it sees EOF (and exits)
            # when the main process goes away, whatever happens to it.
            others = [w.connection for w in self._workers] + [ours]
            process = context.Process(
                target=_serve,
                args=(preparer, theirs, others, tuple(warm_desks)),
                name="triage-prepare",
                daemon=True,
            )
            process.start()
            theirs.close()
            worker = _Worker(process, ours)
            worker.start()
            self._workers.append(worker)

    @property
    def pids(self) -> list[int]:
        return [int(worker.process.pid) for worker in self._workers]

    @property
    def outstanding(self) -> int:
        """Batches sent and not yet answered, over all workers."""
        return sum(len(worker.pending) for worker in self._workers)

    @property
    def alive(self) -> int:
        return sum(1 for worker in self._workers if worker.alive)

    def submit(self, mails: Sequence[RawMail]) -> Future[list[Prepared]]:
        """Send a batch to the least busy worker; ``WorkerLost`` when none is left."""
        ident = next(self._ids)
        for worker in sorted(self._workers, key=lambda w: len(w.pending)):
            future: Future[list[Prepared]] = Future()
            with worker.state_lock:
                if not worker.alive:
                    continue
                worker.pending[ident] = future
            worker.outbox.put((ident, list(mails)))
            return future
        raise WorkerLost("no prepare worker is running")

    def stop(self, pid: int) -> None:
        """End one worker (one that overran its time): its batches fail with WorkerLost."""
        for worker in self._workers:
            if worker.process.pid == pid and worker.process.is_alive():
                worker.process.kill()

    def worker_of(self, future: Future[list[Prepared]]) -> int | None:
        """The pid of the worker a batch was sent to, while it is unanswered."""
        for worker in self._workers:
            with worker.state_lock:
                if any(f is future for f in worker.pending.values()):
                    return int(worker.process.pid)
        return None

    def close(self, timeout: float = 10.0) -> None:
        for worker in self._workers:
            worker.outbox.put(None)
        for worker in self._workers:
            worker.sender.join(timeout)
            worker.process.join(timeout)
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join(timeout)
            worker.connection.close()
            worker.reader.join(timeout)


def _raw_set(prepared: Prepared, raw: bytes | None) -> Prepared:
    if prepared.triaged is None:
        return prepared
    inbound = replace(prepared.triaged.inbound, raw=raw)
    return replace(prepared, triaged=replace(prepared.triaged, inbound=inbound))


def without_raw(prepared: list[Prepared]) -> list[Prepared]:
    """The main process has each raw mail already: not sent back (``with_raw`` restores)."""
    return [_raw_set(p, None) for p in prepared]


def with_raw(prepared: list[Prepared], mails: Sequence[RawMail]) -> list[Prepared]:
    """``prepared`` (from ``without_raw``) with the raw mails put back, one per mail."""
    return [_raw_set(p, mail.raw) for p, mail in zip(prepared, mails, strict=True)]


def _serve(
    preparer: MailPreparer,
    connection: Connection,
    others: list[Connection],
    warm_desks: tuple[str, ...],
) -> None:
    """The worker: prepare each batch it is sent and send the result back, until told to stop
    or the main process goes away."""
    for other in others:
        other.close()
    # Ctrl+C and the service's signal handling belong to the main process, which stops us.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    with contextlib.suppress(ValueError):  # ValueError: not the main thread
        signal.set_wakeup_fd(-1)  # the event loop's wake-up socket is the main process's
    try:
        # Meanwhile the main process connects and fetches the first mails.
        preparer.warm_up(warm_desks)
    except Exception:  # then the first batch loads what it needs
        log.exception("prepare worker warm-up failed")
    while True:
        try:
            request = connection.recv()
        except (EOFError, OSError):
            return
        if request is None:
            return
        ident, mails = request
        try:
            answer: tuple[int, bool, Any] = (ident, True, without_raw(preparer.prepare(mails)))
        except BaseException as exc:  # reported; the main process prepares the batch itself
            answer = (ident, False, f"{type(exc).__name__}: {exc}")
        try:
            connection.send(answer)
        except (EOFError, OSError):
            return
        except Exception as exc:  # a result that does not pickle
            connection.send((ident, False, f"{type(exc).__name__}: {exc}"))
