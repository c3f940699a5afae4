"""A request body read only up to a limit, for the adapters that take messages over HTTP
(Telegram's webhook, the public web form): a client announcing or sending more is refused
before more than ``limit`` bytes are held in memory."""

from __future__ import annotations

from starlette.requests import Request


async def bounded_body(request: Request, limit: int) -> bytes | None:
    """The request's body, or None when it is over ``limit`` (read no further)."""
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        return None
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)
