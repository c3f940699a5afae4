"""``create_console``: the console's FastAPI application, its sign-in and its error pages.

The routes for tickets (``tickets.py``) and for the lists beside the queue (``lists.py``)
are registered here; every one of them depends on ``Guard.need(role)``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote

import jinja2
from fastapi import Depends, FastAPI, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy.orm import Session, sessionmaker

from triage_desk.clock import Clock
from triage_desk.config import Config
from triage_desk.console.api import desk_error_response, error_response, is_api
from triage_desk.console.i18n import LANGUAGES, translate
from triage_desk.console.refusals import refusal_text
from triage_desk.console.security import (
    CSRF_FIELD,
    LOGIN_COOKIE,
    SESSION_COOKIE,
    Guard,
    LoginThrottle,
    NotSignedIn,
    SecurityHeaders,
    Staff,
    new_token,
    tokens_match,
)
from triage_desk.console.views import badge, local
from triage_desk.desk_service import Conflict, DeskError, DeskService, InvalidInput, NotFound
from triage_desk.desk_service.staff import StaffAccounts
from triage_desk.desk_service.tokens import ApiTokens

HERE = Path(__file__).parent
MAX_FIELD = 100_000  # characters of one form field we read (a reply, a note)


class AppLike(Protocol):
    """What the console needs of the application (``app.App`` has it)."""

    config: Config
    sessions: sessionmaker[Session]


@dataclass
class Console:
    """What every route of the console shares."""

    service: DeskService
    accounts: StaffAccounts
    config: Config
    clock: Clock
    guard: Guard
    throttle: LoginThrottle
    env: jinja2.Environment

    @property
    def desks(self) -> list[str]:
        return list(self.config.desks)

    def page(
        self,
        request: Request,
        template: str,
        staff: Staff | None,
        status: int = 200,
        language: str | None = None,
        **context: Any,
    ) -> HTMLResponse:
        language = language or (staff.language if staff else "lv")
        html = self.env.get_template(template).render(
            request=request,
            staff=staff,
            lang=language,
            t=lambda key: translate(language, key),
            csrf=staff.csrf_token if staff else "",
            csrf_field=CSRF_FIELD,
            desks=self.desks,
            now=self.clock(),
            local=local,
            badge=lambda s: badge(s.response_due, s.first_response_at, self.clock(), language),
            path=request.url.path,
            home_zone=self.service.zone(self.config.service.default_desk),
            **context,
        )
        return HTMLResponse(html, status_code=status)


def safe_next(target: str | None, default: str = "/queue") -> str:
    """Only a path of our own: never another host (``//evil``, ``https://``, ``\\``)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    return target[:500]


DESK_ERROR_STATUS = {NotFound: 404, InvalidInput: 400, Conflict: 409}


def create_console(
    app_like: AppLike,
    clock: Clock,
    service: DeskService | None = None,
    accounts: StaffAccounts | None = None,
) -> FastAPI:
    """The console over ``app_like``'s database and configuration. ``service`` defaults to
    a desk service without intake (quarantine release then answers "not allowed")."""
    config = app_like.config
    cfg = config.console
    service = service or DeskService.from_config(config, clock, sessions=app_like.sessions)
    accounts = accounts or StaffAccounts(
        app_like.sessions,
        clock,
        idle=dt.timedelta(minutes=cfg.idle_minutes),
        absolute=dt.timedelta(hours=cfg.absolute_hours),
    )
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,  # every value is escaped unless a template says otherwise (none do)
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    console = Console(
        service,
        accounts,
        config,
        clock,
        Guard(accounts),
        LoginThrottle(clock, cfg.login_attempts, dt.timedelta(minutes=cfg.login_window_minutes)),
        env,
    )
    web = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    web.state.console = console
    web.add_middleware(SecurityHeaders)
    web.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    _errors(web, console)
    _sign_in(web, console)

    from triage_desk.console import api, calls, clients, lists, reports, tickets

    calls.register(web, console)  # before tickets: /tickets/new is no ticket number
    tickets.register(web, console)
    lists.register(web, console)
    clients.register(web, console)
    reports.register(web, console)
    # The JSON API (/api/v1): bearer tokens only, JSON refusals, its own OpenAPI description.
    # Refused tokens are limited per address as failed sign-ins are (their own count).
    token_throttle = LoginThrottle(
        clock, cfg.login_attempts, dt.timedelta(minutes=cfg.login_window_minutes)
    )
    api.register(
        web, service, api.ApiAuth(ApiTokens(app_like.sessions, clock), accounts, token_throttle)
    )
    return web


def _errors(web: FastAPI, console: Console) -> None:
    @web.exception_handler(NotSignedIn)
    async def not_signed_in(request: Request, _exc: NotSignedIn) -> Response:
        if request.method == "GET" and "hx-request" not in request.headers:
            target = quote(safe_next(request.url.path), safe="/")
            return RedirectResponse(f"/login?next={target}", status_code=303)
        return Response("sign in first", status_code=401, headers={"HX-Redirect": "/login"})

    @web.exception_handler(HTTPException)
    async def refused(request: Request, exc: HTTPException) -> Response:
        if is_api(request):
            return error_response(exc.status_code, "http_error", str(exc.detail))
        staff = getattr(request.state, "staff", None)
        key = {403: "forbidden", 404: "not_found"}.get(exc.status_code, "error")
        language = staff.language if staff else "lv"
        return console.page(
            request, "error.html", staff, exc.status_code, message=translate(language, key)
        )

    @web.exception_handler(DeskError)
    async def desk_refused(request: Request, exc: DeskError) -> Response:
        if is_api(request):
            return desk_error_response(exc)
        staff = getattr(request.state, "staff", None)
        status = next((s for kind, s in DESK_ERROR_STATUS.items() if isinstance(exc, kind)), 409)
        message = refusal_text(staff.language if staff else "lv", exc)
        return console.page(request, "error.html", staff, status, message=message)


def _sign_in(web: FastAPI, console: Console) -> None:
    agent = console.guard.need("agent")

    @web.get("/login")
    async def login_form(request: Request, next: str | None = None, lang: str = "lv") -> Response:
        if console.accounts.signed_in(request.cookies.get(SESSION_COOKIE)) is not None:
            return RedirectResponse(safe_next(next), status_code=303)
        return _login_page(request, console, lang, safe_next(next))

    @web.post("/login")
    async def login(
        request: Request,
        username: str = Form("", max_length=200),
        password: str = Form("", max_length=2000),
        csrf_token: str = Form("", max_length=200),
        next: str = Form("/queue", max_length=600),
        lang: str = Form("lv", max_length=8),
    ) -> Response:
        lang = lang if lang in LANGUAGES else "lv"
        if not tokens_match(csrf_token, request.cookies.get(LOGIN_COOKIE)):
            return _login_page(request, console, lang, next, "login_expired", 400)
        name = username.strip().lower()[:64]
        address = request.client.host if request.client else "?"
        keys = (f"user:{name}", f"ip:{address}")
        if console.throttle.blocked(*keys):
            console.accounts.audit(name or "?", "login_throttled", address=address)
            return _login_page(request, console, lang, next, "login_throttled", 429)
        user = console.accounts.authenticate(name, password)
        if user is None:
            console.throttle.failed(*keys)
            console.accounts.audit(name or "?", "login_failed", address=address)
            return _login_page(request, console, lang, next, "login_failed", 401)
        console.throttle.succeeded(keys[0])
        session_id, _csrf = console.accounts.open_session(user.id)
        console.accounts.audit(user.username, "login", address=address)
        response = RedirectResponse(safe_next(next), status_code=303)
        response.set_cookie(
            SESSION_COOKIE,
            session_id,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
            path="/",
        )
        response.delete_cookie(LOGIN_COOKIE, path="/login")
        return response

    @web.post("/logout")
    async def logout(request: Request, staff: Staff = Depends(agent)) -> Response:
        console.accounts.close_session(request.cookies.get(SESSION_COOKIE))
        console.accounts.audit(staff.username, "logout")
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    @web.post("/language")
    async def language(
        staff: Staff = Depends(agent),
        language: str = Form(..., max_length=8),
        next: str = Form("/queue", max_length=600),
    ) -> Response:
        console.accounts.set_language(staff.user_id, language)
        return RedirectResponse(safe_next(next), status_code=303)

    @web.get("/")
    async def home(staff: Staff = Depends(agent)) -> Response:
        return RedirectResponse("/queue", status_code=303)


def _login_page(
    request: Request,
    console: Console,
    lang: str,
    next_path: str,
    problem: str | None = None,
    status: int = 200,
) -> Response:
    token = new_token()
    response = console.page(
        request,
        "login.html",
        None,
        status,
        language=lang if lang in LANGUAGES else "lv",
        login_token=token,
        next_path=safe_next(next_path),
        problem=problem,
    )
    response.set_cookie(
        LOGIN_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/login",
        max_age=3600,
    )
    return response


__all__ = ["AppLike", "Console", "create_console", "safe_next"]
