"""Clients, their members and designated representatives, requesters, and notices of a
planned change to representatives: routes over ``DeskService``, no SQL here.

Every role reads these pages; changing a client, its members or representatives, importing
a CSV and sending a notice are a supervisor's (terms clauses 12 and 23).
"""

from __future__ import annotations

import datetime as dt
import secrets

from fastapi import Depends, FastAPI, Form, HTTPException, Request, UploadFile
from fastapi.responses import RedirectResponse

from triage_desk.console.app import MAX_FIELD, Console
from triage_desk.console.security import Staff
from triage_desk.desk_service import InvalidInput
from triage_desk.desk_service.clients import MAX_IMPORT_BYTES


def _domains(text: str) -> list[str]:
    return [d for d in text.replace(";", ",").replace(" ", ",").split(",") if d.strip()]


def _change_at(text: str) -> dt.datetime:
    """A ``datetime-local`` field's value: the desk's local time (no offset)."""
    try:
        return dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInput("change_at", f"not a date and time: {text[:40]!r}", text[:40]) from None


def register(web: FastAPI, console: Console) -> None:
    agent = console.guard.need("agent")
    supervisor = console.guard.need("supervisor")
    service = console.service

    def _desk(desk: str | None) -> str | None:
        if desk is not None and desk not in console.config.desks:
            raise HTTPException(404)
        return desk

    @web.get("/clients")
    async def clients(request: Request, desk: str | None = None, staff: Staff = Depends(agent)):
        return console.page(
            request,
            "clients.html",
            staff,
            clients=service.clients(_desk(desk or None)),
            max_import=MAX_IMPORT_BYTES,
        )

    @web.post("/clients")
    async def add_client(
        staff: Staff = Depends(supervisor),
        name: str = Form(..., max_length=300),
        desk: str = Form(..., max_length=64),
        domains: str = Form("", max_length=5000),
    ):
        added = service.add_client(name, desk, _domains(domains), staff.username)
        return RedirectResponse(f"/clients/{added.id}", status_code=303)

    @web.post("/clients/import")
    async def import_clients(
        request: Request, file: UploadFile, staff: Staff = Depends(supervisor)
    ):
        data = await file.read(MAX_IMPORT_BYTES + 1)  # one byte more tells it is too big
        report = service.import_clients(data, file.filename or "upload.csv", staff.username)
        return console.page(request, "clients_import.html", staff, report=report)

    @web.get("/clients/{client_id}")
    async def client(request: Request, client_id: int, staff: Staff = Depends(agent)):
        return console.page(request, "client.html", staff, c=service.client(client_id))

    @web.post("/clients/{client_id}/domains")
    async def domains(
        client_id: int,
        staff: Staff = Depends(supervisor),
        domains: str = Form("", max_length=5000),
    ):
        service.set_client_domains(client_id, _domains(domains), staff.username)
        return RedirectResponse(f"/clients/{client_id}", status_code=303)

    @web.post("/clients/{client_id}/members")
    async def add_member(
        client_id: int,
        staff: Staff = Depends(supervisor),
        address: str = Form(..., max_length=320),
        name: str = Form("", max_length=300),
        representative: str = Form("", max_length=5),
    ):
        service.add_client_member(
            client_id, address, staff.username, name or None, representative == "true"
        )
        return RedirectResponse(f"/clients/{client_id}", status_code=303)

    @web.post("/clients/{client_id}/members/{requester_id}/representative")
    async def representative(
        client_id: int,
        requester_id: int,
        staff: Staff = Depends(supervisor),
        representative: str = Form(..., max_length=5),
        next: str = Form("", max_length=20),
    ):
        service.set_representative(
            client_id, requester_id, representative == "true", staff.username
        )
        if next == "requester":
            return RedirectResponse(f"/requesters/{requester_id}", status_code=303)
        return RedirectResponse(f"/clients/{client_id}", status_code=303)

    @web.get("/requesters")
    async def requesters(request: Request, q: str = "", staff: Staff = Depends(agent)):
        return console.page(
            request,
            "requesters.html",
            staff,
            q=q[:320],
            found=service.find_requesters(q[:320]),
        )

    @web.get("/requesters/{requester_id}")
    async def requester(request: Request, requester_id: int, staff: Staff = Depends(agent)):
        found = service.requester(requester_id)
        return console.page(request, "requester.html", staff, r=found, clients=service.clients())

    @web.post("/requesters/{requester_id}/clients")
    async def add_to_client(
        requester_id: int,
        staff: Staff = Depends(supervisor),
        client_id: int = Form(...),
        representative: str = Form("", max_length=5),
    ):
        service.add_requester_to_client(
            client_id, requester_id, staff.username, representative == "true"
        )
        return RedirectResponse(f"/requesters/{requester_id}", status_code=303)

    @web.get("/notices")
    async def notices(request: Request, desk: str | None = None, staff: Staff = Depends(agent)):
        chosen = _desk(desk or None) or console.config.service.default_desk
        return console.page(
            request,
            "notices.html",
            staff,
            notices=service.notices(),
            clients=service.clients(chosen),
            desk=chosen,
            earliest=service.earliest_notice_change(chosen),
            zone=service.zone(chosen),
            # The form's own key: posting it twice finds the notice it made once.
            notice_key=secrets.token_urlsafe(24),
        )

    @web.post("/notices")
    async def send_notice(request: Request, staff: Staff = Depends(supervisor)):
        form = await request.form()
        fields = {
            name: value[:MAX_FIELD] if isinstance(value, str) else ""
            for name in ("desk", "change_at", "subject", "text", "key")
            for value in [form.get(name, "")]
        }
        chosen = [c for c in form.getlist("client") if isinstance(c, str)][:200]
        ids = []
        for one in chosen:
            if not one.isdigit():
                raise InvalidInput("clients", f"not a client id: {one[:20]!r}")
            ids.append(int(one))
        sent = service.send_notice(
            fields["desk"],
            ids,
            _change_at(fields["change_at"]),
            fields["subject"],
            fields["text"],
            staff.username,
            fields["key"],
        )
        return RedirectResponse(f"/notices/{sent.notice.id}", status_code=303)

    @web.get("/notices/{notice_id}")
    async def notice(request: Request, notice_id: int, staff: Staff = Depends(agent)):
        return console.page(request, "notice.html", staff, n=service.notice(notice_id))


__all__ = ["register"]
