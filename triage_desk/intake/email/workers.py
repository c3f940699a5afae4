"""Forked worker processes for the per-mail work that needs no database (``intake.email.prepare``).

Parsing, classifying and looking up suggestions are about half of a mail's Python time and
read nothing from the database, but threads cannot share that work out (the interpreter
lock), so a worker process does it for the next batch while the main process stores the one
before. They only ever return results; everything that commits stays in the main process, so
a worker that dies or hangs loses nothing.

Workers are forked once the model and the knowledge base are loaded: they share them
copy-on-write and start at once. But the main process cannot fork again later: it has
threads by then (a child inherits only the forking one, and any lock another thread held
stays held), and lingua's thread pool, once the main process has detected a language, does
not survive a fork (``fork_is_safe``). So the main process forks one *forker* at the start,
while a fork is safe; the forker never prepares anything and has no thread, and forks every
worker, the first ones and each replacement of a worker that died. It passes the main
process the worker's end of the pipe (and a pidfd, to signal exactly that process).

A worker tells the main process when it begins a batch: when it dies, the batch it had
begun is known (``WorkerLost.started``) from the ones only queued behind it.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import multiprocessing
import os
import queue
import signal
import socket
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import replace
from multiprocessing.connection import Connection
from typing import Any

from triage_desk.intake.email.prepare import MailPreparer, Prepared, RawMail

log = logging.getLogger(__name__)

# Workers in a row that die before they begin any batch (they cannot even start, say):
# then no more are forked and mail is prepared in the main process.
MAX_FRUITLESS_WORKERS = 3
FORK_TIMEOUT_SECONDS = 30.0
_STARTED, _DONE, _FAILED = "started", "done", "failed"


class WorkerLost(Exception):
    """No worker can take (or finish) the batch.

    ``started``: the worker had begun this batch when it went (so the batch may be what
    killed it); otherwise the batch was only waiting behind another one.
    """

    def __init__(self, message: str, started: bool = False) -> None:
        super().__init__(message)
        self.started = started


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


# Told how many mails a worker prepared and in how many seconds (``share.WorkShare``).
OnPrepared = Callable[[int, float], None]


class _Worker:
    """One worker process, the main side of its pipe, and the batches it has not answered."""

    def __init__(
        self,
        pid: int,
        connection: Connection,
        pidfd: int | None,
        on_prepared: OnPrepared | None = None,
    ) -> None:
        self.pid = pid
        self.on_prepared = on_prepared
        self.connection = connection
        self.pidfd = pidfd  # signals this process and no other, whatever reuses its pid
        self.pending: dict[int, Future[list[Prepared]]] = {}
        self.started: set[int] = set()  # pending batches the worker said it began
        self.alive = True
        self.answered = 0
        self.stopped = False  # ended by us (it overran), not dead by itself
        self.died_in_batch = False
        self.state_lock = threading.Lock()  # pending, started, alive
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
                self.fail(f"prepare worker {self.pid}: {exc}")
                return
            if request is None:
                return

    def _read(self) -> None:
        """Hand each answer to its future; when the pipe closes, fail what is left."""
        while True:
            try:
                ident, kind, value = self.connection.recv()
            except (EOFError, OSError):
                break
            except Exception:  # an answer that cannot be unpickled: treat as failed
                log.exception("unreadable answer from prepare worker %s", self.pid)
                break
            with self.state_lock:
                if kind == _STARTED:
                    self.started.add(ident)
                    continue
                self.started.discard(ident)
                future = self.pending.pop(ident, None)
                self.answered += 1
            if future is None:
                continue
            if kind == _DONE:
                prepared, seconds = value
                if self.on_prepared is not None:
                    self.on_prepared(len(prepared), seconds)
                future.set_result(prepared)
            else:
                future.set_exception(WorkerFailed(value))
        self.fail(f"prepare worker {self.pid} went away")

    def fail(self, message: str) -> None:
        """The worker is gone: each batch it had fails, saying whether it had begun it."""
        with self.state_lock:
            self.alive = False
            pending, self.pending = self.pending, {}
            started, self.started = self.started, set()
            if started:
                self.died_in_batch = True
        for ident, future in pending.items():
            if not future.done():
                future.set_exception(WorkerLost(message, started=ident in started))

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError, OSError):
            if self.pidfd is not None:
                signal.pidfd_send_signal(self.pidfd, signal.SIGKILL)
            elif self.alive:
                os.kill(self.pid, signal.SIGKILL)

    def release(self, timeout: float) -> None:
        """Wait for the process to close its pipe (killed when it does not), free the rest."""
        self.outbox.put(None)  # the sender's last request, if it still waits for one
        self.sender.join(timeout)
        self.reader.join(timeout)
        if self.reader.is_alive():
            self.kill()
            self.reader.join(timeout)
        self.connection.close()
        if self.pidfd is not None:
            os.close(self.pidfd)
            self.pidfd = None


class _Forker:
    """The main side of the forker process: ``fork()`` gives a new worker."""

    def __init__(self, preparer: MailPreparer, warm_desks: Sequence[str]) -> None:
        context = multiprocessing.get_context("fork")
        ours, theirs = context.Pipe()
        self.process = context.Process(
            target=_fork_workers,
            args=(preparer, theirs, ours, tuple(warm_desks)),
            name="triage-prepare-forker",
            daemon=True,
        )
        self.process.start()
        theirs.close()
        self.connection = ours
        self.lock = threading.Lock()
        self.broken = False  # it once did not answer: a late answer would be misread

    def fork(self, on_prepared: OnPrepared | None = None) -> _Worker:
        """A new worker, started; ``WorkerLost`` when none can be had."""
        with self.lock:
            if self.broken:
                raise WorkerLost("the prepare worker forker stopped answering")
            try:
                self.connection.send("fork")
                if not self.connection.poll(FORK_TIMEOUT_SECONDS):
                    self.broken = True
                    raise WorkerLost("the prepare worker forker does not answer")
                answer = self.connection.recv()
                if not isinstance(answer, int):
                    raise WorkerLost(f"no prepare worker could be forked: {answer}")
                with socket.fromfd(
                    self.connection.fileno(), socket.AF_UNIX, socket.SOCK_STREAM
                ) as channel:
                    _message, fds, _flags, _address = socket.recv_fds(channel, 1, 2)
            except (EOFError, OSError, ValueError) as exc:
                raise WorkerLost(f"the prepare worker forker is gone ({exc})") from exc
        if not fds:
            raise WorkerLost("the prepare worker forker sent no pipe")
        worker = _Worker(answer, Connection(fds[0]), fds[1] if len(fds) > 1 else None, on_prepared)
        worker.start()
        return worker

    def close(self, timeout: float) -> None:
        with self.lock, contextlib.suppress(OSError, ValueError):
            self.connection.send(None)
        self.process.join(timeout)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(timeout)
        self.connection.close()


class PrepareWorkers:
    """``processes`` forked workers running ``preparer.prepare``; batches in, futures out.

    A worker that dies is replaced at the next ``submit`` (see ``MAX_FRUITLESS_WORKERS``).
    """

    def __init__(
        self,
        preparer: MailPreparer,
        processes: int = 1,
        warm_desks: Sequence[str] = (),
        on_prepared: OnPrepared | None = None,
    ) -> None:
        """``on_prepared``: told of each batch a worker prepared, from the thread reading it."""
        self._ids = itertools.count()
        self._on_prepared = on_prepared
        self._forker = _Forker(preparer, warm_desks)
        self._workers: list[_Worker] = []
        self._lock = threading.Lock()  # the list of workers, replacing them
        self._fruitless = 0
        self.replaced = 0
        try:
            for _ in range(processes):
                self._workers.append(self._forker.fork(on_prepared))
        except WorkerLost:
            self.close()
            raise

    @property
    def pids(self) -> list[int]:
        """The workers running now (a dead one's replacement has a new pid)."""
        return [worker.pid for worker in self._workers if worker.alive]

    @property
    def outstanding(self) -> int:
        """Batches sent and not yet answered, over all workers."""
        return sum(len(worker.pending) for worker in self._workers)

    @property
    def alive(self) -> int:
        return sum(1 for worker in self._workers if worker.alive)

    def submit(self, mails: Sequence[RawMail]) -> Future[list[Prepared]]:
        """Send a batch to the least busy worker, replacing dead ones first; ``WorkerLost``
        when none is left and none can be forked."""
        self.replace_dead()
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

    def replace_dead(self) -> None:
        """Fork a new worker for each one that is gone, unless workers keep dying before
        they begin any work: then the gone ones are only removed."""
        with self._lock:
            for index, worker in enumerate(self._workers):
                if worker.alive:
                    continue
                if worker.answered or worker.stopped or worker.died_in_batch:
                    self._fruitless = 0  # it worked, or a batch (not the worker) killed it
                else:
                    self._fruitless += 1
                worker.release(timeout=1.0)
                if self._fruitless >= MAX_FRUITLESS_WORKERS:
                    log.error(
                        "%d prepare workers in a row died before beginning any work; "
                        "forking no more",
                        self._fruitless,
                    )
                    self._workers = [w for w in self._workers if w.alive]
                    return
                try:
                    self._workers[index] = self._forker.fork(self._on_prepared)
                except WorkerLost as exc:
                    log.error("%s", exc)
                    self._workers = [w for w in self._workers if w.alive]
                    return
                self.replaced += 1
                log.warning(
                    "prepare worker %d is gone; worker %d replaces it",
                    worker.pid,
                    self._workers[index].pid,
                )

    def stop(self, pid: int) -> None:
        """End one worker (one that overran its time): its batches fail with WorkerLost."""
        for worker in self._workers:
            if worker.pid == pid and worker.alive:
                worker.stopped = True
                worker.kill()
                worker.fail(f"prepare worker {pid} was stopped")

    def worker_of(self, future: Future[list[Prepared]]) -> int | None:
        """The pid of the worker a batch was sent to, while it is unanswered."""
        for worker in self._workers:
            with worker.state_lock:
                if any(f is future for f in worker.pending.values()):
                    return worker.pid
        return None

    def close(self, timeout: float = 10.0) -> None:
        for worker in self._workers:
            worker.outbox.put(None)
        self._forker.close(timeout)
        for worker in self._workers:
            worker.release(timeout)
        self._workers = []


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


def _quiet_signals() -> None:
    # Ctrl+C and the service's signal handling belong to the main process, which stops us.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    with contextlib.suppress(ValueError):  # ValueError: not the main thread
        signal.set_wakeup_fd(-1)  # the event loop's wake-up socket is the main process's


def _reap() -> None:
    """Collect the workers that have ended (the forker is their parent)."""
    with contextlib.suppress(ChildProcessError):
        while os.waitpid(-1, os.WNOHANG)[0]:
            pass


def _fork_workers(
    preparer: MailPreparer,
    connection: Connection,
    main_side: Connection,
    warm_desks: tuple[str, ...],
) -> None:
    """The forker: on each request, fork a worker and send the main process its end of the
    worker's pipe; until told to stop or the main process goes away."""
    main_side.close()
    _quiet_signals()
    while True:
        try:
            ready = connection.poll(1.0)
            _reap()
            if not ready:
                continue
            request = connection.recv()
        except (EOFError, OSError):
            return
        if request is None:
            return
        if not fork_is_safe():  # nothing here classifies; should it ever, say so
            connection.send("the forker's language detector is loaded")
            continue
        ours, theirs = socket.socketpair()
        try:
            pid = os.fork()
        except OSError as exc:  # out of memory or processes, say: the main process goes on
            ours.close()
            theirs.close()
            connection.send(f"{type(exc).__name__}: {exc}")
            continue
        if pid == 0:  # the worker
            code = 0
            try:
                connection.close()
                ours.close()
                _serve(preparer, Connection(theirs.detach()), warm_desks)
            except BaseException:
                log.exception("prepare worker %d failed", os.getpid())
                code = 1
            finally:
                os._exit(code)
        theirs.close()
        pidfd = os.pidfd_open(pid) if hasattr(os, "pidfd_open") else None
        try:
            connection.send(pid)
            with socket.fromfd(connection.fileno(), socket.AF_UNIX, socket.SOCK_STREAM) as out:
                fds = [ours.fileno()] if pidfd is None else [ours.fileno(), pidfd]
                socket.send_fds(out, [b"w"], fds)
        except (EOFError, OSError):
            return
        finally:
            # Only the main process keeps the worker's pipe open: when it goes, the worker
            # sees the pipe close, and ends.
            ours.close()
            if pidfd is not None:
                os.close(pidfd)


def _serve(preparer: MailPreparer, connection: Connection, warm_desks: tuple[str, ...]) -> None:
    """The worker: prepare each batch it is sent and send the result back, until told to stop
    or the main process goes away."""
    _quiet_signals()
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
            connection.send((ident, _STARTED, None))
        except (EOFError, OSError):
            return
        try:
            started = time.perf_counter()
            prepared = without_raw(preparer.prepare(mails))
            answer: tuple[int, str, Any] = (ident, _DONE, (prepared, time.perf_counter() - started))
        except BaseException as exc:  # reported; the main process prepares the batch itself
            answer = (ident, _FAILED, f"{type(exc).__name__}: {exc}")
        try:
            connection.send(answer)
        except (EOFError, OSError):
            return
        except Exception as exc:  # a result that does not pickle
            connection.send((ident, _FAILED, f"{type(exc).__name__}: {exc}"))
