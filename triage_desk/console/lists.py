"""The lists beside the work queue: robot mail, quarantine, the outbox, undeliverable
addresses, and (admin) the console's users. Viewing is for every role; acting on
quarantine, the outbox and addresses is a supervisor's; users are an admin's."""

from __future__ import annotations

from fastapi import Depends, FastAPI, Form, HTTPException, Request
from fastapi.responses import RedirectResponse

from triage_desk.console.app import MAX_FIELD, Console
from triage_desk.console.security import Staff
from triage_desk.desk_service import TicketFilter
from triage_desk.desk_service.staff import ROLES


def register(web: FastAPI, console: Console) -> None:
    agent = console.guard.need("agent")
    supervisor = console.guard.need("supervisor")
    admin = console.guard.need("admin")
    service = console.service

    @web.get("/robots")
    async def robots(request: Request, desk: str | None = None, staff: Staff = Depends(agent)):
        if desk is not None and desk not in console.config.desks:
            raise HTTPException(404)
        found = service.tickets(TicketFilter(desk=desk, status="robot", newest_first=True))
        return console.page(request, "robots.html", staff, tickets=found)

    @web.get("/quarantine")
    async def quarantine(request: Request, staff: Staff = Depends(agent)):
        return console.page(request, "quarantine.html", staff, items=service.quarantine())

    @web.post("/quarantine/{item_id}/release")
    async def release(item_id: int, staff: Staff = Depends(supervisor)):
        service.release_quarantined(item_id, staff.username)
        return RedirectResponse("/quarantine", status_code=303)

    @web.post("/quarantine/{item_id}/discard")
    async def discard(
        item_id: int,
        staff: Staff = Depends(supervisor),
        reason: str = Form("", max_length=MAX_FIELD),
    ):
        service.discard_quarantined(item_id, staff.username, reason or None)
        return RedirectResponse("/quarantine", status_code=303)

    @web.get("/outbox")
    async def outbox(request: Request, status: str | None = None, staff: Staff = Depends(agent)):
        return console.page(
            request,
            "outbox.html",
            staff,
            items=service.outbox(status or None, limit=200),
            dead=service.outbox("dead", limit=200),
            status_filter=status or "",
        )

    @web.post("/outbox/{item_id}/retry")
    async def retry(item_id: int, staff: Staff = Depends(supervisor)):
        service.requeue_outbox(item_id, staff.username)
        return RedirectResponse("/outbox", status_code=303)

    @web.get("/addresses")
    async def addresses(request: Request, staff: Staff = Depends(agent)):
        return console.page(
            request, "addresses.html", staff, items=service.undeliverable_addresses()
        )

    @web.post("/addresses/clear")
    async def clear(
        staff: Staff = Depends(supervisor),
        address: str = Form(..., max_length=320),
        channel: str = Form("email", max_length=32),
    ):
        service.clear_address(address, staff.username, channel)
        return RedirectResponse("/addresses", status_code=303)

    @web.get("/admin/users")
    async def users(request: Request, staff: Staff = Depends(admin)):
        return console.page(
            request, "users.html", staff, users=console.accounts.users(), roles=ROLES
        )

    @web.post("/admin/users")
    async def add_user(
        staff: Staff = Depends(admin),
        username: str = Form(..., max_length=64),
        password: str = Form(..., max_length=1024),
        role: str = Form(..., max_length=16),
        language: str = Form("lv", max_length=8),
    ):
        added = console.accounts.add_user(username, password, role, language)
        console.accounts.audit(staff.username, "user_added", username=added.username, role=role)
        return RedirectResponse("/admin/users", status_code=303)

    @web.post("/admin/users/{username}/active")
    async def set_active(
        username: str, staff: Staff = Depends(admin), active: str = Form(..., max_length=5)
    ):
        console.accounts.set_active(username, active == "true", staff.username)
        return RedirectResponse("/admin/users", status_code=303)


__all__ = ["register"]
