"""What the parts the email channel must use cost on their own, per mail, on this machine.

    .venv/bin/python bench/email_floor.py --count 3000

Issue 3 asks for SMTP ≥ 1,000 msg/s until every mail is stored, classified and acknowledged,
on two cores that also run the SMTP clients: at most 2 ms of CPU a mail for everything. This
bench prints what these parts cost with none of our code around them, on the same generated
mails and the same eight `smtplib` clients as `email_ingest.py`:

1. the SMTP clients themselves (they share the two cores);
2. aiosmtpd with a handler that answers 250 at once (no storage at all), as shipped and with
   our session class (``DeskSMTP``);
3. the stdlib parse with ``policy.default`` and what any intake must read of it (the
   addressing headers, every part's decoded content), and our own normalisation of the mail;
4. SQLite: one INSERT of the raw mail and one of a message row, batched 200 a transaction.

Clients and aiosmtpd are fixed costs; what is left of 2 ms is the budget for the whole
intake. Beside it: the stdlib parse used plainly, our own normalisation (which already avoids
policy.default's per-access header parsing), and bare SQLite. CPU is read from /proc; the
machine's speed drifts (a shared host), so the clients' own cost is printed as the yardstick.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import sqlite3
import sys
import tempfile
import time
from email import policy
from email.parser import BytesParser
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from email_ingest import DESK_ADDRESS, _smtp_client, cpu_seconds, generate

HEADERS = ("From", "To", "Cc", "Subject", "Date", "Message-ID", "In-Reply-To", "References")


def smtp_alone(mails: list[bytes], clients: int, ours: bool) -> tuple[float, float, float]:
    """aiosmtpd answering 250 at once: (seconds, server CPU a mail, client CPU a mail).
    ``ours``: with our session class (``DeskSMTP``, quicker envelope addresses)."""
    from aiosmtpd.controller import Controller

    from triage_desk.intake.email.smtp_listener import DeskController, _free_port

    class Accept:
        async def handle_DATA(self, server, session, envelope) -> str:
            return "250 2.0.0 OK"

    controller = (DeskController if ours else Controller)(
        Accept(), hostname="127.0.0.1", port=_free_port("127.0.0.1"), server_hostname="floor"
    )
    controller.start()
    context = mp.get_context("fork")
    start, results = context.Event(), context.Queue()
    shares = [mails[k::clients] for k in range(clients)]
    procs = [
        context.Process(target=_smtp_client, args=(controller.port, share, start, results))
        for share in shares
    ]
    for proc in procs:
        proc.start()
    time.sleep(0.5)
    cpu = cpu_seconds()
    began = time.perf_counter()
    start.set()
    client_cpu = 0.0
    for _ in procs:
        _latencies, _sent, _done, spent, error = results.get(timeout=600)
        if error:
            raise SystemExit(f"an SMTP client failed: {error}")
        client_cpu += spent
    seconds = time.perf_counter() - began
    server = cpu_seconds() - cpu
    for proc in procs:
        proc.join()
    controller.stop()
    return seconds, server / len(mails), client_cpu / len(mails)


def parse_alone(mails: list[bytes]) -> float:
    """CPU a mail of the stdlib parse and reading what an intake needs from it."""
    parser = BytesParser(policy=policy.default)
    cpu = cpu_seconds()
    for raw in mails:
        message = parser.parsebytes(raw)
        for name in HEADERS:
            value = message.get(name)
            if value is not None and name in ("From", "To", "Cc"):
                [(a.display_name, a.addr_spec) for a in value.addresses]
        for part in message.walk():
            if not part.is_multipart():
                part.get_content()
    return (cpu_seconds() - cpu) / len(mails)


def ours_alone(mails: list[bytes]) -> float:
    """CPU a mail of our own normalisation (``inbound_from_email``: the stdlib parse with raw
    header values, our header decoding, text, quotes, attachments, robot checks)."""
    import datetime as dt

    from triage_desk.intake.email.parse import inbound_from_email

    now = dt.datetime.now(dt.UTC)
    cpu = cpu_seconds()
    for raw in mails:
        inbound_from_email(raw, "municipal", now, "someone@client.example.lv", (DESK_ADDRESS,))
    return (cpu_seconds() - cpu) / len(mails)


def store_alone(mails: list[bytes], batch: int = 200) -> float:
    """CPU a mail of two plain INSERTs (the raw mail, a message row) in SQLite, WAL mode."""
    with tempfile.TemporaryDirectory() as workdir:
        db = sqlite3.connect(Path(workdir) / "floor.sqlite", isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("CREATE TABLE spool (id INTEGER PRIMARY KEY, raw BLOB, received TEXT)")
        db.execute(
            "CREATE TABLE message (id INTEGER PRIMARY KEY, external_id TEXT UNIQUE,"
            " sender TEXT, subject TEXT, text TEXT, raw BLOB)"
        )
        cpu = cpu_seconds()
        for first in range(0, len(mails), batch):
            chunk = mails[first : first + batch]
            db.execute("BEGIN")
            db.executemany(
                "INSERT INTO spool (raw, received) VALUES (?, ?)",
                [(raw, "2026-11-24T12:00:00") for raw in chunk],
            )
            db.executemany(
                "INSERT INTO message (external_id, sender, subject, text, raw)"
                " VALUES (?, ?, ?, ?, ?)",
                [
                    (f"<{first + i}@x>", "a@b.lv", "subject", raw[-400:].decode("latin-1"), raw)
                    for i, raw in enumerate(chunk)
                ],
            )
            db.execute("COMMIT")
        spent = cpu_seconds() - cpu
        db.close()
    return spent / len(mails)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", "-n", type=int, default=3000)
    parser.add_argument("--smtp-clients", type=int, default=8)
    args = parser.parse_args()
    mails = [raw for _kind, raw in generate(args.count, tag="floor")]
    _seconds, shipped, _clients = smtp_alone(mails, args.smtp_clients, ours=False)
    seconds, server, clients = smtp_alone(mails, args.smtp_clients, ours=True)
    parse = parse_alone(mails)
    ours = ours_alone(mails)
    store = store_alone(mails)
    fixed = clients + server
    print(f"email_floor: N={len(mails)} mails to {DESK_ADDRESS}, CPU a mail on this machine")
    print(f"  {f'SMTP clients ({args.smtp_clients})':<34}{clients * 1000:6.2f} ms")
    print(f"  {'aiosmtpd as shipped, 250 at once':<34}{shipped * 1000:6.2f} ms")
    print(
        f"  aiosmtpd with DeskSMTP            {server * 1000:6.2f} ms"
        f"   ({len(mails) / seconds:.0f} msg/s accepted)"
    )
    print(
        f"  left of 2 ms for the intake       {(0.002 - fixed) * 1000:6.2f} ms"
        "   (SMTP ≥ 1,000 msg/s on two cores: 2 ms of CPU a mail for everything)"
    )
    print(f"  stdlib parse, policy.default      {parse * 1000:6.2f} ms   (used plainly)")
    print(f"  our normalisation                 {ours * 1000:6.2f} ms   (inbound_from_email)")
    print(f"  SQLite, two plain INSERTs         {store * 1000:6.2f} ms")
    floor = fixed + ours + store
    print(
        f"  clients + aiosmtpd + ours + SQLite{floor * 1000:6.2f} ms"
        f"   → at most {2 / floor:.0f} msg/s before classifying, threading, acknowledging"
    )


if __name__ == "__main__":
    main()
