"""The public web form of each desk that enables it (``[desks.X.web_form]``), served by the
public HTTP server (``web/server.py``), never by the staff console.

- ``GET /form/<desk>``: the form in Latvian, English or Russian (``?lang=``, else
  Accept-Language), with a signed, time-limited form token and a honeypot field hidden by
  the stylesheet; a strict CSP (no inline script or style: ``form.js``, ``form.css``).
- ``GET /form/<desk>/suggest?q=``: up to three knowledge-base articles for what the person
  is typing (the desk's assistant), each offer counted; ``GET /form/<desk>/article/<slug>``
  counts a click and shows the article. Rate-limited per client address.
- ``POST /form/<desk>``: checked (token, sizes, address, message), limited per address and
  per client address (429), then committed as ONE inbound-queue row (channel "web") before
  any answer. The POST then waits up to ``wait_seconds`` for the queue runner to store it
  and redirects (303) to the ticket's signed status link; when it is not stored by then,
  to the submission's signed link, which says the number follows by email and turns into
  the ticket's link once it exists. A filled honeypot is answered the same way, with a
  link to a submission that never comes: nothing is stored, the robot learns nothing.
- ``GET /form/<desk>/status/<token>``: number, status, category and response due (in the
  desk's zone) only; a token that does not verify is a 404.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import json
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException

from triage_desk.addresses import is_email_address
from triage_desk.clock import Clock
from triage_desk.config import Config, DeskConfig
from triage_desk.intake.http_body import bounded_body
from triage_desk.intake.queue import Arrival, InboundQueue
from triage_desk.intake.web import tokens
from triage_desk.intake.web.decoder import REPLY_CHANNEL, WEB
from triage_desk.intake.web.limits import RateLimit
from triage_desk.intake.web.texts import TEXTS, choose_language
from triage_desk.responders.assistant import Assistant, plain_text
from triage_desk.responders.localtime import format_local
from triage_desk.storage import web_form
from triage_desk.storage.models import Ticket

log = logging.getLogger(__name__)
HERE = Path(__file__).parent
FORM_CSP = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "connect-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "object-src 'none'",
    )
)
FIELD_SLACK = 256 * 1024  # the text fields and multipart framing beside the files
SUBJECT_CHARS = 200
POLL_SECONDS = 0.1
HONEYPOT = "website"


def _secure(response: Response) -> Response:
    headers = response.headers
    headers["Content-Security-Policy"] = FORM_CSP
    headers["X-Frame-Options"] = "DENY"
    headers["X-Content-Type-Options"] = "nosniff"
    headers["Referrer-Policy"] = "no-referrer"
    headers.setdefault("Cache-Control", "no-store")
    return response


def _size(number: int) -> str:
    return f"{number / 1024 / 1024:g} MB" if number >= 1024 * 1024 else f"{number // 1024} kB"


@dataclass
class Problem(Exception):
    """A submission refused: the HTTP status, the text key, the field it is about."""

    status: int
    key: str
    field: str | None = None


class WebForm:
    """Every enabled desk's form; ``router()`` is what the HTTP server serves."""

    def __init__(
        self,
        config: Config,
        sessions: sessionmaker[Session],
        queue: InboundQueue,
        assistant: Assistant | None,
        clock: Clock,
        wake: Callable[[], None] = lambda: None,
    ) -> None:
        self.config, self.sessions, self.queue = config, sessions, queue
        self.assistant, self.clock, self.wake = assistant, clock, wake
        self.desks: dict[str, DeskConfig] = {
            name: desk for name, desk in config.desks.items() if desk.web_form.enabled
        }
        self.signer = tokens.Signer(web_form.signing_key(sessions, clock()))
        hour, minute = dt.timedelta(hours=1), dt.timedelta(minutes=1)
        self.by_address = {
            n: RateLimit(clock, d.web_form.submissions_per_address_per_hour, hour)
            for n, d in self.desks.items()
        }
        self.by_ip = {
            n: RateLimit(clock, d.web_form.submissions_per_ip_per_hour, hour)
            for n, d in self.desks.items()
        }
        self.suggesting = {
            n: RateLimit(clock, d.web_form.suggestions_per_ip_per_minute, minute)
            for n, d in self.desks.items()
        }
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(HERE / "templates"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )

    # ---------------------------------------------------------------- pages

    def _desk(self, name: str) -> DeskConfig:
        desk = self.desks.get(name)
        if desk is None:
            raise Problem(404, "not_found")
        return desk

    def _language(self, request: Request, desk: DeskConfig, asked: str | None = None) -> str:
        return choose_language(
            asked or request.query_params.get("lang"),
            request.headers.get("accept-language"),
            desk.default_language,
        )

    def page(self, template: str, lang: str, status: int = 200, **context: Any) -> Response:
        words = TEXTS[lang]
        html = self.env.get_template(template).render(lang=lang, t=words, **context)
        return _secure(HTMLResponse(html, status_code=status))

    def form_page(
        self, name: str, desk: DeskConfig, lang: str, status: int = 200, **context: Any
    ) -> Response:
        rules = desk.web_form
        hint = TEXTS[lang]["files_hint"].format(
            count=rules.max_files,
            size=_size(rules.max_file_bytes),
            total=_size(self.config.email.max_attachment_bytes),
        )
        values = {"subject": "", "message": "", "email": "", **context.pop("values", {})}
        return self.page(
            "form.html",
            lang,
            status,
            desk=name,
            desk_title=desk.name,
            token=self.signer.form_token(name, self.clock()),
            files_hint=hint,
            max_files=rules.max_files,
            languages=list(TEXTS),
            values=values,
            problem=context.pop("problem", None),
            field=context.pop("field", None),
        )

    def problem_page(self, name: str, lang: str, problem: Problem, **values: str) -> Response:
        desk = self.desks.get(name)
        if desk is None or problem.status in (404, 413, 429):
            return self.page(
                "message.html", lang, problem.status, desk=name, message=TEXTS[lang][problem.key]
            )
        return self.form_page(
            name, desk, lang, problem.status, problem=problem.key, field=problem.field,
            values=values,
        )  # fmt: skip

    # ---------------------------------------------------------------- submission

    async def submit(self, request: Request, name: str) -> Response:
        desk = self._desk(name)
        rules = desk.web_form
        total = self.config.email.max_attachment_bytes
        body = await bounded_body(request, total + FIELD_SLACK)
        if body is None:
            raise Problem(413, "too_large", "files")
        request._body = body  # starlette's own cache: the form is parsed from these bytes
        try:
            form = await request.form(max_files=rules.max_files, max_fields=20)
        except (MultiPartException, HTTPException) as exc:  # starlette wraps the first
            status = 413 if "files" in str(getattr(exc, "detail", exc)).lower() else 400
            raise Problem(status, "too_large" if status == 413 else "expired", "files") from exc
        try:
            return await self._accept(request, name, desk, form)
        finally:
            await form.close()  # the uploads' spooled files

    async def _accept(self, request: Request, name: str, desk: DeskConfig, form: Any) -> Response:
        rules = desk.web_form
        field = form.get
        lang = self._language(request, desk, str(field("lang") or "") or None)
        values = {
            "subject": str(field("subject") or "")[:SUBJECT_CHARS].strip(),
            "message": str(field("message") or "").strip(),
            "email": str(field("email") or "").strip().lower(),
        }
        chosen = str(field("language") or lang)
        chosen = chosen if chosen in TEXTS else lang
        submission = self.signer.form_submission(
            str(field("token") or ""), name, self.clock(), dt.timedelta(minutes=rules.token_minutes)
        )
        try:
            if submission is None:
                raise Problem(400, "expired", "token")
            if str(field(HONEYPOT) or ""):
                log.info("web form %s: honeypot filled; nothing stored", name)
                fake = self.signer.sign(tokens.SUBMISSION, f"{name}|{secrets.token_hex(16)}")
                return self._see(name, fake, lang)
            if not is_email_address(values["email"]):
                raise Problem(400, "bad_email", "email")
            if not values["message"] or len(values["message"]) > rules.max_message_chars:
                raise Problem(400, "bad_message", "message")
            files = await self._files(form.getlist("files"), rules.max_files, rules.max_file_bytes)
            client = request.client.host if request.client else "?"
            by_ip, by_address = self.by_ip[name], self.by_address[name]
            if not (by_ip.allows(client) and by_address.allows(values["email"])):
                raise Problem(429, "too_many")
            by_ip.count(client)  # only what is accepted counts against either
            by_address.count(values["email"])
        except Problem as problem:
            return self.problem_page(name, lang, problem, **values)
        external_id = f"web-{submission}@{name}.form"
        payload = {
            "address": values["email"],
            "subject": values["subject"],
            "text": values["message"],
            "language": chosen,
            "attachments": files,
        }
        item = Arrival(
            WEB, name, json.dumps(payload).encode(), self.clock(), {"source": "web-form"},
            external_id,
        )  # fmt: skip
        try:
            await asyncio.to_thread(self.queue.enqueue, [item])
        except SQLAlchemyError as exc:  # not committed: the person is told to try again
            log.warning("web form %s: submission not queued (%s)", name, type(exc).__name__)
            message = TEXTS[lang]["unavailable"]
            return self.page("message.html", lang, 503, desk=name, message=message)
        self.wake()
        ticket_id = await self._wait_for_ticket(external_id, rules.wait_seconds)
        if ticket_id is not None:
            return self._see(name, self.signer.sign(tokens.TICKET, str(ticket_id)), lang)
        token = self.signer.sign(tokens.SUBMISSION, f"{name}|{external_id}")
        return self._see(name, token, lang)

    async def _files(
        self, parts: list[Any], max_files: int, max_bytes: int
    ) -> list[dict[str, str]]:
        total, found = self.config.email.max_attachment_bytes, []
        uploads = [p for p in parts if isinstance(p, UploadFile) and (p.filename or p.size)]
        if len(uploads) > max_files:
            raise Problem(413, "too_large", "files")
        used = 0
        for upload in uploads:
            data = await upload.read(max_bytes + 1)
            used += len(data)
            if len(data) > max_bytes or used > total:
                raise Problem(413, "too_large", "files")
            found.append(
                {
                    "filename": (upload.filename or "attachment")[:200],
                    "content_type": (upload.content_type or "application/octet-stream")[:100],
                    "data": base64.b64encode(data).decode(),
                }
            )
        return found

    async def _wait_for_ticket(self, external_id: str, seconds: float) -> int | None:
        for attempt in range(int(seconds / POLL_SECONDS) + 1):
            found = await asyncio.to_thread(self._ticket_of, external_id)
            if found is not None or attempt * POLL_SECONDS >= seconds:
                return found
            await asyncio.sleep(POLL_SECONDS)
        return None

    def _ticket_of(self, external_id: str) -> int | None:
        with self.sessions() as session:
            return web_form.ticket_of(session, REPLY_CHANNEL, external_id)

    @staticmethod
    def _see(name: str, token: str, lang: str) -> Response:
        return _secure(RedirectResponse(f"/form/{name}/status/{token}?lang={lang}", 303))

    # ---------------------------------------------------------------- status

    def status(self, request: Request, name: str, token: str) -> Response:
        desk = self._desk(name)
        lang = self._language(request, desk)
        ticket_id = self.signer.verify(tokens.TICKET, token)
        if ticket_id is None:
            submission = self.signer.verify(tokens.SUBMISSION, token)
            if submission is None or not submission.startswith(f"{name}|"):
                raise Problem(404, "not_found")
            found = self._ticket_of(submission.split("|", 1)[1])
            if found is None:
                return self.page("pending.html", lang, desk=name)
            return self._see(name, self.signer.sign(tokens.TICKET, str(found)), lang)
        with self.sessions() as session:
            ticket = session.get(Ticket, int(ticket_id)) if ticket_id.isdigit() else None
            if ticket is None or ticket.desk != name:
                raise Problem(404, "not_found")
            category = desk.categories.get(ticket.category)
            zone = ZoneInfo(desk.calendar.zone)
            due = ticket.response_due
            shown = {
                "number": ticket.number,
                "status": TEXTS[lang].get(f"st_{ticket.status}", ticket.status),
                "category": category.label(lang) if category else ticket.category,
                "due": format_local(due, zone, lang) if due else "-",
            }
        link = f"/form/{name}/status/{token}"
        return self.page("status.html", lang, desk=name, ticket=shown, link=link)

    # ---------------------------------------------------------------- suggestions

    def suggest(self, request: Request, name: str, question: str) -> Response:
        desk = self._desk(name)
        lang = self._language(request, desk)
        client = request.client.host if request.client else "?"
        if not self.suggesting[name].allow(client):
            return _secure(JSONResponse({"articles": []}, status_code=429))
        question = question[: self.config.classifier.max_input_chars]
        if self.assistant is None or len(question.strip()) < 3:
            return _secure(JSONResponse({"articles": []}))
        limit = min(3, desk.assistant.max_suggestions)
        found = self.assistant.answer(
            question, name, lang, limit, min_score=desk.assistant.min_score
        )
        if found:
            with self.sessions.begin() as session:
                web_form.record(
                    session, name, lang, [a.slug for a in found], web_form.OFFER, self.clock()
                )
        articles = [
            {
                "slug": a.slug,
                "title": a.title,
                "summary": a.summary[:300],
                "url": f"/form/{name}/article/{a.slug}?lang={a.language}",
            }
            for a in found
        ]
        return _secure(JSONResponse({"articles": articles}))

    def article(self, request: Request, name: str, slug: str) -> Response:
        desk = self._desk(name)
        lang = self._language(request, desk)
        kb = self.assistant.kb if self.assistant is not None else None
        found = None
        for language in (lang, *TEXTS):
            found = kb.get(name, language, slug) if kb is not None else None
            if found is not None:
                break
        if found is None:
            raise Problem(404, "not_found")
        client = request.client.host if request.client else "?"
        if self.suggesting[name].allow(client):  # a flood is shown, not counted
            with self.sessions.begin() as session:
                web_form.record(session, name, found.language, [slug], web_form.CLICK, self.clock())
        paragraphs = [p for p in plain_text(found.body).split("\n\n") if p.strip()]
        return self.page("article.html", lang, desk=name, title=found.title, paragraphs=paragraphs)

    # ---------------------------------------------------------------- routes

    def router(self) -> APIRouter:
        router = APIRouter()

        async def guarded(request: Request, name: str, run: Callable[[], Any]) -> Response:
            try:
                result = run()
                return await result if asyncio.iscoroutine(result) else result
            except Problem as problem:
                desk = self.desks.get(name)
                lang = self._language(request, desk) if desk else "lv"
                return self.problem_page(name, lang, problem)

        @router.get("/form/{desk}", include_in_schema=False)
        async def show(request: Request, desk: str) -> Response:
            return await guarded(
                request,
                desk,
                lambda: self.form_page(
                    desk, self._desk(desk), self._language(request, self._desk(desk))
                ),
            )

        @router.post("/form/{desk}", include_in_schema=False)
        async def post(request: Request, desk: str) -> Response:
            return await guarded(request, desk, lambda: self.submit(request, desk))

        @router.get("/form/{desk}/status/{token}", include_in_schema=False)
        async def status(request: Request, desk: str, token: str) -> Response:
            return await guarded(
                request, desk, lambda: asyncio.to_thread(self.status, request, desk, token)
            )

        @router.get("/form/{desk}/suggest", include_in_schema=False)
        async def suggest(request: Request, desk: str, q: str = "") -> Response:
            return await guarded(
                request, desk, lambda: asyncio.to_thread(self.suggest, request, desk, q)
            )

        @router.get("/form/{desk}/article/{slug}", include_in_schema=False)
        async def article(request: Request, desk: str, slug: str) -> Response:
            return await guarded(
                request, desk, lambda: asyncio.to_thread(self.article, request, desk, slug)
            )

        for file_name, kind in (("form.css", "text/css"), ("form.js", "text/javascript")):
            router.add_api_route(
                f"/form-static/{file_name}", _static(file_name, kind), include_in_schema=False
            )
        return router


def _static(file_name: str, kind: str) -> Callable[[], Any]:
    path = HERE / "static" / file_name

    async def serve() -> Response:
        response = FileResponse(path, media_type=kind)
        response.headers["Cache-Control"] = "public, max-age=3600"
        return _secure(response)

    return serve
