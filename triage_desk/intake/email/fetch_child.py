"""`triage fetch --once` with the mailboxes read by a process of its own.

fetch --once is a fresh process, and most of its start-up (imports, the model, the app and
its prepare worker) runs on one core. Reading the mailboxes into the inbound queue needs
none of that, so once the database is ready the command forks a child that fetches
(``imap_listener.fetch_once``, queueing only) while this process builds the app; this
process then stores what the child has queued, after each of its commits, until the child
is done (``FetchingChild.store_until_done``).

Nothing changes for safety: the child commits queue rows and flags what it committed, as
the fetch always did; this process stores rows and deletes them in one transaction. If
either dies, what was queued stays queued for the next run.
"""

from __future__ import annotations

import gc
import logging
import multiprocessing
import os
import signal
import time
from collections.abc import Sequence
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any

from triage_desk.config import Config

if TYPE_CHECKING:
    from triage_desk.intake.email.imap_listener import MailboxResult, StoreQueued

log = logging.getLogger(__name__)

_COMMITTED = "committed"
# While the child is quiet (logging in, a large FETCH), look again this often.
POLL_SECONDS = 0.5


class FetchingChild:
    """The child process reading the mailboxes, seen from the parent."""

    def __init__(
        self, process: Any, connection: Connection, mailboxes: list[tuple[str, str]]
    ) -> None:
        self.process = process
        self.connection = connection
        self.mailboxes = mailboxes  # (mailbox, desk) the child reads

    @classmethod
    def start(cls, config: Config, database_url: str, names: Sequence[str] = ()) -> FetchingChild:
        """Fork the child; call before this process starts any thread (a child inherits only
        the forking thread, and any lock another one held stays held)."""
        context = multiprocessing.get_context("fork")
        ours, theirs = context.Pipe(duplex=False)
        process = context.Process(
            target=_fetch_in_child,
            args=(config, database_url, tuple(names), theirs, ours),
            name="triage-fetch",
        )
        process.start()
        theirs.close()
        mailboxes = [
            (mailbox.name, desk_name)
            for desk_name, desk in config.desks.items()
            for mailbox in desk.mailboxes
            if not names or mailbox.name in names
        ]
        return cls(process, ours, mailboxes)

    def stop(self) -> None:
        """End the child (this process failed to start): what it queued stays queued."""
        self.process.terminate()
        self.process.join()
        self.connection.close()

    def store_until_done(self, store: StoreQueued) -> list[MailboxResult]:
        """Run ``store`` (the queue runner's drain: each stored item and its outcome) after
        each commit of the child and once more when it is done; return each mailbox's
        result with what was stored counted in (``imap_listener.MailboxResult``)."""
        from triage_desk.intake.email.imap_listener import count_stored

        outcomes: list[Any] = []
        try:
            while (done := self._wait()) is None:
                try:
                    outcomes.extend(store())
                except Exception:  # the database is away, say: once more at the end
                    log.exception("storing behind the fetch failed; trying again once done")
        except BaseException:  # Ctrl+C, say: the fetching stops with this process
            self.stop()
            raise
        self.process.join()
        results, fetched_at = done
        outcomes.extend(store())
        # Each mailbox's time: its fetching, and a share of the storing after it.
        count_stored(results, outcomes, max(time.monotonic() - fetched_at, 0.0))
        return results

    def _wait(self) -> tuple[list[MailboxResult], float] | None:
        """Until the child commits (None) or is done (its results, and when: the monotonic
        clock is the system's, the same in both processes)."""
        try:
            self.connection.poll(POLL_SECONDS)
            while self.connection.poll(0):
                message = self.connection.recv()
                if message != _COMMITTED:
                    results, fetched_at = message
                    return list(results), fetched_at
        except (EOFError, OSError):
            return self._lost(), time.monotonic()
        return None

    def _lost(self) -> list[MailboxResult]:
        """The child went without its results (killed, or out of memory): every mailbox it
        had counts as failed; what it queued is stored all the same."""
        from triage_desk.intake.email.imap_listener import FetchStats, MailboxResult

        self.process.join()
        error = f"the fetching process ended with exit code {self.process.exitcode}"
        return [
            MailboxResult(name, desk, FetchStats(), 0.0, error) for name, desk in self.mailboxes
        ]


def _fetch_in_child(
    config: Config,
    database_url: str,
    names: tuple[str, ...],
    connection: Connection,
    parent_side: Connection,
) -> None:
    parent_side.close()
    # Ctrl+C reaches the whole process group; the parent decides (it stores what is queued).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    gc.enable()  # the parent's start-up had paused it
    code = 0
    try:
        from triage_desk.clock import system_clock
        from triage_desk.intake.email.imap_listener import fetch_once
        from triage_desk.intake.queue import InboundQueue
        from triage_desk.storage.db import make_engine, make_session_factory

        # An engine of its own: connections must not be shared across a fork.
        sessions = make_session_factory(make_engine(database_url))
        queue = InboundQueue(sessions, system_clock)
        results = fetch_once(config, queue, names=names, wake=lambda: connection.send(_COMMITTED))
        connection.send((results, time.monotonic()))
    except BaseException:
        log.exception("fetching the mailboxes failed")
        code = 1
    finally:
        # No interpreter shutdown: it would finalise what the parent built before the fork.
        os._exit(code)
