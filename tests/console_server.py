"""The console served by uvicorn on 127.0.0.1 (a free port) in a thread, as `triage run`
serves it: the HTTP and browser tests talk to it over real sockets."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from fastapi import FastAPI


@contextmanager
def serving(web: FastAPI) -> Iterator[str]:
    """The base URL of ``web`` served on a free loopback port until the block ends."""
    server = uvicorn.Server(
        uvicorn.Config(web, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, name="console-under-test", daemon=True)
    thread.start()
    for _ in range(500):  # ready within seconds; each wait is on the server's own flag
        if server.started and server.servers:
            break
        if not thread.is_alive():
            raise RuntimeError("the console's server did not start")
        time.sleep(0.01)
    else:
        raise RuntimeError("the console's server did not start")
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
