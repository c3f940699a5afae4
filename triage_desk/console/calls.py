"""``/tickets/new``: an agent logs a phone call (requester's address, what was said, the
call's local time, desk). The desk service queues it; the queue runner makes the ticket,
its due times counted from the call. Registered before ``/tickets/{number}``."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from fastapi import Depends, FastAPI, Form, Request
from fastapi.responses import RedirectResponse, Response

from triage_desk.console.security import Staff
from triage_desk.desk_service import InvalidInput

if TYPE_CHECKING:
    from triage_desk.console.app import Console

LOCAL_INPUT = "%Y-%m-%dT%H:%M"  # what <input type="datetime-local"> sends


def register(web: FastAPI, console: Console) -> None:
    agent = console.guard.need("agent")
    service = console.service

    def form(
        request: Request,
        staff: Staff,
        desk: str,
        status: int = 200,
        problem: str | None = None,
        field: str | None = None,
        logged: str | None = None,
        values: dict[str, str] | None = None,
    ) -> Response:
        desk = desk if desk in console.desks else console.config.service.default_desk
        now = console.clock().astimezone(service.zone(desk))
        number = service.ticket_number_of(logged) if logged else None
        return console.page(
            request,
            "call.html",
            staff,
            status,
            desk=desk,
            default_at=now.strftime(LOCAL_INPUT),
            problem=problem,
            field=field,
            logged=logged,
            logged_number=number,
            values={"address": "", "text": "", "subject": "", "category": "", **(values or {})},
            categories=sorted(console.config.desks[desk].categories),
        )

    @web.get("/tickets/new")
    async def new_call(
        request: Request,
        staff: Staff = Depends(agent),
        desk: str = "",
        logged: str | None = None,
    ) -> Response:
        return form(request, staff, desk, logged=(logged or "")[:200] or None)

    @web.post("/tickets/new")
    async def log_call(
        request: Request,
        staff: Staff = Depends(agent),
        desk: str = Form("", max_length=64),
        address: str = Form("", max_length=320),
        at: str = Form("", max_length=32),
        subject: str = Form("", max_length=200),
        text: str = Form("", max_length=20_000),
        category: str = Form("", max_length=64),
    ) -> Response:
        values = {"address": address, "text": text, "subject": subject, "category": category}
        zone = service.zone(desk)
        try:
            try:
                when = dt.datetime.strptime(at.strip(), LOCAL_INPUT).replace(tzinfo=zone)
            except ValueError:
                raise InvalidInput("at", "the call's time is not a date and time") from None
            logged = service.log_call(
                desk, address, text, when, staff.username, subject or None, category or None
            )
        except InvalidInput as refused:
            return form(request, staff, desk, 400, refused.message, refused.field, None, values)
        return RedirectResponse(f"/tickets/new?desk={desk}&logged={logged.external_id}", 303)
