"""The one HTTP server ``triage run`` starts beside the mail listeners: a FastAPI app built
from routers (Telegram's webhooks now, the staff console later), served by uvicorn on
``[web] host`` and ``port``.

Started only when there is a route to serve. It runs on the service's event loop; the
routes do their database work in threads, so a slow commit holds no other request.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Iterator, Sequence

import uvicorn
from fastapi import APIRouter, FastAPI

from triage_desk.config import WebConfig

log = logging.getLogger(__name__)

START_SECONDS = 30.0


def build_web_app(routers: Sequence[APIRouter]) -> FastAPI:
    """The FastAPI app of ``routers``; no API documentation pages (nothing to show the
    internet)."""
    web = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    for router in routers:
        web.include_router(router)
    return web


class _Server(uvicorn.Server):
    """uvicorn's server without its own signal handlers: ``triage run`` has its own, and
    stops this server with everything else."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _listen(host: str, port: int) -> socket.socket:
    """The listening socket, bound here so a port in use is an ``OSError`` to report (uvicorn
    would exit the process)."""
    host = host.strip("[]")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return socket.create_server((host, port), family=family, backlog=128)


class WebServer:
    """uvicorn serving ``routers`` at ``config``'s host and port until ``stop``."""

    def __init__(self, config: WebConfig, routers: Sequence[APIRouter]) -> None:
        self.config = config
        self.server = _Server(
            uvicorn.Config(
                build_web_app(routers),
                host=config.host,
                port=config.port,
                lifespan="off",
                log_config=None,  # the service's logging, not uvicorn's own
                access_log=False,
                server_header=False,
            )
        )
        self._task: asyncio.Task[None] | None = None
        self._socket: socket.socket | None = None

    @property
    def port(self) -> int:
        """The port it listens on (the one chosen when ``port`` is 0)."""
        assert self._socket is not None, "not started"
        return int(self._socket.getsockname()[1])

    async def start(self) -> None:
        """Listening on return; ``OSError`` when the address cannot be bound."""
        self._socket = _listen(self.config.host, self.config.port)
        self._task = asyncio.create_task(self.server.serve(sockets=[self._socket]))
        for _ in range(int(START_SECONDS / 0.01)):
            if self.server.started:
                log.info("HTTP server listening on %s:%s", self.config.host, self.port)
                return
            if self._task.done():
                break
            await asyncio.sleep(0.01)
        await self.stop()
        raise OSError(f"the HTTP server did not start on {self.config.host}:{self.config.port}")

    async def stop(self) -> None:
        if self._task is not None:
            self.server.should_exit = True
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if self._socket is not None:
            self._socket.close()
            self._socket = None
