"""IMAP intake: every configured mailbox read into the inbound queue, losing nothing.

The order for each fetched batch is the whole guarantee:

1. FETCH ``BODY.PEEK[]`` + ``INTERNALDATE`` (PEEK: fetching alone never sets ``\\Seen``);
2. one transaction commits the mails as inbound queue rows (``intake/queue.py``) and advances
   the folder's checkpoint (UIDVALIDITY + last UID);
3. the mails are flagged ``\\Seen`` + ``$TriageDesk`` on the server, or moved away;
4. the queue runner (``runners/queue.py``) stores them as tickets and deletes the rows.

A crash before 2 leaves the mail unread by us: it is fetched again. A crash between 2 and 3
leaves a queued mail unmarked: the next pass marks every mail at or below the checkpoint that
still lacks the mark. A crash in 4 leaves the rows, which the next run stores; the
pipeline's Message-ID dedup makes a second storing a no-op. Two processes on the same
mailbox may both queue a mail; dedup keeps that to one ticket, and checkpoints only ever move
forward.

The INTERNALDATE (when the server received the mail) is passed on as ``received_at``, so old
mail found in a newly connected mailbox is imported with its real age and the pipeline can
decline to acknowledge it.
"""

from __future__ import annotations

import datetime as dt
import logging
import queue
import random
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any

from imapclient import IMAPClient

from triage_desk.clock import Clock, system_clock
from triage_desk.config import Config, MailboxConfig
from triage_desk.intake.email.raw import RawMail, arrival_of
from triage_desk.intake.queue import Arrival, InboundQueue
from triage_desk.storage import checkpoints

log = logging.getLogger(__name__)

KEYWORD = "$TriageDesk"  # our mark on a committed mail; mails carrying it are never re-read
SEEN = "\\Seen"
DELETED = "\\Deleted"
# RFC 2177: a server may drop a client that has been idle for 30 minutes; re-IDLE before.
MAX_IDLE_SECONDS = 25 * 60
# One fetched batch is at most this many bytes (and at most batch_size mails), so a mailbox
# of large attachments cannot take the process's memory with it.
MAX_BATCH_BYTES = 16 * 1024 * 1024
# Dovecot refuses command lines over 64 KiB; UID lists are sent in pieces well below that.
UIDS_PER_COMMAND = 500
# A backlog's first batches are smaller, doubling up to batch_size: storing begins as soon as
# the first few are queued instead of after a whole batch (bench/README.md).
FIRST_BATCH = 25
FETCH_ITEMS = [b"BODY.PEEK[]", b"INTERNALDATE", b"FLAGS"]


class StorageFailed(Exception):
    """Queueing a batch failed: it and the mails after it wait, unmarked."""


class ConnectionLost(Exception):
    """The server said BYE or the connection closed under us."""


@dataclass
class FetchStats:
    fetched: int = 0  # mails queued
    # Filled in by whoever stores the queued mail (``fetch --once``), not by the fetcher:
    stored: int = 0  # new messages (tickets or follow-ups)
    duplicates: int = 0  # already stored (a redelivery, or another listener was first)
    quarantined: int = 0
    skipped: int = 0  # already carried our keyword, or another process was ahead
    marked: int = 0  # flagged or moved after commit
    folders: dict[str, int] = field(default_factory=dict)  # fetched per folder

    def add(self, other: FetchStats) -> None:
        for name in ("fetched", "stored", "duplicates", "quarantined", "skipped", "marked"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for folder, count in other.folders.items():
            self.folders[folder] = self.folders.get(folder, 0) + count


# --------------------------------------------------------------------------- connection


def ssl_context(mailbox: MailboxConfig) -> ssl.SSLContext:
    """Certificate and host name always checked; ``ca_file`` trusts a private CA instead."""
    context = ssl.create_default_context(cafile=str(mailbox.ca_file) if mailbox.ca_file else None)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def connect(mailbox: MailboxConfig, timeout: float = 60.0) -> IMAPClient:
    """Connect and log in: implicit TLS, STARTTLS (never falls back to plain text) or none."""
    tls = mailbox.security == "tls"
    context = ssl_context(mailbox) if mailbox.security != "none" else None
    client = IMAPClient(
        mailbox.host, mailbox.port, ssl=tls, ssl_context=context if tls else None, timeout=timeout
    )
    try:
        client.normalise_times = False  # INTERNALDATE as an aware datetime, not local naive
        if mailbox.security == "starttls":
            client.starttls(context)
        client.login(mailbox.username, mailbox.password())
    except BaseException:
        with suppress(Exception):
            client.shutdown()
        raise
    return client


def close(client: IMAPClient | None) -> None:
    if client is None:
        return
    try:
        client.logout()
    except Exception:
        with suppress(Exception):
            client.shutdown()


def _chunks(items: Sequence[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


def _utc(value: Any, clock: Clock) -> dt.datetime:
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:  # a server without a zone: read as UTC rather than guess
            value = value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)
    return clock()


def _flag_names(flags: Any) -> set[str]:
    return {f.decode() if isinstance(f, bytes) else str(f) for f in flags or ()}


# --------------------------------------------------------------------------- one mailbox


class MailboxFetcher:
    """Reads every folder of one mailbox into the inbound queue, checkpointed per folder.

    One fetcher uses one connection at a time. While one batch is being queued, the next is
    already being fetched by a helper thread (``prefetch``); both share the connection under
    a lock, so IMAP commands never interleave.
    """

    def __init__(
        self,
        mailbox: MailboxConfig,
        desk: str,
        queue: InboundQueue,
        *,
        wake: Callable[[], None] = lambda: None,
        stop: threading.Event | None = None,
        prefetch: bool = True,
        max_batch_bytes: int = MAX_BATCH_BYTES,
        clock: Clock = system_clock,
    ) -> None:
        """``wake``: called after each commit of queue rows (the queue runner's)."""
        self.mailbox = mailbox
        self.desk = desk
        self.queue = queue
        self.wake = wake
        self.clock = clock  # a server that gives no INTERNALDATE: received now
        self.sessions = queue.sessions
        self.stop = stop or threading.Event()
        self.prefetch = prefetch
        self.max_batch_bytes = max_batch_bytes
        self._lock = threading.Lock()
        self._keywords = True  # whether the selected folder takes our keyword

    # ------------------------------------------------------------------ the whole mailbox

    def drain(self, client: IMAPClient) -> FetchStats:
        """Fetch until every folder has nothing new; raises StorageFailed or IMAP errors."""
        total = FetchStats()
        self._ensure_processed_folder(client)
        for _ in range(100):  # mail keeps arriving while we work; stop going round eventually
            round_stats = FetchStats()
            for folder in self.mailbox.folders:
                if self.stop.is_set():
                    return total
                round_stats.add(self.drain_folder(client, folder))
            total.add(round_stats)
            if round_stats.fetched + round_stats.skipped == 0:
                break
        return total

    def _ensure_processed_folder(self, client: IMAPClient) -> None:
        target = self.mailbox.processed_folder
        if self.mailbox.after_commit == "move" and target and not client.folder_exists(target):
            with suppress(IMAPClient.Error):  # another process may create it at the same time
                client.create_folder(target)
            if not client.folder_exists(target):
                raise IMAPClient.Error(f"cannot create processed_folder {target!r}")

    # ------------------------------------------------------------------ one folder

    def drain_folder(self, client: IMAPClient, folder: str) -> FetchStats:
        stats = FetchStats()
        info = client.select_folder(folder)
        uidvalidity = int(info[b"UIDVALIDITY"])
        permanent = _flag_names(info.get(b"PERMANENTFLAGS"))
        keywords = "\\*" in permanent or KEYWORD in permanent
        self._keywords = keywords
        last, restarted = checkpoints.ensure_folder(
            self.sessions, self.mailbox.name, folder, uidvalidity
        )
        if restarted:
            log.warning(
                "mailbox %s folder %s: UIDVALIDITY changed to %s; reading the folder "
                "again (Message-ID dedup skips what is already stored)",
                self.mailbox.name,
                folder,
                uidvalidity,
            )
        if last:
            stats.marked += self._mark_committed(client, last, keywords)
        if not info.get(b"EXISTS"):
            return stats
        with self._lock:
            todo, already = self._list_new(client, last, keywords)
        stats.skipped += len(already)
        if already and self.mailbox.after_commit == "move":
            # Committed by us or another process, then interrupted before the move.
            stats.marked += self._after_commit(client, sorted(already), keywords)
        source = f"imap:{self.mailbox.name}/{folder}"
        completed = 0
        with self._fetched(client, self._batches(todo)) as fetched:
            for uids, data in fetched:
                if self.stop.is_set():
                    return stats
                # Another listener on the same mailbox may be ahead: skip what it queued.
                ahead = checkpoints.last_uid(self.sessions, self.mailbox.name, folder, uidvalidity)
                entries = self._entries(uids, data, ahead, source, stats)
                self._commit_batch(client, folder, uidvalidity, entries, stats)
                completed += len(uids)
        if already and completed == len(todo):
            # Every new mail is done, so the checkpoint may pass the pre-marked ones too.
            checkpoints.advance(self.sessions, self.mailbox.name, folder, uidvalidity, max(already))
        stats.folders[folder] = stats.fetched
        if stats.fetched:
            log.info(
                "mailbox %s folder %s: %d mail(s) queued",
                self.mailbox.name,
                folder,
                stats.fetched,
            )
        return stats

    def _list_new(
        self, client: IMAPClient, last: int, keywords: bool
    ) -> tuple[list[tuple[int, int]], set[int]]:
        """[(uid, size)] still to ingest, and the new UIDs that already carry our keyword."""
        # "UID n:*" always matches the newest mail, even below n: filter.
        uids = sorted(u for u in client.search(["UID", f"{last + 1}:*"]) if u > last)
        todo: list[tuple[int, int]] = []
        already: set[int] = set()
        for part in _chunks(uids, UIDS_PER_COMMAND):
            listing = client.fetch(part, [b"FLAGS", b"RFC822.SIZE"])
            for uid in part:
                item = listing.get(uid)
                if item is None:
                    continue  # expunged by someone else meanwhile
                if keywords and KEYWORD in _flag_names(item.get(b"FLAGS")):
                    already.add(uid)
                else:
                    todo.append((uid, int(item.get(b"RFC822.SIZE") or 0)))
        return todo, already

    def _batches(self, todo: list[tuple[int, int]]) -> list[list[int]]:
        return fetch_batches(
            todo, min(self.mailbox.batch_size, UIDS_PER_COMMAND), self.max_batch_bytes
        )

    @contextmanager
    def _fetched(
        self, client: IMAPClient, batches: list[list[int]]
    ) -> Iterator[Iterator[tuple[list[int], dict[int, dict[bytes, Any]]]]]:
        """Batches as (uids, FETCH data), fetched one ahead of the consumer when prefetching."""

        def fetch(uids: list[int]) -> dict[int, dict[bytes, Any]]:
            with self._lock:
                return client.fetch(uids, FETCH_ITEMS)

        if not self.prefetch or len(batches) < 2:
            yield ((uids, fetch(uids)) for uids in batches)
            return

        ready: queue.Queue[tuple[list[int], Any] | None] = queue.Queue(maxsize=1)
        abort = threading.Event()

        def offer(item: tuple[list[int], Any] | None) -> None:
            """Hand over, however long the consumer takes, unless it has gone away."""
            while not abort.is_set():
                try:
                    ready.put(item, timeout=0.2)
                    return
                except queue.Full:
                    continue

        def producer() -> None:
            try:
                for uids in batches:
                    if abort.is_set():
                        return
                    offer((uids, fetch(uids)))
            except BaseException as exc:  # handed to the consumer, which raises it
                offer(([], exc))
                return
            offer(None)

        thread = threading.Thread(
            target=producer, name=f"imap-prefetch-{self.mailbox.name}", daemon=True
        )
        thread.start()

        def consume() -> Iterator[tuple[list[int], dict[int, dict[bytes, Any]]]]:
            while True:
                item = ready.get()
                if item is None:
                    return
                uids, data = item
                if isinstance(data, BaseException):
                    raise data
                yield uids, data

        try:
            yield consume()
        finally:
            abort.set()
            with suppress(queue.Empty):
                ready.get_nowait()
            thread.join(timeout=120)

    def _entries(
        self,
        uids: list[int],
        data: dict[int, dict[bytes, Any]],
        ahead: int,
        source: str,
        stats: FetchStats,
    ) -> list[tuple[int, RawMail | None]]:
        """(uid, mail to ingest) in UID order; None for a mail that needs no ingest."""
        entries: list[tuple[int, RawMail | None]] = []
        for uid in uids:
            item = data.get(uid)
            if item is None or uid <= ahead or KEYWORD in _flag_names(item.get(b"FLAGS")):
                # Expunged meanwhile, committed by another process, or marked by one.
                stats.skipped += 1
                entries.append((uid, None))
                continue
            raw = item.get(b"BODY[]")
            if raw is None:  # the server sent no body: a transient IMAP failure, retry later
                raise ConnectionLost(f"no body for UID {uid} in {source}")
            received = _utc(item.get(b"INTERNALDATE"), self.clock)
            entries.append((uid, RawMail(bytes(raw), self.desk, source, received)))
        return entries

    def _commit_batch(
        self,
        client: IMAPClient,
        folder: str,
        uidvalidity: int,
        entries: list[tuple[int, RawMail | None]],
        stats: FetchStats,
    ) -> None:
        """Queue the batch's mails and advance the checkpoint past it in one commit, then
        mark the mails on the server (repaired from the checkpoint if we die in between)."""
        if not entries:
            return
        prefix = f"{self.mailbox.name}/{folder}/{uidvalidity}"
        items = [arrival_of(mail, f"{prefix}/{uid}") for uid, mail in entries if mail is not None]
        last = max(uid for uid, _mail in entries)
        try:
            with self.sessions.begin() as session:
                self.queue.enqueue_in(session, items)
                checkpoints.advance_in(session, self.mailbox.name, folder, uidvalidity, last)
        except Exception as exc:
            raise StorageFailed(
                f"mailbox {self.mailbox.name} folder {folder}: queueing UIDs "
                f"{entries[0][0]} to {last} failed ({type(exc).__name__}); they and the mails "
                "after them stay waiting and are fetched again"
            ) from exc
        stats.fetched += len(items)
        if items:
            self.wake()
        uids = [uid for uid, _mail in entries]
        stats.marked += self._after_commit(client, uids, self._keywords)

    # ------------------------------------------------------------------ after commit

    def _after_commit(self, client: IMAPClient, uids: list[int], keywords: bool) -> int:
        """Flag (``\\Seen`` + our keyword) and, in move mode, move to processed_folder."""
        if not uids:
            return 0
        flags = [SEEN, KEYWORD] if keywords else [SEEN]
        target = self.mailbox.processed_folder
        with self._lock:
            for part in _chunks(uids, UIDS_PER_COMMAND):
                client.add_flags(part, flags, silent=True)
                if self.mailbox.after_commit != "move" or not target:
                    continue
                if client.has_capability("MOVE"):
                    client.move(part, target)
                else:
                    # RFC 3501 fallback: COPY, mark deleted, expunge just those (UIDPLUS) or all.
                    client.copy(part, target)
                    client.add_flags(part, [DELETED], silent=True)
                    if client.has_capability("UIDPLUS"):
                        client.uid_expunge(part)
                    else:
                        client.expunge()
        return len(uids)

    def _mark_committed(self, client: IMAPClient, last: int, keywords: bool) -> int:
        """Mark mails at or below the checkpoint that a crash left unmarked (idempotent)."""
        criteria: list[str] = ["UID", f"1:{last}"]
        if self.mailbox.after_commit != "move":
            criteria += ["NOT", "KEYWORD", KEYWORD] if keywords else ["UNSEEN"]
        with self._lock:
            pending = sorted(u for u in client.search(criteria) if u <= last)
        if pending:
            log.info(
                "mailbox %s: marking %d committed mail(s) left unmarked by an interruption",
                self.mailbox.name,
                len(pending),
            )
        return self._after_commit(client, pending, keywords)


# --------------------------------------------------------------------------- the listener


class ImapListener:
    """One mailbox, for as long as the service runs: drain, then IDLE (or poll), repeat.

    Any failure (network, server, storage) closes the connection and reconnects after an
    exponential backoff with jitter, reset after a pass that worked.
    """

    def __init__(
        self,
        mailbox: MailboxConfig,
        desk: str,
        queue: InboundQueue,
        *,
        wake: Callable[[], None] = lambda: None,
        backoff_start: float = 1.0,
        backoff_max: float = 300.0,
        timeout: float = 60.0,
        connector: Callable[[MailboxConfig], IMAPClient] | None = None,
        clock: Clock = system_clock,
    ) -> None:
        self.mailbox = mailbox
        self.stop_event = threading.Event()
        self.fetcher = MailboxFetcher(
            mailbox, desk, queue, wake=wake, stop=self.stop_event, clock=clock
        )
        self.backoff_start = backoff_start
        self.backoff_max = backoff_max
        self.timeout = timeout
        self.connector = connector or (lambda m: connect(m, timeout=self.timeout))
        self.thread: threading.Thread | None = None
        self.stats = FetchStats()
        self.failures = 0  # consecutive failed passes
        self.delays: deque[float] = deque(maxlen=100)  # the latest backoff waits
        self.passes = 0  # successful drains

    def start(self) -> None:
        self.thread = threading.Thread(
            target=self.run, name=f"imap-{self.mailbox.name}", daemon=True
        )
        self.thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        self.stop_event.set()
        if self.thread is not None:
            self.thread.join(timeout)

    def run(self) -> None:
        delay = self.backoff_start
        while not self.stop_event.is_set():
            client = None
            try:
                client = self.connector(self.mailbox)
                while not self.stop_event.is_set():
                    self.stats.add(self.fetcher.drain(client))
                    self.passes += 1
                    self.failures = 0
                    delay = self.backoff_start
                    self._wait_for_mail(client)
            except Exception as exc:
                if self.stop_event.is_set():
                    break
                self.failures += 1
                log.warning(
                    "mailbox %s: %s: %s; reconnecting in %.1f s",
                    self.mailbox.name,
                    type(exc).__name__,
                    exc,
                    delay,
                )
            finally:
                close(client)
            if self.stop_event.is_set():
                break
            wait = delay * random.uniform(0.8, 1.2)  # jitter: listeners do not retry in step
            self.delays.append(wait)
            self.stop_event.wait(wait)
            delay = min(delay * 2, self.backoff_max)

    def _wait_for_mail(self, client: IMAPClient) -> None:
        """Until new mail may be there: IDLE on the first folder, else sleep poll_seconds."""
        period = min(self.mailbox.poll_seconds, MAX_IDLE_SECONDS)
        if not (self.mailbox.idle and client.has_capability("IDLE")):
            self.stop_event.wait(period)
            return
        client.select_folder(self.mailbox.folders[0], readonly=True)
        client.idle()
        try:
            deadline = time.monotonic() + period
            while not self.stop_event.is_set():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                step = min(1.0, remaining)
                started = time.monotonic()
                responses = client.idle_check(timeout=step)
                if any(r and r[0] == b"BYE" for r in responses):
                    raise ConnectionLost("server said BYE")
                if responses:
                    break  # new mail (EXISTS) or another change: look
                if time.monotonic() - started < step / 2:
                    break  # woke with nothing to read: closed socket; idle_done will tell
        finally:
            client.idle_done()


def listeners_for(
    config: Config, queue: InboundQueue, wake: Callable[[], None] = lambda: None
) -> list[ImapListener]:
    """One listener per configured mailbox; ``wake`` after each commit of queue rows."""
    return [
        ImapListener(mailbox, desk_name, queue, wake=wake, clock=queue.clock)
        for desk_name, desk in config.desks.items()
        for mailbox in desk.mailboxes
    ]


def start_imap_listeners(
    config: Config, queue: InboundQueue, wake: Callable[[], None] = lambda: None
) -> list[ImapListener]:
    """The service's IMAP side: one thread per configured mailbox."""
    listeners = listeners_for(config, queue, wake)
    for listener in listeners:
        listener.start()
        log.info(
            "IMAP intake: mailbox %s (%s:%s, %s) for desk %s",
            listener.mailbox.name,
            listener.mailbox.host,
            listener.mailbox.port,
            ", ".join(listener.mailbox.folders),
            listener.fetcher.desk,
        )
    return listeners


def stop_imap_listeners(listeners: list[ImapListener]) -> None:
    for listener in listeners:
        listener.stop_event.set()
    for listener in listeners:
        listener.stop()


# --------------------------------------------------------------------------- fetch --once


@dataclass
class MailboxResult:
    mailbox: str
    desk: str
    stats: FetchStats
    seconds: float
    error: str | None = None


# What stores the queue once (the queue runner's drain): each stored item and its outcome.
StoreQueued = Callable[[], Iterable[tuple[Arrival, Any]]]


def fetch_batches(
    todo: Sequence[tuple[int, int]], most: int, max_bytes: int, first: int = FIRST_BATCH
) -> list[list[int]]:
    """The UIDs of ``todo`` ((uid, size) in order) in FETCH batches: the first of at most
    ``first`` mails, each next one twice as many, up to ``most``; none over ``max_bytes``
    unless one mail alone is."""
    batches: list[list[int]] = []
    current: list[int] = []
    size = 0
    limit = min(first, most)
    for uid, length in todo:
        if current and (len(current) >= limit or size + length > max_bytes):
            batches.append(current)
            current, size = [], 0
            limit = min(2 * limit, most)
        current.append(uid)
        size += length
    if current:
        batches.append(current)
    return batches


def fetch_once(
    config: Config,
    queue: InboundQueue,
    *,
    names: Sequence[str] = (),
    attempts: int = 3,
    backoff_start: float = 1.0,
    connector: Callable[[MailboxConfig], IMAPClient] | None = None,
    wake: Callable[[], None] = lambda: None,
) -> list[MailboxResult]:
    """Queue every waiting mail from each configured mailbox (``names``: only these), calling
    ``wake`` after each commit of queue rows, and return each mailbox's figures. Storing the
    queue is the caller's (``fetch_child.FetchingChild`` does it beside the fetching).

    A failure is retried (``attempts`` in all, with backoff); what was queued before it
    stays queued and checkpointed, and is stored.
    """
    connector = connector or connect
    results = []
    for desk_name, desk in config.desks.items():
        for mailbox in desk.mailboxes:
            if names and mailbox.name not in names:
                continue
            results.append(
                _fetch_mailbox(mailbox, desk_name, queue, connector, attempts, backoff_start, wake)
            )
    return results


def _fetch_mailbox(
    mailbox: MailboxConfig,
    desk_name: str,
    queue: InboundQueue,
    connector: Callable[[MailboxConfig], IMAPClient],
    attempts: int,
    backoff_start: float,
    wake: Callable[[], None],
) -> MailboxResult:
    fetcher = MailboxFetcher(mailbox, desk_name, queue, wake=wake, clock=queue.clock)
    stats = FetchStats()
    started = time.monotonic()
    error = None
    delay = backoff_start
    for attempt in range(1, attempts + 1):
        client = None
        try:
            client = connector(mailbox)
            stats.add(fetcher.drain(client))
            error = None
            break
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            log.warning("mailbox %s, attempt %d of %d: %s", mailbox.name, attempt, attempts, error)
        finally:
            close(client)
        if attempt < attempts:
            time.sleep(delay)
            delay *= 2
    return MailboxResult(mailbox.name, desk_name, stats, time.monotonic() - started, error)


def count_stored(
    results: list[MailboxResult], outcomes: Iterable[tuple[Arrival, Any]], spent: float
) -> None:
    """Each outcome counted for the mailbox its mail came from; ``spent``: the storing time
    after fetching, shared by the mailboxes by what they fetched."""
    by_source = {f"imap:{result.mailbox}/": result for result in results}
    for item, outcome in outcomes:
        found = next((r for p, r in by_source.items() if item.source.startswith(p)), None)
        if found is None:
            continue  # queued by another listener (SMTP, say): stored, not counted here
        stats = found.stats
        result = getattr(outcome, "result", None)
        if result is None:
            stats.quarantined += 1
        elif getattr(result, "duplicate", False):
            stats.duplicates += 1
        else:
            stats.stored += 1
    for result in results:
        total = sum(r.stats.fetched for r in results) or 1
        result.seconds += spent * result.stats.fetched / total
