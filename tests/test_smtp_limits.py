"""SMTP sessions are bounded: how many at once, and how long a DATA transfer may take.

Over a real socket, against the real aiosmtpd listener. Twenty unfinished 20 MB DATA
transfers used to hold their buffers after the clients had gone (aiosmtpd's frame with the
received lines stayed reachable from the cancelled task until a full garbage collection), and
a transfer trickling in was never cut off.
"""

from __future__ import annotations

import contextlib
import socket
import time
import tracemalloc
from collections.abc import Callable, Iterator

import pytest

from triage_desk.desks import Desks
from triage_desk.intake.email.smtp_listener import SmtpIntakeHandler, SmtpListener

LINE = b"A" * 76 + b"\r\n"
BUFFERED = 4 * 1024 * 1024  # what the unfinished transfer sends before it stalls


class Client:
    """A raw SMTP client: a socket and its line reader, closed together."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=60)
        self.lines = self.sock.makefile("rb")

    def reply(self) -> bytes:
        return self.lines.readline()

    def command(self, text: str) -> bytes:
        self.sock.sendall(text.encode() + b"\r\n")
        return self.reply()

    def start_data(self) -> None:
        assert self.reply().startswith(b"220")
        for text in ("HELO client.example.lv", "MAIL FROM:<a@novads.example.lv>"):
            assert self.command(text).startswith(b"250")
        assert self.command("RCPT TO:<atbalsts@example.lv>").startswith(b"250")
        assert self.command("DATA").startswith(b"354")

    def close(self) -> None:
        self.lines.close()  # the socket really closes only when its file is closed too
        self.sock.close()


def wait_until(condition: Callable[[], bool], seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {seconds} s")
        time.sleep(0.05)


@pytest.fixture
def listen(example_config) -> Iterator[Callable[..., SmtpListener]]:
    started: list[SmtpListener] = []

    async def submit(mail):  # type: ignore[no-untyped-def]
        return 1

    def start(**limits: float) -> SmtpListener:
        handler = SmtpIntakeHandler(Desks(example_config), submit)
        listener = SmtpListener(handler, "127.0.0.1", 0, 25 * 1024 * 1024, **limits)
        listener.start()
        started.append(listener)
        return listener

    yield start
    for listener in started:
        listener.stop()


def _open_sessions(listener: SmtpListener) -> int:
    limit = listener.controller.limit
    assert limit is not None
    return limit.open


def test_over_the_session_limit_a_connection_gets_421_at_once(listen):
    listener = listen(max_sessions=2)
    first, second = Client(listener.port), Client(listener.port)
    assert first.reply().startswith(b"220") and second.reply().startswith(b"220")
    third = Client(listener.port)
    assert third.reply().startswith(b"421 4.3.2")
    assert third.reply() == b""  # and closed
    third.close()
    first.close()
    wait_until(lambda: _open_sessions(listener) == 1)
    again = Client(listener.port)
    assert again.reply().startswith(b"220")  # a freed place is taken again
    assert again.command("QUIT").startswith(b"221")
    for client in (second, again):
        client.close()
    wait_until(lambda: _open_sessions(listener) == 0)


def _buffered_bytes() -> int:
    return tracemalloc.get_traced_memory()[0]


@pytest.fixture
def traced() -> Iterator[None]:
    tracemalloc.start()
    try:
        yield
    finally:
        tracemalloc.stop()


def _send_unfinished(client: Client) -> None:
    client.start_data()
    client.sock.sendall(LINE * (BUFFERED // len(LINE)))


def _until_closed(client: Client) -> bytes:
    """What the server said before it closed the connection."""
    said = b""
    try:
        while line := client.reply():
            said += line
    except ConnectionResetError:
        pass
    return said


def test_a_data_transfer_past_its_deadline_is_cut_off_and_freed(listen, traced):
    listener = listen(data_timeout_seconds=5.0)
    before = _buffered_bytes()
    client = Client(listener.port)
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        _send_unfinished(client)  # the deadline may come first, mid-send
    # Nothing more is sent: the deadline closes the session. It says why (421), though a
    # socket closed with unread input may reach the client as a reset instead.
    assert _until_closed(client) in (b"", b"421 4.4.2 DATA took too long; closing the session\r\n")
    wait_until(lambda: _open_sessions(listener) == 0)
    peak = tracemalloc.get_traced_memory()[1]
    assert peak - before > BUFFERED / 2  # the listener did hold much of it
    # Freed when the session's task ends, with no garbage collection asked for.
    wait_until(lambda: _buffered_bytes() - before < BUFFERED / 4, seconds=10)
    client.close()


def test_a_client_gone_mid_data_leaves_nothing_behind(listen, traced):
    listener = listen()
    before = _buffered_bytes()
    clients = [Client(listener.port) for _ in range(3)]
    for client in clients:
        _send_unfinished(client)
    wait_until(lambda: _buffered_bytes() - before > 3 * BUFFERED)
    for client in clients:
        client.close()
    wait_until(lambda: _open_sessions(listener) == 0)
    wait_until(lambda: _buffered_bytes() - before < BUFFERED / 4, seconds=10)


def test_a_mail_within_the_deadline_is_accepted(listen):
    listener = listen(data_timeout_seconds=30.0, max_sessions=1)
    client = Client(listener.port)
    client.start_data()
    client.sock.sendall(b"Subject: x\r\n\r\n" + LINE * 1000 + b".\r\n")
    assert client.reply().startswith(b"250 2.0.0 OK queued as 1")
    assert client.command("QUIT").startswith(b"221")
    client.close()
