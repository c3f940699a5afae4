"""Hostile mail against a running service: time, memory and what happened, case by case.

    make run                                          # in one terminal (or `triage run`)
    .venv/bin/python bench/hostile.py                 # in another
    .venv/bin/python bench/hostile.py --scale 0.05 --cases blockquote,plain --json

Each case of issue 16 item 1 is sent over SMTP to the service that ``--config`` describes
(its SMTP listener, its default desk's first address, its database), followed at once by one
ordinary mail. For each case it prints:

* how long until the hostile mail was handled: its message row (a ticket) or its quarantine
  entry committed, from the moment its DATA was sent (for the batch: the first DATA sent to
  the last mail handled); a mail that left the queue with neither is reported as dropped;
* what happened to it: stored (ticket, characters of text stored) or quarantined (reason);
* the service's peak RSS above its resting RSS, from before the case until the service is
  idle again (so work done after the mail was stored, such as the refiner's, counts too):
  the main process and its descendants (prepare workers, a forker), each against its resting
  RSS, summed. The kernel's high-water mark is reset before the case (``clear_refs``) and
  read after; RSS is also sampled every 20 ms, which is all there is where the reset is
  not permitted;
* how long until the ordinary mail sent right after it was acknowledged: its first reply
  committed to the outbox (and, beside it, marked sent by the dispatcher).

The database is only read (SQLite opened read-only; PostgreSQL sessions read-only). The
service's own ``TRIAGE_DATABASE_URL`` and working directory (from ``/proc``) win over this
process's, so a relative SQLite path means what it means to the service. Mail text is
never printed. The exit status is 0 whatever the figures: this is a bench, not a test.
"""

from __future__ import annotations

import argparse
import base64
import email.utils
import json
import os
import random
import re
import secrets
import smtplib
import sys
import threading
import time
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
MIB = 1024 * 1024

# Issue 16 item 1's target for every case.
TARGET_HANDLED_SECONDS = 2.0
TARGET_RSS_ABOVE_RESTING_MB = 300.0
TARGET_NEXT_ACKNOWLEDGED_SECONDS = 2.0

POLL_SECONDS = 0.025
SAMPLE_SECONDS = 0.02
# The service counts as idle again once its processes use less than this share of a core
# over this window: longer than the refiner's idle interval (2 s), so a refinement of the
# case's mail that starts late still falls inside the case.
IDLE_CPU_SHARE = 0.1
IDLE_WINDOW_SECONDS = 2.5
BUSY_CPU_SHARE = 0.33

SENDER_DOMAIN = "hostile-bench.example.org"
RFC5322_LONGEST_LINE = 998
QUOTE_DEPTH = 450  # "> " per level, and a few words: within RFC 5322's 998 characters a line

# Words of the desk's own mail (Latvian without diacritics, to stay 7-bit) and English.
_WORDS = (  # noqa: SIM905 - a list of words reads best as words
    "labdien atskaite modulis nestrada sistema pieteikums kluda lietotajs parole portals "
    "dati apstrade pasvaldiba dokuments lugums paldies steidzami serveris savienojums "
    "report module error login password invoice please urgent since morning again "
    "the a of and to in is it not we our your with this that after before page form"
).split()


# --------------------------------------------------------------------------------- mails


@dataclass(frozen=True)
class Mail:
    """One mail as sent: its envelope, its Message-ID (without brackets) and its bytes."""

    sender: str
    recipient: str
    message_id: str
    raw: bytes


@dataclass(frozen=True)
class Case:
    name: str
    description: str
    count: int  # mails sent together
    nominal: int  # each mail's size in bytes at scale 1 (with by_depth: the nesting depth)
    head: str  # the MIME headers of its one part
    body: Callable[[int, random.Random], bytes]  # (size or depth, rng) -> the body
    by_depth: bool = False  # ``nominal`` is the depth the body nests, not a size


PLAIN_HEAD = "Content-Type: text/plain; charset=us-ascii\r\nContent-Transfer-Encoding: 7bit"


def _lines(words: Iterator[str], size: int, width: int = 76) -> bytes:
    """Lines of at most ``width`` characters from ``words``, CRLF ended, about ``size``
    bytes (never more)."""
    out: list[str] = []
    total = 0
    line: list[str] = []
    length = 0
    for word in words:
        if length + len(word) + 1 > width:
            text = " ".join(line)
            if total + len(text) + 2 > size:
                break
            out.append(text)
            total += len(text) + 2
            line, length = [], 0
        line.append(word)
        length += len(word) + 1
    return "".join(text + "\r\n" for text in out).encode("ascii")


def _prose(rng: random.Random) -> Iterator[str]:
    """Endless words: common ones, and one in five made of random letters (a large
    vocabulary costs a classifier more than the same few words again)."""
    letters = "abcdefghijklmnopqrstuvwxyz"
    while True:
        for word in rng.choices(_WORDS, k=4096):
            yield word
            if rng.random() < 0.2:
                yield "".join(rng.choices(letters, k=rng.randint(3, 10)))


def _blockquote(depth: int, rng: random.Random) -> bytes:
    # A line of text at every level and no closing tags (an HTML5 parser closes them), so
    # every line sits one level deeper than the one before.
    return b"<html><body>\r\n" + b"<blockquote>q\r\n" * depth + b"</body></html>\r\n"


def _plain(size: int, rng: random.Random) -> bytes:
    # Lines drawn at random from a pool of a few thousand: as varied as word by word, and
    # many times quicker to make.
    pool = _lines(_prose(rng), min(size, 600_000)).splitlines(keepends=True)
    out: list[bytes] = []
    total = 0
    while pool:
        for line in rng.choices(pool, k=4096):
            if total + len(line) > size:
                return b"".join(out)
            out.append(line)
            total += len(line)
    return b""


def _base64_garbage(size: int, rng: random.Random) -> bytes:
    # Valid base64 (76-character lines) of random bytes declared UTF-8: three quarters of
    # its size of invalid UTF-8 once decoded.
    lines = max(1, size // 78)
    return base64.encodebytes(rng.randbytes(lines * 57)).replace(b"\n", b"\r\n")


def _nested_quotes(size: int, rng: random.Random) -> bytes:
    # A reply chain quoted again and again: each line one "> " deeper than the one before,
    # back to one level after QUOTE_DEPTH.
    words = _prose(rng)
    out: list[bytes] = []
    total = 0
    depth = 0
    while True:
        depth = depth % QUOTE_DEPTH + 1
        text = ("> " * depth + " ".join(next(words) for _ in range(6)))[:RFC5322_LONGEST_LINE]
        text += "\r\n"
        if total + len(text) > size:
            return b"".join(out)
        out.append(text.encode("ascii"))
        total += len(text)


CASES: dict[str, Case] = {
    case.name: case
    for case in (
        Case(
            "blockquote",
            "10,000 nested <blockquote>, a line of text in each (HTML only, ~150 KB)",
            1,
            10_000,
            "Content-Type: text/html; charset=us-ascii\r\nContent-Transfer-Encoding: 7bit",
            _blockquote,
            by_depth=True,
        ),
        Case("plain", "24 MB of plain text", 1, 24 * MIB, PLAIN_HEAD, _plain),
        Case(
            "base64",
            "20 MB of base64 garbage in a text/plain part",
            1,
            20 * MIB,
            "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64",
            _base64_garbage,
        ),
        Case(
            "quotes", '6 MB of nested quotes ("> > > ...")', 1, 6 * MIB, PLAIN_HEAD, _nested_quotes
        ),
        Case(
            "batch", "5 mails of 4 MB of plain text, sent together", 5, 4 * MIB, PLAIN_HEAD, _plain
        ),
    )
}


def _headers(mail_from: str, to: str, subject: str, message_id: str, head: str) -> bytes:
    return (
        f"From: Hostile Bench <{mail_from}>\r\n"
        f"To: <{to}>\r\n"
        f"Subject: {subject}\r\n"
        f"Date: {email.utils.formatdate(usegmt=True)}\r\n"
        f"Message-ID: <{message_id}>\r\n"
        "MIME-Version: 1.0\r\n"
        f"{head}\r\n\r\n"
    ).encode("ascii")


def _address(run: str, label: str) -> str:
    # A local part of its own for every mail: the per-sender reply limit holds none back.
    return f"{label}-{run}@{SENDER_DOMAIN}"


def build_case(
    name: str, scale: float, run: str, desk_address: str = "atbalsts@example.lv", seed: int = 16
) -> list[Mail]:
    """The mails of case ``name`` with every size (for blockquote, the depth) times ``scale``:
    whole messages of that many bytes, headers included, within a line's length."""
    case = CASES[name]
    size = max(1, round(case.nominal * scale))
    mails = []
    for n in range(case.count):
        label = f"{name}{n + 1}" if case.count > 1 else name
        sender = _address(run, label)
        message_id = f"{label}.{run}@{SENDER_DOMAIN}"
        headers = _headers(sender, desk_address, f"Hostile bench: {label}", message_id, case.head)
        rng = random.Random(f"{seed}:{name}:{n}")
        body = case.body(size if case.by_depth else max(0, size - len(headers)), rng)
        mails.append(Mail(sender, desk_address, message_id, headers + body))
    return mails


def build_normal(run: str, label: str, desk_address: str = "atbalsts@example.lv") -> Mail:
    """An ordinary request (an error report in Latvian), as a person would send it."""
    sender = _address(run, label)
    message = EmailMessage()
    message["From"] = f"Ilze Bench <{sender}>"
    message["To"] = desk_address
    message["Subject"] = "Atskaišu modulis nestrādā"
    message["Date"] = email.utils.formatdate(usegmt=True)
    message_id = f"{label}.{run}@{SENDER_DOMAIN}"
    message["Message-ID"] = f"<{message_id}>"
    message.set_content(
        "Labdien!\n\nKopš rīta atskaišu modulis nestrādā: atverot atskaiti, lapa paliek tukša.\n"
        "Lūdzu, palīdziet.\n\nIlze\n",
        cte="quoted-printable",
    )
    raw = message.as_bytes(policy=SMTP_POLICY)
    return Mail(sender, desk_address, message_id, raw)


# ------------------------------------------------------------------------------ the service


def _listening_inodes(port: int) -> set[str]:
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table, encoding="ascii") as lines:
                next(lines)
                for line in lines:
                    fields = line.split()
                    local, state, inode = fields[1], fields[3], fields[9]
                    if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:
                        inodes.add(inode)
        except FileNotFoundError:
            continue
    return inodes


def _parent(pid: int) -> int:
    with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
        return int(stat.read().rsplit(")", 1)[1].split()[1])


def find_service_pid(port: int) -> int | None:
    """The process listening on TCP ``port`` (the oldest one, when forked children hold the
    same socket), from /proc/net/tcp and the processes' file descriptors."""
    wanted = {f"socket:[{inode}]" for inode in _listening_inodes(port)}
    if not wanted:
        return None
    holders = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fds = os.listdir(f"/proc/{entry}/fd")
            if any(os.readlink(f"/proc/{entry}/fd/{fd}") in wanted for fd in fds):
                holders.add(int(entry))
        except OSError:  # gone, or another user's
            continue
    for pid in sorted(holders):
        try:
            if _parent(pid) not in holders:
                return pid
        except OSError:
            continue
    return min(holders) if holders else None


def _children(pid: int) -> list[int]:
    try:
        kids = []
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children", encoding="ascii") as listed:
                kids.extend(int(kid) for kid in listed.read().split())
        return kids
    except FileNotFoundError:  # a kernel without CONFIG_PROC_CHILDREN: every parent pid
        if os.path.exists(f"/proc/{pid}/task"):
            return [p for p in _all_pids() if _parent_or_none(p) == pid]
        return []
    except OSError:
        return []


def _all_pids() -> list[int]:
    return [int(entry) for entry in os.listdir("/proc") if entry.isdigit()]


def _parent_or_none(pid: int) -> int | None:
    try:
        return _parent(pid)
    except (OSError, ValueError, IndexError):
        return None


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants (prepare workers, and a forker of them if there is one)."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(_children(current))
    return found


def _status_kb(pid: int, key: str) -> int | None:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as status:
            for line in status:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def cpu_seconds(pids: list[int]) -> float:
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / ticks
        except (OSError, IndexError, ValueError):
            continue
    return total


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


def wait_idle(pid: int, limit: float) -> tuple[bool, float]:
    """Wait until the service's processes have used less than IDLE_CPU_SHARE of a core over
    the last IDLE_WINDOW_SECONDS, at most ``limit`` seconds. Returns whether they did, and
    when they were last busy (a tenth of a second at more than BUSY_CPU_SHARE of a core) as
    a monotonic time."""
    began = time.monotonic()
    samples = [(began, cpu_seconds(process_tree(pid)))]
    last_busy = began
    while time.monotonic() - began < limit and alive(pid):
        time.sleep(0.1)
        now, used = time.monotonic(), cpu_seconds(process_tree(pid))
        before, before_used = samples[-1]
        if used - before_used > BUSY_CPU_SHARE * (now - before):
            last_busy = now
        samples.append((now, used))
        if now - began < IDLE_WINDOW_SECONDS:
            continue
        start, start_used = next(
            (t, c) for t, c in reversed(samples) if t <= now - IDLE_WINDOW_SECONDS
        )
        if used - start_used < IDLE_CPU_SHARE * (now - start):
            return True, last_busy
    return False, last_busy


class MemoryWatch:
    """Peak RSS of a process tree above each process's resting RSS, over a window."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.initial: frozenset[int] = frozenset()
        self.resting: dict[int, int] = {}
        self.peak: dict[int, int] = {}
        self.cleared = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self.resting = {
            p: kb for p in process_tree(self.pid) if (kb := _status_kb(p, "VmRSS")) is not None
        }
        self.initial = frozenset(self.resting)
        self.peak = dict(self.resting)
        self.cleared = all(self._clear_high_water_mark(p) for p in self.initial)
        self._stop.clear()
        self._thread = threading.Thread(target=self._sample, name="rss-sampler", daemon=True)
        self._thread.start()

    @staticmethod
    def _clear_high_water_mark(pid: int) -> bool:
        try:
            with open(f"/proc/{pid}/clear_refs", "w", encoding="ascii") as refs:
                refs.write("5")  # 5: reset the peak RSS (VmHWM) to the current RSS
            return True
        except OSError:
            return False

    def _sample(self) -> None:
        pids: list[int] = []
        rounds = 0
        while not self._stop.is_set():
            if rounds % 10 == 0:
                pids = process_tree(self.pid)
            rounds += 1
            for pid in pids:
                kb = _status_kb(pid, "VmRSS")
                if kb is not None:
                    # A process born during the window (a replaced worker) rests at its
                    # first sample.
                    self.resting.setdefault(pid, kb)
                    self.peak[pid] = max(self.peak.get(pid, 0), kb)
            self._stop.wait(SAMPLE_SECONDS)

    def stop(self) -> dict[str, Any]:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        for pid in list(self.peak):
            # VmHWM counts for a process that was reset before the window, or born in it.
            hwm = _status_kb(pid, "VmHWM")
            if hwm is not None and (self.cleared or pid not in self.initial):
                self.peak[pid] = max(self.peak[pid], hwm)
        above = {p: max(0, self.peak[p] - self.resting[p]) for p in self.peak}
        return {
            "resting_mb": round(sum(self.resting[p] for p in self.initial) / 1024, 1),
            "peak_above_resting_mb": round(sum(above.values()) / 1024, 1),
            "main_above_resting_mb": round(above.get(self.pid, 0) / 1024, 1),
            "processes": len(self.peak),
            "method": "VmHWM reset by clear_refs, and VmRSS every 20 ms"
            if self.cleared
            else "VmRSS every 20 ms (clear_refs not permitted)",
        }


# ------------------------------------------------------------------------------ the database


def _service_environment(pid: int) -> dict[str, str]:
    try:
        with open(f"/proc/{pid}/environ", "rb") as environ:
            pairs = environ.read().split(b"\0")
    except OSError:
        return {}
    found = {}
    for pair in pairs:
        key, sep, value = pair.partition(b"=")
        if sep:
            found[key.decode("utf-8", "replace")] = value.decode("utf-8", "replace")
    return found


def service_database_url(config_url: str, pid: int | None) -> str:
    """The URL the service uses: its TRIAGE_DATABASE_URL if it has one, else the config's;
    a relative SQLite path resolved against the service's working directory."""
    from sqlalchemy.engine import make_url

    url = config_url
    if pid is not None:
        url = _service_environment(pid).get("TRIAGE_DATABASE_URL") or url
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        path = Path(parsed.database)
        if not path.is_absolute():
            base = Path(os.readlink(f"/proc/{pid}/cwd")) if pid is not None else Path.cwd()
            url = parsed.set(database=str(base / path)).render_as_string(hide_password=False)
    return url


class Observer:
    """Read-only queries on the service's database: what became of a mail."""

    def __init__(self, url: str) -> None:
        from sqlalchemy import create_engine
        from sqlalchemy.engine import make_url

        parsed = make_url(url)
        if parsed.get_backend_name() == "sqlite":
            path = Path(parsed.database or "")
            if not path.exists():
                raise SystemExit(f"no SQLite database at {path}: is this the service's database?")
            self.engine = create_engine(
                f"sqlite:///file:{path}?mode=ro&uri=true", connect_args={"timeout": 30}
            )
        else:
            from triage_desk.storage.db import normalise_url

            self.engine = create_engine(
                normalise_url(url),
                connect_args={"options": "-c default_transaction_read_only=on"},
            )
        self.shown = parsed.render_as_string(hide_password=True)

    def _one(self, sql: str, **params: Any) -> Any:
        from sqlalchemy import text

        with self.engine.connect() as connection:
            return connection.execute(text(sql), params).first()

    def stored(self, message_id: str) -> tuple[int, int, str, int] | None:
        """(message id, ticket id, ticket number, characters of text) of a stored mail."""
        row = self._one(
            "SELECT m.id, m.ticket_id, t.number, length(m.text) FROM messages m "
            "JOIN tickets t ON t.id = m.ticket_id "
            "WHERE m.channel = 'email' AND m.direction = 'in' AND m.external_id = :mid",
            mid=message_id,
        )
        return (row[0], row[1], row[2], row[3] or 0) if row else None

    def quarantined(self, envelope_sender: str) -> str | None:
        row = self._one(
            "SELECT reason FROM quarantine WHERE envelope_sender = :s ORDER BY id LIMIT 1",
            s=envelope_sender,
        )
        return row[0] if row else None

    def queued(self, envelope_sender: str) -> int | None:
        """The failed attempts of the mail while it is still in the inbound queue."""
        with self.engine.connect() as connection:
            rows = connection.exec_driver_sql("SELECT attempts, meta FROM inbound_queue").all()
        for attempts, meta in rows:
            meta = json.loads(meta) if isinstance(meta, str) else meta  # SQLite: JSON text
            if (meta or {}).get("envelope_sender") == envelope_sender:
                return int(attempts)
        return None

    def queue_waiting(self) -> int:
        return int(self._one("SELECT count(*) FROM inbound_queue")[0])

    def first_reply(self, message_id: str) -> tuple[str, str] | None:
        """(kind, status) of the first reply queued for the inbound mail ``message_id``."""
        from triage_desk.intake.steps.queue_first_reply import acknowledgement_key

        row = self._one(
            "SELECT kind, status FROM outbox WHERE dedupe_key = :k",
            k=acknowledgement_key("email", message_id),
        )
        return (row[0], row[1]) if row else None

    def no_reply_reason(self, ticket_id: int) -> str | None:
        row = self._one(
            "SELECT details FROM audit_log WHERE ticket_id = :t "
            "AND action = 'no_acknowledgement' ORDER BY id LIMIT 1",
            t=ticket_id,
        )
        if row is None:
            return None
        details = row[0]
        if isinstance(details, str):
            details = json.loads(details)
        return str((details or {}).get("reason", "no acknowledgement"))


# ------------------------------------------------------------------------------ one case


@dataclass
class Sent:
    mail: Mail
    data_sent: float | None = None  # monotonic: the whole mail handed to the socket
    accepted: float | None = None  # monotonic: the 250 after it
    refused: str | None = None  # SMTP refusal or connection error (a code, never mail text)


@dataclass
class Fate:
    """What became of one sent mail, as seen in the database."""

    outcome: str | None = None  # "stored", "quarantined: REASON", "dropped", "refused: …"
    at: float | None = None
    message_row: int | None = None
    ticket_id: int | None = None
    ticket: str | None = None
    text_chars: int | None = None
    attempts: int = 0
    reply: str | None = None  # kind of the first reply, or why there is none
    reply_at: float | None = None
    reply_sent_at: float | None = None


def send(host: str, port: int, mail: Mail, timeout: float) -> Sent:
    """One SMTP session for one mail; DATA written by hand to time its end exactly."""
    sent = Sent(mail)
    try:
        with smtplib.SMTP(host, port, timeout=timeout) as smtp:
            smtp.ehlo("hostile-bench")
            options = [f"SIZE={len(mail.raw)}"] if smtp.has_extn("size") else []
            code, _ = smtp.mail(mail.sender, options)
            if code != 250:
                sent.refused = f"MAIL FROM {code}"
                return sent
            code, _ = smtp.rcpt(mail.recipient)
            if code not in (250, 251):
                sent.refused = f"RCPT TO {code}"
                return sent
            code, _ = smtp.docmd("DATA")
            if code != 354:
                sent.refused = f"DATA {code}"
                return sent
            smtp.send(re.sub(rb"(?m)^\.", b"..", mail.raw) + b".\r\n")
            sent.data_sent = time.monotonic()
            code, _ = smtp.getreply()
            sent.accepted = time.monotonic()
            if code != 250:
                sent.refused = f"after DATA {code}"
    except (OSError, smtplib.SMTPException) as exc:
        sent.refused = type(exc).__name__
    return sent


def send_together(host: str, port: int, mails: list[Mail], timeout: float) -> list[Sent]:
    """Each mail on its own connection, all at once."""
    results: list[Sent | None] = [None] * len(mails)
    barrier = threading.Barrier(len(mails))

    def one(index: int) -> None:
        barrier.wait()
        results[index] = send(host, port, mails[index], timeout)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(mails))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return [r for r in results if r is not None]


def observe(db: Observer, sent: Sent, fate: Fate, want_reply: bool) -> None:
    """Advance what is known of one mail by one look at the database."""
    now = time.monotonic()
    if fate.outcome is None:
        if sent.refused:
            fate.outcome, fate.at = f"refused: {sent.refused}", now
            return
        found = db.stored(sent.mail.message_id)
        if found is not None:
            fate.message_row, fate.ticket_id, fate.ticket, fate.text_chars = found
            fate.outcome, fate.at = "stored", now
        elif (reason := db.quarantined(sent.mail.sender)) is not None:
            fate.outcome, fate.at = f"quarantined: {_safe(reason)}", now
        else:
            attempts = db.queued(sent.mail.sender)
            if attempts is not None:
                fate.attempts = attempts
                return
            # Gone from the queue: its row is deleted in the commit that stores it.
            if db.stored(sent.mail.message_id) is None and db.quarantined(sent.mail.sender) is None:
                fate.outcome, fate.at = (
                    "dropped (left the queue, neither stored nor quarantined)",
                    now,
                )
            return
    if not want_reply or fate.message_row is None or fate.ticket_id is None:
        return
    if fate.reply_at is None:
        reply = db.first_reply(sent.mail.message_id)
        if reply is not None:
            fate.reply, fate.reply_at = reply[0], now
            if reply[1] == "sent":
                fate.reply_sent_at = now
        elif (reason := db.no_reply_reason(fate.ticket_id)) is not None:
            fate.reply, fate.reply_at = f"none: {_safe(reason)}", now
    elif fate.reply_sent_at is None and not (fate.reply or "").startswith("none"):
        reply = db.first_reply(sent.mail.message_id)
        if reply is not None and reply[1] == "sent":
            fate.reply_sent_at = now


def _safe(text: str, longest: int = 60) -> str:
    """A reason the service recorded, fit for a terminal: some quote the mail's headers
    (a robot's reason names its header), so no control character, and short."""
    shown = "".join("?" if unicodedata.category(c)[0] == "C" else c for c in text)
    return shown if len(shown) <= longest else shown[: longest - 1] + "…"


def _rel(at: float | None, since: float | None) -> float | None:
    return None if at is None or since is None else round(at - since, 3)


def run_case(
    name: str,
    scale: float,
    run: str,
    desk_address: str,
    host: str,
    port: int,
    pid: int,
    db: Observer,
    timeout: float,
    sent_grace: float,
) -> dict[str, Any]:
    case = CASES[name]
    mails = build_case(name, scale, run, desk_address)
    normal = build_normal(run, f"normal-after-{name}", desk_address)
    memory = MemoryWatch(pid)
    memory.start()
    began = time.monotonic()
    sents = send_together(host, port, mails, timeout)
    after = send(host, port, normal, timeout)
    fates = [Fate() for _ in sents]
    next_fate = Fate()
    deadline = began + timeout
    while time.monotonic() < deadline and alive(pid):
        for sent, fate in zip(sents, fates, strict=True):
            observe(db, sent, fate, want_reply=False)
        observe(db, after, next_fate, want_reply=True)
        handled = all(f.outcome is not None for f in fates)
        replied = next_fate.outcome is not None and (
            next_fate.message_row is None or next_fate.reply_at is not None
        )
        waited_for_send = (
            next_fate.reply_sent_at is not None
            or next_fate.reply_at is None
            or (next_fate.reply or "").startswith("none")
            or time.monotonic() - next_fate.reply_at > sent_grace
        )
        if handled and replied and waited_for_send:
            break
        time.sleep(POLL_SECONDS)
    _idle, busy_until = wait_idle(pid, max(0.0, deadline - time.monotonic()))
    figures = memory.stop()

    first_data = min((s.data_sent for s in sents if s.data_sent is not None), default=None)
    handled_at = [f.at for f in fates]
    handled_s = (
        _rel(max(a for a in handled_at if a is not None), first_data)
        if all(a is not None for a in handled_at)
        else None
    )
    outcomes = Counter(
        (f.outcome or f"not handled within {timeout:g} s (queue attempts: {f.attempts})")
        for f in fates
    )
    stored_chars = [f.text_chars for f in fates if f.text_chars is not None]
    acknowledged = (
        _rel(next_fate.reply_at, after.data_sent)
        if next_fate.reply and not next_fate.reply.startswith("none")
        else None
    )
    met = (
        handled_s is not None
        and handled_s <= TARGET_HANDLED_SECONDS
        and all((f.outcome or "").startswith(("stored", "quarantined")) for f in fates)
        and figures["peak_above_resting_mb"] <= TARGET_RSS_ABOVE_RESTING_MB
        and acknowledged is not None
        and acknowledged <= TARGET_NEXT_ACKNOWLEDGED_SECONDS
    )
    return {
        "case": name,
        "description": case.description,
        "mails": len(mails),
        "bytes": sum(len(m.raw) for m in mails),
        "accepted_s": max((_rel(s.accepted, s.data_sent) or 0.0) for s in sents),
        "handled_s": handled_s,
        "outcome": dict(outcomes),
        "tickets": [f.ticket for f in fates if f.ticket],
        "stored_text_chars": max(stored_chars) if stored_chars else None,
        "memory": figures,
        "next": {
            "outcome": next_fate.outcome or f"not handled within {timeout:g} s",
            "reply": next_fate.reply,
            "acknowledged_s": acknowledged,
            "reply_sent_s": _rel(next_fate.reply_sent_at, after.data_sent),
        },
        "busy_s": _rel(busy_until, first_data),
        "service_alive": alive(pid),
        "met": met,
    }


# ------------------------------------------------------------------------------ output


def _size(n: float) -> str:
    if n >= 1000 * 1024:
        return f"{n / MIB:.1f} MB"
    return f"{n / 1024:.0f} KB" if n >= 1000 else f"{n:.0f} B"


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f} s"


def _what(result: dict[str, Any]) -> str:
    parts = []
    for outcome, count in result["outcome"].items():
        parts.append(f"{count} {outcome}" if result["mails"] > 1 else outcome)
    text = ", ".join(parts)
    if result["stored_text_chars"] is not None:
        text += f" (text {result['stored_text_chars']:,} chars)"
    return text


def print_table(results: list[dict[str, Any]], header: dict[str, Any]) -> None:
    print(
        f"service pid {header['pid']}, SMTP {header['smtp']}, database {header['database']}, "
        f"scale {header['scale']:g}, memory: {header['memory_method']}"
    )
    columns = (
        "case",
        "size",
        "250",
        "handled",
        "what happened",
        "peak RSS above resting",
        "next ack",
        "busy",
        "met",
    )
    rows = []
    for r in results:
        memory = r["memory"]
        rows.append(
            (
                r["case"] + ("" if r["idle_before"] else " *"),
                _size(r["bytes"]) + (f" ({r['mails']})" if r["mails"] > 1 else ""),
                _seconds(r["accepted_s"]),
                _seconds(r["handled_s"]),
                _what(r),
                f"+{memory['peak_above_resting_mb']:.0f} MB (main +"
                f"{memory['main_above_resting_mb']:.0f}; resting {memory['resting_mb']:.0f})",
                _seconds(r["next"]["acknowledged_s"])
                if r["next"]["acknowledged_s"] is not None
                else str(r["next"]["reply"] or r["next"]["outcome"]),
                _seconds(r["busy_s"]),
                "yes" if r["met"] else "NO",
            )
        )
    widths = [max(len(str(x)) for x in col) for col in zip(columns, *rows, strict=False)]
    for row in (columns, *rows):
        print("  ".join(str(x).ljust(w) for x, w in zip(row, widths, strict=True)).rstrip())
    if not all(r["idle_before"] for r in results):
        print("* the service was still busy when the case began (not idle within --timeout)")


def summary(results: list[dict[str, Any]]) -> str:
    target = (
        f"≤ {TARGET_HANDLED_SECONDS:g} s handled, ≤ {TARGET_RSS_ABOVE_RESTING_MB:g} MB above "
        f"resting, next mail acknowledged ≤ {TARGET_NEXT_ACKNOWLEDGED_SECONDS:g} s"
    )
    missed = [r["case"] for r in results if not r["met"]]
    if not missed:
        return f"target ({target}): met by every case"
    return f"target ({target}): missed by {', '.join(missed)}"


# ------------------------------------------------------------------------------ main


def _default_config() -> Path:
    named = os.environ.get("TRIAGE_CONFIG")
    if named:
        return Path(named)
    here = Path("config.example.toml")
    return here if here.exists() else ROOT / "config.example.toml"


def _connect_host(host: str) -> str:
    return {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--config",
        type=Path,
        default=None,
        help="default: $TRIAGE_CONFIG, else config.example.toml",
    )
    parser.add_argument(
        "--pid",
        type=int,
        default=None,
        help="the service's process id (default: the process listening on the SMTP port)",
    )
    parser.add_argument(
        "--cases", default=",".join(CASES), help=f"comma-separated, of {', '.join(CASES)}"
    )
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per case")
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every size by this")
    parser.add_argument("--json", action="store_true", help="one JSON object instead of the table")
    args = parser.parse_args(argv)

    names = [n.strip() for n in args.cases.split(",") if n.strip()]
    unknown = [n for n in names if n not in CASES]
    if unknown or not names:
        parser.error(f"--cases: unknown {unknown}; choose from {', '.join(CASES)}")
    if args.scale <= 0:
        parser.error("--scale must be above 0")

    sys.path.insert(0, str(ROOT))
    from triage_desk.config import ConfigError, load_config

    config_path = args.config or _default_config()
    try:
        config = load_config(config_path)
    except ConfigError as exc:
        raise SystemExit(str(exc)) from None
    listener = config.smtp_listener
    host, port = _connect_host(listener.host), listener.port
    desk_address = config.desks[config.service.default_desk].addresses[0]
    pid = args.pid or find_service_pid(port)
    if pid is None or not alive(pid):
        raise SystemExit(
            f"no service found listening on port {port} (from {config_path}): start it "
            "(`make run`, or `triage --config … run`) or pass --pid"
        )
    db = Observer(service_database_url(config.database_url(), pid))
    largest = max(
        (round(CASES[n].nominal * args.scale) for n in names if not CASES[n].by_depth), default=0
    )
    if largest > listener.max_message_bytes:
        print(
            f"note: the largest mail ({largest} bytes) is over smtp_listener.max_message_bytes "
            f"({listener.max_message_bytes}); the service will refuse it",
            file=sys.stderr,
        )
    run = secrets.token_hex(4)
    results = []
    method = "-"
    for name in names:
        print(f"{name}: waiting for the service to be idle …", file=sys.stderr, flush=True)
        idle, _ = wait_idle(pid, args.timeout)
        if not idle:
            print(
                f"{name}: note: the service is still busy after {args.timeout:g} s (the last "
                "case's work?); this case's figures include that work",
                file=sys.stderr,
            )
        waiting = db.queue_waiting()
        if waiting:
            print(f"{name}: note: {waiting} mail(s) still in the queue", file=sys.stderr)
        print(f"{name}: sending …", file=sys.stderr, flush=True)
        result = run_case(
            name,
            args.scale,
            run,
            desk_address,
            host,
            port,
            pid,
            db,
            args.timeout,
            sent_grace=3 * config.outbound.poll_seconds + 2.0,
        )
        result["idle_before"] = idle
        result["queue_waiting_before"] = waiting
        results.append(result)
        method = result["memory"]["method"]
        if not result["service_alive"]:
            print(f"{name}: the service (pid {pid}) is gone; stopping", file=sys.stderr)
            break
    header = {
        "pid": pid,
        "smtp": f"{host}:{port}",
        "database": db.shown,
        "scale": args.scale,
        "memory_method": method,
        "run": run,
    }
    line = summary(results)
    if args.json:
        print(
            json.dumps(
                {
                    **header,
                    "cases": results,
                    "all_met": all(r["met"] for r in results),
                    "summary": line,
                },
                indent=2,
                ensure_ascii=False,
            )
        )
    else:
        print_table(results, header)
        print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
