#!/usr/bin/env python3
"""What a durable commit costs on SQLite: synchronous=NORMAL against FULL (the service's).

    .venv/bin/python bench/commits.py [--rounds 3] [--dir /var/tmp]

(a) one mail committed to the inbound queue in its own transaction (what an SMTP session that
    arrives alone waits for before its 250), median and p90 of 300;
(b) 1,000 outbox items through the dispatcher with the file transport: two commits an item
    (the attempt recorded before sending, the outcome after).
Each round makes a fresh database in ``--dir`` (put it on the disk the service uses: a tmpfs
syncs nothing).
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import Engine, event

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.helpers import make_mail  # noqa: E402
from triage_desk.intake.email.raw import RawMail, arrival_of  # noqa: E402
from triage_desk.intake.queue import InboundQueue  # noqa: E402
from triage_desk.responders.dispatcher import Dispatcher  # noqa: E402
from triage_desk.responders.transports import FileTransport  # noqa: E402
from triage_desk.storage.db import make_engine, make_session_factory, upgrade  # noqa: E402
from triage_desk.storage.models import OutboxItem  # noqa: E402


def engine_with(mode: str, folder: Path) -> Engine:
    url = f"sqlite:///{folder / 'bench.sqlite'}"
    upgrade(url)
    engine = make_engine(url)
    # After the service's own pragmas: only the synchronous mode differs.
    event.listen(engine, "connect", lambda conn, _rec: conn.execute(f"PRAGMA synchronous={mode}"))
    return engine


def queue_commit(mode: str, folder: Path) -> tuple[float, float]:
    engine = engine_with(mode, folder)
    queue = InboundQueue(make_session_factory(engine))
    mail = RawMail(make_mail(), "municipal", "smtp", dt.datetime.now(dt.UTC), "a@b.lv", ())
    times = []
    for _ in range(300):
        began = time.perf_counter()
        queue.enqueue([arrival_of(mail)])
        times.append(time.perf_counter() - began)
    engine.dispose()
    return statistics.median(times) * 1e3, sorted(times)[270] * 1e3


def dispatch(mode: str, folder: Path, count: int = 1000) -> float:
    engine = engine_with(mode, folder)
    sessions = make_session_factory(engine)
    due = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=5)
    with sessions.begin() as session:
        for n in range(count):
            session.add(
                OutboxItem(
                    dedupe_key=f"bench:{n}",
                    kind="acknowledgement",
                    channel="email",
                    sender="atbalsts@example.lv",
                    recipient=f"person{n}@example.lv",
                    subject="Pieteikums saņemts",
                    body_text="Labdien! Jūsu pieteikums ir saņemts.",
                    headers={"Message-ID": f"<bench{n}@example.lv>"},
                    next_attempt_at=due,
                )
            )
    dispatcher = Dispatcher(sessions, {"email": FileTransport(folder / "outbox")})
    began, sent = time.perf_counter(), 0
    while report := dispatcher.run_once(limit=100):
        sent += report.sent
        if not report.sent:
            break
    engine.dispose()
    return sent / (time.perf_counter() - began)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--dir", type=Path, default=Path("/var/tmp"))
    args = parser.parse_args()
    for round_ in range(1, args.rounds + 1):
        for mode in ("NORMAL", "FULL"):
            with tempfile.TemporaryDirectory(dir=args.dir) as first:
                median, p90 = queue_commit(mode, Path(first))
            with tempfile.TemporaryDirectory(dir=args.dir) as second:
                rate = dispatch(mode, Path(second))
            print(
                f"round {round_} {mode:6}  queue commit of one mail: median {median:.2f} ms, "
                f"p90 {p90:.2f} ms   dispatcher, file transport: {rate:.0f} items/s",
                flush=True,
            )


if __name__ == "__main__":
    main()
