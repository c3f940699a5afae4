"""The work queue and the ticket view: routes over ``DeskService``, no SQL here."""

from __future__ import annotations

import datetime as dt

from fastapi import Depends, FastAPI, Form, HTTPException, Request
from fastapi.responses import RedirectResponse, Response

from triage_desk.console.app import MAX_FIELD, Console
from triage_desk.console.refusals import refusal_text
from triage_desk.console.security import MAIL_FRAME_CSP, Staff
from triage_desk.console.views import safe_mail_html
from triage_desk.desk_service import DeskError, NotFound, TicketFilter
from triage_desk.desk_service.results import StoredFile, TicketSummary

QUEUE_LIMIT = 500


def _is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


def _download(found: StoredFile) -> Response:
    """Offered for saving, never shown: attachment, a neutral type, no sniffing."""
    name = "".join(c for c in found.filename if c.isalnum() or c in "._-")[:120] or "file"
    return Response(
        found.data,
        media_type="application/octet-stream",
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Content-Security-Policy": "default-src 'none'; sandbox",
        },
    )


def sections(
    tickets: list[TicketSummary], now: dt.datetime, soon: dt.timedelta
) -> dict[str, list[TicketSummary]]:
    """The queue's parts, each in response-due order: overdue, breaching soon, the rest."""
    parts: dict[str, list[TicketSummary]] = {"overdue": [], "breaching_soon": [], "in_time": []}
    for ticket in tickets:
        waiting = ticket.first_response_at is None and ticket.response_due is not None
        if ticket.overdue:
            parts["overdue"].append(ticket)
        elif waiting and ticket.response_due is not None and ticket.response_due <= now + soon:
            parts["breaching_soon"].append(ticket)
        else:
            parts["in_time"].append(ticket)
    return parts


def register(web: FastAPI, console: Console) -> None:
    agent = console.guard.need("agent")
    supervisor = console.guard.need("supervisor")
    service = console.service

    def _desk(desk: str | None) -> str:
        desk = desk or console.config.service.default_desk
        if desk not in console.config.desks:
            raise HTTPException(404)
        return desk

    def _row(request: Request, staff: Staff, number: str) -> Response:
        summary = service.ticket(number).summary
        return console.page(
            request,
            "_row.html",
            staff,
            ticket=summary,
            users=console.accounts.active_usernames(),
            categories=_categories(console, summary.desk),
        )

    def _after(request: Request, staff: Staff, number: str, anchor: str = "") -> Response:
        if _is_htmx(request):
            return _row(request, staff, number)
        return RedirectResponse(f"/tickets/{number}{anchor}", status_code=303)

    @web.get("/queue")
    async def queue(request: Request, desk: str | None = None, staff: Staff = Depends(agent)):
        desk = _desk(desk)
        now = console.clock()
        working = service.tickets(
            TicketFilter(desk=desk, statuses=("open", "answered"), limit=QUEUE_LIMIT)
        )
        return console.page(
            request,
            "queue.html",
            staff,
            desk=desk,
            parts=sections(
                working, now, dt.timedelta(minutes=console.config.console.breaching_soon_minutes)
            ),
            queued=service.tickets(TicketFilter(desk=desk, status="queued", limit=QUEUE_LIMIT)),
            refused=service.tickets(TicketFilter(desk=desk, status="refused", limit=QUEUE_LIMIT)),
            users=console.accounts.active_usernames(),
            categories=_categories(console, desk),
            zone=service.zone(desk),
        )

    @web.post("/tickets/{number}/confirm")
    async def confirm(request: Request, number: str, staff: Staff = Depends(agent)):
        service.confirm(number, staff.username, override=False)
        return _after(request, staff, number)

    @web.post("/tickets/{number}/override")
    async def override(
        request: Request,
        number: str,
        staff: Staff = Depends(supervisor),
        reason: str = Form("", max_length=MAX_FIELD),
    ):
        service.confirm(number, staff.username, reason or None, override=True)
        return _after(request, staff, number)

    @web.post("/tickets/confirm")
    async def confirm_many(request: Request, staff: Staff = Depends(agent)):
        form = await request.form()
        numbers = [n for n in form.getlist("number") if isinstance(n, str)][:200]
        done = service.confirm_many(numbers, staff.username)
        rows = [
            (n, refusal_text(staff.language, r), True)
            if isinstance(r, DeskError)
            else (n, r.message, False)
            for n, r in zip(numbers, done, strict=True)
        ]
        return console.page(request, "results.html", staff, rows=rows)

    @web.post("/tickets/{number}/category")
    async def change(
        request: Request,
        number: str,
        staff: Staff = Depends(agent),
        category: str = Form(..., max_length=64),
        reason: str = Form("", max_length=MAX_FIELD),
    ):
        service.change_category(number, category, reason, staff.username)
        return _after(request, staff, number)

    @web.post("/tickets/{number}/assign")
    async def assign(
        request: Request,
        number: str,
        staff: Staff = Depends(agent),
        assignee: str = Form("", max_length=120),
    ):
        service.assign(number, assignee or None, staff.username)
        return _after(request, staff, number)

    @web.get("/tickets/{number}")
    async def ticket(request: Request, number: str, staff: Staff = Depends(agent)):
        detail = service.ticket(number)
        html_parts = {
            m.id
            for m in detail.messages
            if m.direction == "in" and m.channel == "email" and _has_html(console, number, m.id)
        }
        return console.page(
            request,
            "ticket.html",
            staff,
            ticket=detail,
            s=detail.summary,
            html_parts=html_parts,
            users=console.accounts.active_usernames(),
            categories=_categories(console, detail.summary.desk),
        )

    @web.get("/tickets/{number}/messages/{message_id}/raw")
    async def raw(number: str, message_id: int, staff: Staff = Depends(agent)):
        return _download(service.message_raw(number, message_id))

    @web.get("/tickets/{number}/messages/{message_id}/html")
    async def html(number: str, message_id: int, staff: Staff = Depends(agent)):
        found = service.message_html(number, message_id)
        if found is None:
            raise NotFound("html part", message_id)
        return Response(
            safe_mail_html(found),
            media_type="text/html; charset=utf-8",
            headers={"Content-Security-Policy": MAIL_FRAME_CSP, "X-Frame-Options": "SAMEORIGIN"},
        )

    @web.get("/tickets/{number}/attachments/{attachment_id}")
    async def attachment(number: str, attachment_id: int, staff: Staff = Depends(agent)):
        return _download(service.attachment(number, attachment_id))

    @web.post("/tickets/{number}/reply")
    async def reply(
        request: Request,
        number: str,
        staff: Staff = Depends(agent),
        text: str = Form(..., max_length=MAX_FIELD),
    ):
        service.reply(number, text, staff.username)
        return RedirectResponse(f"/tickets/{number}", status_code=303)

    @web.post("/tickets/{number}/resolve")
    async def resolve(
        request: Request,
        number: str,
        staff: Staff = Depends(agent),
        note: str = Form("", max_length=MAX_FIELD),
    ):
        service.resolve(number, staff.username, note or None)
        return RedirectResponse(f"/tickets/{number}", status_code=303)

    @web.post("/tickets/{number}/reopen")
    async def reopen(
        request: Request,
        number: str,
        staff: Staff = Depends(agent),
        reason: str = Form("", max_length=MAX_FIELD),
    ):
        service.reopen(number, staff.username, reason or None)
        return RedirectResponse(f"/tickets/{number}", status_code=303)

    @web.post("/tickets/{number}/notes")
    async def note(
        request: Request,
        number: str,
        staff: Staff = Depends(agent),
        text: str = Form(..., max_length=MAX_FIELD),
    ):
        service.add_note(number, text, staff.username)
        return RedirectResponse(f"/tickets/{number}#notes", status_code=303)


def _has_html(console: Console, number: str, message_id: int) -> bool:
    try:
        return console.service.message_html(number, message_id) is not None
    except DeskError:
        return False


def _categories(console: Console, desk: str) -> list[str]:
    found = console.config.desks.get(desk)
    return sorted(found.categories) if found else []


__all__ = ["register", "sections"]
