"""The console served by uvicorn in a thread of its own, beside `triage run`'s runners.

A thread, not a task on the service's event loop: uvicorn then leaves the process's signal
handlers alone (the service's own stop on SIGINT/SIGTERM stays in charge), and a slow page
never delays the intake loop.
"""

from __future__ import annotations

import logging
import threading

import uvicorn
from fastapi import FastAPI

log = logging.getLogger(__name__)


class ConsoleServer:
    def __init__(self, web: FastAPI, host: str, port: int) -> None:
        self.server = uvicorn.Server(
            uvicorn.Config(
                web,
                host=host,
                port=port,
                log_level="warning",
                lifespan="off",
                server_header=False,
                # A TLS proxy on this machine may say the browser used https (Secure cookies).
                proxy_headers=True,
                forwarded_allow_ips="127.0.0.1",
            )
        )
        self.thread = threading.Thread(target=self.server.run, name="console", daemon=True)
        self.ready = threading.Event()

    def start(self, timeout: float = 30.0) -> int:
        """Serve; the port it listens on, once it does (``RuntimeError`` if it cannot)."""
        self.thread.start()
        waiting = threading.Event()
        for _ in range(int(timeout * 100)):
            if self.server.started and self.server.servers:
                port: int = self.server.servers[0].sockets[0].getsockname()[1]
                log.info("staff console on http://%s:%s", self.server.config.host, port)
                return port
            if not self.thread.is_alive():
                break
            waiting.wait(0.01)
        self.stop()
        raise RuntimeError(
            f"the console could not listen on {self.server.config.host}:"
            f"{self.server.config.port}; see console.host and console.port"
        )

    def stop(self) -> None:
        self.server.should_exit = True
        if self.thread.is_alive():
            self.thread.join(10)


__all__ = ["ConsoleServer"]
