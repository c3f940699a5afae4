"""The console served as `triage run` serves it (``console.server.ConsoleServer``: uvicorn
in a thread) on 127.0.0.1 with a free port: the HTTP and browser tests use real sockets."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from fastapi import FastAPI

from triage_desk.console.server import ConsoleServer


@contextmanager
def serving(web: FastAPI) -> Iterator[str]:
    """The base URL of ``web`` on a free loopback port until the block ends."""
    server = ConsoleServer(web, "127.0.0.1", 0)
    port = server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()
