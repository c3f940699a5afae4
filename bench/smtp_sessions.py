"""Unfinished SMTP DATA transfers: the listener's memory while they arrive and after they end.

Twenty clients each send 20 MB of DATA and never finish it (no final dot); then either they
hang up (``close``) or they stall until the listener's DATA deadline cuts them off
(``deadline``). Prints the process's RSS at rest, with the sessions open, and after they have
ended, without and then with a full garbage collection. The clients run in the same process
as the listener (the real aiosmtpd listener of ``intake.email.smtp_listener``, on loopback); its
handler only answers, so nothing is stored.

    .venv/bin/python bench/smtp_sessions.py close
    .venv/bin/python bench/smtp_sessions.py deadline --data-timeout 60
"""

from __future__ import annotations

import argparse
import gc
import socket
import time
from pathlib import Path

from triage_desk.config import load_config
from triage_desk.desks import Desks
from triage_desk.intake.email.smtp_listener import SmtpIntakeHandler, SmtpListener

ROOT = Path(__file__).resolve().parent.parent
LINE = b"A" * 76 + b"\r\n"


def rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


async def _answer(mail: object) -> int:
    return 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("end", choices=("close", "deadline"))
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--megabytes", type=int, default=20)
    parser.add_argument("--data-timeout", type=float, default=600.0)
    args = parser.parse_args()

    desks = Desks(load_config(ROOT / "config.example.toml"))
    listener = SmtpListener(
        SmtpIntakeHandler(desks, _answer),
        "127.0.0.1",
        0,
        25 * 1024 * 1024,
        max_sessions=args.sessions + 1,
        data_timeout_seconds=args.data_timeout,
    )
    listener.start()
    limit = listener.controller.limit
    assert limit is not None
    resting = rss_mb()
    chunk = LINE * (1024 * 1024 // len(LINE))
    clients = []
    started = time.monotonic()
    for _ in range(args.sessions):
        sock = socket.create_connection(("127.0.0.1", listener.port))
        lines = sock.makefile("rb")
        lines.readline()
        for command in (b"HELO bench", b"MAIL FROM:<a@b.lv>", b"RCPT TO:<atbalsts@example.lv>"):
            sock.sendall(command + b"\r\n")
            lines.readline()
        sock.sendall(b"DATA\r\n")
        lines.readline()
        for _ in range(args.megabytes):
            sock.sendall(chunk)
        clients.append((sock, lines))
    time.sleep(1.0)
    during = rss_mb()
    if args.end == "deadline":
        while limit.open and time.monotonic() - started < args.data_timeout + 60:
            time.sleep(0.2)
    for sock, lines in clients:
        lines.close()
        sock.close()
    while limit.open:
        time.sleep(0.2)
    time.sleep(1.0)
    after = rss_mb()
    gc.collect()
    collected = rss_mb()
    listener.stop()
    print(
        f"{args.sessions} unfinished {args.megabytes} MB DATA transfers, ended by "
        f"{'the clients hanging up' if args.end == 'close' else 'the DATA deadline'}: RSS at "
        f"rest {resting:.0f} MB, while open {during:.0f} MB, after they ended {after:.0f} MB, "
        f"after a full garbage collection {collected:.0f} MB"
    )


if __name__ == "__main__":
    main()
