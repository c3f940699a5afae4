"""The JSON API under ``/api/v1``: a thin layer over ``DeskService`` for scripts and other
systems, served by the console's app.

- Auth: ``Authorization: Bearer <token>`` only (``triage token create``). A token acts as its
  user with the user's role; cookies are never read here, so a signed-in browser cannot be
  made to call the API by another site (no CSRF to defend). No or a bad token: 401; a role
  too low: 403.
- Every request is audited: what a token read (``api_viewed``) or called (``api_called``;
  the desk service audits the action itself), refusals (``api_refused``, a bad token as
  ``api_token_refused``).
- ``/api/v1/openapi.json`` describes the API and is served without a token: it holds no
  data. The HTML console keeps no docs pages.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Path, Query, Request, Security
from fastapi.exception_handlers import http_exception_handler
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field, field_validator
from starlette.exceptions import HTTPException as StarletteHTTPException

from triage_desk.console.security import LoginThrottle
from triage_desk.desk_service import DeskService, InvalidInput, TicketFilter
from triage_desk.desk_service.errors import Conflict, DeskError, NotAllowed, NotFound
from triage_desk.desk_service.results import (
    ActionResult,
    AssistantFigures,
    DecisionView,
    MessageView,
    TicketDetail,
    TicketSummary,
)
from triage_desk.desk_service.staff import ROLES, StaffAccounts, role_at_least
from triage_desk.desk_service.tokens import ApiTokens, TokenUser

PREFIX = "/api/v1"
OPENAPI_PATH = f"{PREFIX}/openapi.json"
MAX_TEXT = 100_000  # characters of a reply
MAX_REASON = 10_000
MAX_LIST = 500
MAX_REPORT_DAYS = 366
NUMBER = Annotated[str, Path(pattern=r"^[A-Za-z0-9-]{1,40}$", description="e.g. MUN-2026-000001")]
ERROR_STATUS: dict[type[DeskError], int] = {
    NotFound: 404,
    InvalidInput: 400,
    Conflict: 409,
    NotAllowed: 409,
}


# --------------------------------------------------------------------------- models


class ErrorOut(BaseModel):
    error: str  # a code a script can test: not_found, invalid_input, unauthorized, forbidden...
    message: str


class MessageOut(BaseModel):
    id: int
    direction: str
    channel: str
    sender: str
    text: str
    received_at: dt.datetime  # in the desk's zone, with its offset
    subject: str
    author_kind: str
    outbox_kind: str | None
    outbox_status: str | None


class DecisionOut(BaseModel):
    field: str
    from_value: str
    to_value: str
    staff: str
    reason: str | None
    created_at: dt.datetime


class TicketOut(BaseModel):
    number: str
    desk: str
    status: str
    category: str
    feedback_type: str
    category_confirmed: bool
    urgent: bool
    confidence: float | None
    sender: str
    subject: str
    received_at: dt.datetime
    response_due: dt.datetime | None
    resolution_due: dt.datetime | None
    first_response_at: dt.datetime | None
    overdue: bool
    needs_review: bool
    assignee: str | None


class TicketDetailOut(BaseModel):
    """The keys of ``triage ticket show --json``'s first eight, and more."""

    number: str
    desk: str
    status: str
    category: str
    feedback_type: str
    response_due: dt.datetime | None
    resolution_due: dt.datetime | None
    messages: list[MessageOut]
    channel: str
    language: str
    resolved_at: dt.datetime | None
    decisions: list[DecisionOut]


class ActionOut(BaseModel):
    ticket_number: str | None
    status: str
    message: str
    outbox_kind: str | None


class AssistantReportOut(BaseModel):
    desk: str
    start: dt.date
    end: dt.date
    offers: int
    declined: int
    helped: int
    not_helped: int
    no_feedback: int
    handoffs: int
    helped_percent: float | None


class LateShareRowOut(BaseModel):
    category: str
    cases: int
    late_response: int
    late_resolution: int
    late: int  # late on either leg, each case once
    late_percent: float | None
    allowed_percent: float | None  # terms clause 37; None: no limit set
    within: bool | None


class LateShareOut(BaseModel):
    """Terms clause 37: the late share per category of the tickets received in ``year``."""

    desk: str
    year: int
    as_of: dt.datetime  # the instant an unmet due time was compared with
    rows: list[LateShareRowOut]


def _clean(value: str | None) -> str | None:
    """No NUL (PostgreSQL stores none) and no lone surrogate (no UTF-8 for it)."""
    if value is not None and any(c == "\0" or "\ud800" <= c <= "\udfff" for c in value):
        raise ValueError("the text holds a NUL or an unpaired surrogate character")
    return value


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ReasonIn(Body):
    reason: str | None = Field(default=None, max_length=MAX_REASON)

    _reason = field_validator("reason")(_clean)


class CategoryIn(Body):
    category: str = Field(min_length=1, max_length=64)
    reason: str = Field(min_length=1, max_length=MAX_REASON)  # told to the person

    _fields = field_validator("category", "reason")(_clean)


class ReplyIn(Body):
    text: str = Field(min_length=1, max_length=MAX_TEXT)

    _text = field_validator("text")(_clean)


class ResolveIn(Body):
    note: str | None = Field(default=None, max_length=MAX_REASON)

    _note = field_validator("note")(_clean)


def _message(m: MessageView) -> MessageOut:
    return MessageOut(
        id=m.id,
        direction=m.direction,
        channel=m.channel,
        sender=m.sender,
        text=m.text,
        received_at=m.received_at,
        subject=m.subject,
        author_kind=m.author_kind,
        outbox_kind=m.outbox_kind,
        outbox_status=m.outbox_status,
    )


def _decision(d: DecisionView) -> DecisionOut:
    return DecisionOut(
        field=d.field,
        from_value=d.from_value,
        to_value=d.to_value,
        staff=d.staff,
        reason=d.reason,
        created_at=d.created_at,
    )


def _ticket(t: TicketSummary) -> TicketOut:
    return TicketOut(
        number=t.number,
        desk=t.desk,
        status=t.status,
        category=t.category,
        feedback_type=t.feedback_type,
        category_confirmed=t.category_confirmed,
        urgent=t.urgent,
        confidence=t.confidence,
        sender=t.sender,
        subject=t.subject,
        received_at=t.received_at,
        response_due=t.response_due,
        resolution_due=t.resolution_due,
        first_response_at=t.first_response_at,
        overdue=t.overdue,
        needs_review=t.needs_review,
        assignee=t.assignee,
    )


def _detail(d: TicketDetail) -> TicketDetailOut:
    s = d.summary
    return TicketDetailOut(
        number=s.number,
        desk=s.desk,
        status=s.status,
        category=s.category,
        feedback_type=s.feedback_type,
        response_due=s.response_due,
        resolution_due=s.resolution_due,
        messages=[_message(m) for m in d.messages],
        channel=d.channel,
        language=d.language,
        resolved_at=d.resolved_at,
        decisions=[_decision(x) for x in d.decisions],
    )


def _action(r: ActionResult) -> ActionOut:
    return ActionOut(
        ticket_number=r.ticket_number, status=r.status, message=r.message, outbox_kind=r.outbox_kind
    )


def _report(f: AssistantFigures) -> AssistantReportOut:
    return AssistantReportOut(
        desk=f.desk,
        start=f.start,
        end=f.end,
        offers=f.offers,
        declined=f.declined,
        helped=f.helped,
        not_helped=f.not_helped,
        no_feedback=f.no_feedback,
        handoffs=f.handoffs,
        helped_percent=f.helped_percent,
    )


# --------------------------------------------------------------------------- auth


class ApiRefusal(Exception):
    """A refused API request, answered as ``ErrorOut`` JSON."""

    def __init__(
        self, status: int, error: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.error, self.message = status, error, message
        self.headers = headers


def error_response(
    status: int, error: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    headers = dict(headers or {})
    if status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="triage"'
    return JSONResponse({"error": error, "message": message}, status, headers=headers or None)


def desk_error_response(exc: DeskError) -> JSONResponse:
    status = next((s for kind, s in ERROR_STATUS.items() if isinstance(exc, kind)), 409)
    return error_response(status, exc.code, exc.message)


REFUSALS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "no token, or not a valid one"},
    403: {"model": ErrorOut, "description": "the token's user has too low a role"},
    429: {
        "model": ErrorOut,
        "description": "a bad token, after too many from this address (see Retry-After)",
    },
}
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorOut, "description": "a value the desk service cannot take"},
    404: {"model": ErrorOut, "description": "no such ticket"},
}
ACTION_REFUSALS: dict[int | str, dict[str, Any]] = {
    400: {
        "model": ErrorOut,
        "description": "a value the desk service cannot take, or a body that is no JSON",
    },
    409: {"model": ErrorOut, "description": "the action does not fit the ticket's state"},
}

bearer = HTTPBearer(auto_error=False, scheme_name="token", description="triage token create")


class ApiAuth:
    """``Depends(auth.need(role))``: the token's user, refused below ``role``; every request
    audited.

    Refused tokens are counted per client address (``throttle``): past its limit a bad token
    from that address is answered 429 with Retry-After and no audit row until the window has
    passed, so a flood of bad tokens cannot write the audit log without end. A valid token
    still works from there (tokens are 32 random bytes: no guess succeeds, and a shared
    address's other users are not locked out). A request without a token is refused (401)
    but not counted: it guesses nothing."""

    def __init__(self, tokens: ApiTokens, accounts: StaffAccounts, throttle: LoginThrottle) -> None:
        self.tokens = tokens
        self.accounts = accounts
        self.throttle = throttle

    def need(self, role: str) -> Any:
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}")

        def check(
            request: Request,
            credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)],
        ) -> TokenUser:
            path = request.url.path[:300]
            address = request.client.host if request.client else "?"
            if credentials is None:
                raise ApiRefusal(401, "unauthorized", "send Authorization: Bearer <token>")
            user = self.tokens.authenticate(credentials.credentials)
            if user is None:
                if self.throttle.blocked(address):
                    wait = max(1, math.ceil(self.throttle.window.total_seconds()))
                    raise ApiRefusal(
                        429,
                        "too_many_refusals",
                        "too many refused tokens from this address; try again later",
                        {"Retry-After": str(wait)},
                    )
                self.throttle.failed(address)
                self.accounts.audit("?", "api_token_refused", path=path, address=address)
                raise ApiRefusal(401, "unauthorized", "the token is unknown, expired or revoked")
            number = request.path_params.get("number")
            number = number if isinstance(number, str) else None
            if not role_at_least(user.role, role):
                self.accounts.audit(
                    user.username, "api_refused", path=path, role=role, token_id=user.token_id
                )
                raise ApiRefusal(403, "forbidden", f"this needs the role {role} or higher")
            self.accounts.audit(
                user.username,
                "api_viewed" if request.method == "GET" else "api_called",
                number,
                path=path,
                method=request.method,
                query=request.url.query[:300] or None,
                token_id=user.token_id,
            )
            return user

        return check


# --------------------------------------------------------------------------- routes


def _add_routes(web: FastAPI, service: DeskService, auth: ApiAuth) -> None:
    """The routes, on ``web`` itself (the route walk of the tests sees each)."""
    agent = Depends(auth.need("agent"))
    supervisor = Depends(auth.need("supervisor"))

    def get(path: str, refusals: dict[int | str, dict[str, Any]]) -> Any:
        return web.get(PREFIX + path, responses={**REFUSALS, **refusals})

    def post(path: str) -> Any:
        return web.post(PREFIX + path, responses={**REFUSALS, **NOT_FOUND, **ACTION_REFUSALS})

    @get("/tickets", {400: NOT_FOUND[400]})
    def tickets(
        user: TokenUser = agent,
        desk: Annotated[str | None, Query(max_length=64)] = None,
        status: Annotated[str | None, Query(max_length=32)] = None,
        overdue: bool = False,
        due_within_minutes: Annotated[float | None, Query(ge=0, le=525_600)] = None,
        needs_review: bool = False,
        newest_first: bool = False,
        limit: Annotated[int, Query(ge=1, le=MAX_LIST)] = 50,
        statuses: Annotated[list[str] | None, Query(description="any of these")] = None,
    ) -> list[TicketOut]:
        """Tickets like ``triage tickets``: response due first (or newest first), robot mail
        only with ``status=robot``; ``statuses`` repeated for any of several."""
        if statuses and (len(statuses) > 10 or any(len(s) > 32 for s in statuses)):
            raise InvalidInput("statuses", "at most 10 statuses of at most 32 characters")
        wanted = TicketFilter(
            statuses=tuple(statuses or ()),
            desk=desk,
            status=status,
            overdue=overdue,
            due_within=(
                dt.timedelta(minutes=due_within_minutes) if due_within_minutes is not None else None
            ),
            needs_review=needs_review,
            newest_first=newest_first,
            limit=limit,
        )
        return [_ticket(t) for t in service.tickets(wanted)]

    @get("/tickets/{number}", NOT_FOUND)
    def ticket(number: NUMBER, user: TokenUser = agent) -> TicketDetailOut:
        """One ticket: the keys of ``triage ticket show --json`` (times in the desk's zone)."""
        return _detail(service.ticket(number))

    @get("/tickets/{number}/messages", NOT_FOUND)
    def messages(number: NUMBER, user: TokenUser = agent) -> list[MessageOut]:
        """The ticket's thread across channels, oldest first."""
        return [_message(m) for m in service.ticket(number).messages]

    @get("/tickets/{number}/decisions", NOT_FOUND)
    def decisions(number: NUMBER, user: TokenUser = agent) -> list[DecisionOut]:
        """Staff decisions on the category and feedback type, oldest first."""
        return [_decision(d) for d in service.ticket(number).decisions]

    @post("/tickets/{number}/confirm")
    def confirm(number: NUMBER, user: TokenUser = agent) -> ActionOut:
        """Agree with the category (a refused ticket needs ``override``)."""
        return _action(service.confirm(number, user.username, override=False))

    @post("/tickets/{number}/override")
    def override(number: NUMBER, body: ReasonIn, user: TokenUser = supervisor) -> ActionOut:
        """Confirm the category of a refused ticket: the refusal is withdrawn."""
        return _action(service.confirm(number, user.username, body.reason, override=True))

    @post("/tickets/{number}/category")
    def category(number: NUMBER, body: CategoryIn, user: TokenUser = agent) -> ActionOut:
        """Put the ticket in another category; the person is told why."""
        return _action(service.change_category(number, body.category, body.reason, user.username))

    @post("/tickets/{number}/reply")
    def reply(number: NUMBER, body: ReplyIn, user: TokenUser = agent) -> ActionOut:
        """A reply to the requester through the ticket's channel."""
        return _action(service.reply(number, body.text, user.username))

    @post("/tickets/{number}/resolve")
    def resolve(number: NUMBER, body: ResolveIn, user: TokenUser = agent) -> ActionOut:
        """Resolved; the person gets the notice with the survey link."""
        return _action(service.resolve(number, user.username, body.note))

    @get("/reports/sla", {400: NOT_FOUND[400]})
    def sla_report(
        desk: Annotated[str, Query(max_length=64)],
        year: Annotated[int, Query(ge=2000, le=2100)],
        user: TokenUser = supervisor,
    ) -> LateShareOut:
        """The late share per category of the tickets received in ``year`` (the desk's
        zone), against the share the terms allow (clause 37)."""
        report = service.late_share(desk, year)
        return LateShareOut(
            desk=report.desk,
            year=report.year,
            as_of=report.as_of,
            rows=[LateShareRowOut(**vars(row)) for row in report.rows],
        )

    @get("/reports/assistant", {400: NOT_FOUND[400]})
    def assistant_report(
        desk: Annotated[str, Query(max_length=64)],
        start: dt.date,
        end: dt.date,
        user: TokenUser = supervisor,
    ) -> AssistantReportOut:
        """The virtual assistant's offers, declines, helped and hand-offs, whole local days
        ``start`` to ``end``."""
        if desk not in service.desks.by_name:
            raise InvalidInput("desk", f"unknown desk {desk!r}", desk, service.desks.by_name)
        if not dt.date(2000, 1, 1) <= start <= end <= dt.date(2100, 12, 31):
            raise InvalidInput("start", "start and end are days of 2000-2100, start first")
        if (end - start).days >= MAX_REPORT_DAYS:
            raise InvalidInput("end", f"a report covers at most {MAX_REPORT_DAYS} days")
        return _report(service.assistant_figures(desk, start, end))


def register(web: FastAPI, service: DeskService, auth: ApiAuth) -> None:
    """The API's routes, its JSON refusals and its OpenAPI description on ``web``."""
    _add_routes(web, service, auth)

    @web.exception_handler(ApiRefusal)
    async def refused(_request: Request, exc: ApiRefusal) -> JSONResponse:
        return error_response(exc.status, exc.error, exc.message, exc.headers)

    @web.exception_handler(StarletteHTTPException)
    async def http_refused(request: Request, exc: StarletteHTTPException) -> Response:
        """Starlette's own (a body that is no JSON, a wrong method): JSON on the API."""
        if is_api(request):
            return error_response(exc.status_code, "http_error", str(exc.detail))
        return await http_exception_handler(request, exc)

    described: dict[str, Any] = {}

    @web.get(OPENAPI_PATH, include_in_schema=False)
    async def openapi() -> JSONResponse:
        """No data in it: served without a token (a client reads it to learn the API)."""
        if not described:
            described.update(
                get_openapi(
                    title="Triage Desk API",
                    version="1",
                    description="Bearer token from `triage token create USERNAME`.",
                    routes=[
                        r
                        for r in web.routes
                        if isinstance(r, APIRoute) and r.path.startswith(PREFIX + "/")
                    ],
                )
            )
        return JSONResponse(described)


def is_api(request: Request) -> bool:
    return request.url.path.startswith(PREFIX + "/") or request.url.path == PREFIX


__all__ = [
    "OPENAPI_PATH",
    "PREFIX",
    "ApiAuth",
    "ApiRefusal",
    "desk_error_response",
    "error_response",
    "is_api",
    "register",
]
