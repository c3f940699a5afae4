"""Who may do what in the console, checked in one place (``Guard``), and the headers and
limits that keep a hostile mail or a guessing client harmless.

- Sessions live on the server (``desk_service.staff``); the browser holds only a random id
  in an HttpOnly, SameSite=Strict cookie (Secure when served over https).
- Every state-changing request (POST, PUT, PATCH, DELETE) carries the session's CSRF token
  in the ``X-CSRF-Token`` header (htmx, console.js) or the ``csrf_token`` form field.
- A strict Content-Security-Policy: no inline script, scripts only from our own origin, no
  framing of the console (the sanitised mail frame has its own, stricter policy).
- Sign-in attempts are limited per username and per client address, in bounded memory.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from fastapi import HTTPException, Request
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.responses import Response

from triage_desk.clock import Clock
from triage_desk.desk_service.staff import ROLES, SignedIn, StaffAccounts, role_at_least

SESSION_COOKIE = "triage_session"
LOGIN_COOKIE = "triage_login"  # the sign-in form's CSRF token (double submit, before a session)
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

CONSOLE_CSP = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "connect-src 'self'",
        "form-action 'self'",
        "frame-src 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "object-src 'none'",
    )
)
# A sanitised HTML mail, shown in <iframe sandbox>: nothing loads, nothing runs, and the
# browser treats it as sandboxed even when opened on its own.
MAIL_FRAME_CSP = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'self'; sandbox"


class SecurityHeaders(BaseHTTPMiddleware):
    """Every response: CSP (unless the route set a stricter one), no sniffing, no referrer,
    no caching of pages that show personal data."""

    async def dispatch(
        self, request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        headers = response.headers
        headers.setdefault("Content-Security-Policy", CONSOLE_CSP)
        headers.setdefault("X-Frame-Options", "DENY")
        headers["X-Content-Type-Options"] = "nosniff"
        headers["Referrer-Policy"] = "no-referrer"
        headers["Cross-Origin-Opener-Policy"] = "same-origin"
        headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=()"
        if not request.url.path.startswith("/static/"):
            headers.setdefault("Cache-Control", "no-store")
        return response


class LoginThrottle:
    """At most ``limit`` failed sign-ins per key (username, client address) within
    ``window``. Memory is bounded: past ``max_keys`` the least recently failed key is
    forgotten (an attacker cycling names gains nothing: their address is a key too)."""

    def __init__(
        self, clock: Clock, limit: int, window: dt.timedelta, max_keys: int = 10_000
    ) -> None:
        self.clock, self.limit, self.window, self.max_keys = clock, limit, window, max_keys
        self._failures: OrderedDict[str, deque[dt.datetime]] = OrderedDict()

    def _recent(self, key: str) -> deque[dt.datetime] | None:
        found = self._failures.get(key)
        if found is None:
            return None
        cutoff = self.clock() - self.window
        while found and found[0] <= cutoff:
            found.popleft()
        if not found:
            del self._failures[key]
            return None
        return found

    def blocked(self, *keys: str) -> bool:
        return any(len(self._recent(key) or ()) >= self.limit for key in keys)

    def failed(self, *keys: str) -> None:
        now = self.clock()
        for key in keys:
            found = self._recent(key)
            if found is None:
                found = self._failures[key] = deque(maxlen=self.limit)
            found.append(now)
            self._failures.move_to_end(key)
        while len(self._failures) > self.max_keys:
            self._failures.popitem(last=False)

    def succeeded(self, key: str) -> None:
        self._failures.pop(key, None)

    def __len__(self) -> int:
        return len(self._failures)


class NotSignedIn(Exception):
    """No live session: a page sends the browser to /login, anything else gets 401."""


def new_token() -> str:
    return secrets.token_urlsafe(32)


def tokens_match(given: str | None, expected: str | None) -> bool:
    return bool(given and expected) and secrets.compare_digest(
        str(given).encode(), str(expected).encode()
    )


@dataclass(frozen=True)
class Staff:
    """The signed-in user a route acts for."""

    username: str
    role: str
    language: str
    user_id: int
    csrf_token: str


class Guard:
    """The one dependency every console route but /login and /static goes through:
    ``Depends(guard.need("supervisor"))``. It answers who is asking, refuses a missing or
    expired session, a role below the route's, and a state-changing request without the
    session's CSRF token; and it writes each page a user opens to the audit log."""

    def __init__(self, accounts: StaffAccounts) -> None:
        self.accounts = accounts
        self.required: dict[Callable[..., Awaitable[Staff]], str] = {}

    def need(self, role: str) -> Callable[[Request], Awaitable[Staff]]:
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}")

        async def check(request: Request) -> Staff:
            signed: SignedIn | None = self.accounts.signed_in(request.cookies.get(SESSION_COOKIE))
            if signed is None:
                raise NotSignedIn()
            user = signed.user
            request.state.staff = Staff(
                user.username, user.role, user.language, user.id, signed.csrf_token
            )
            if not role_at_least(user.role, role):
                self.accounts.audit(
                    user.username, "console_refused", path=request.url.path[:300], role=role
                )
                raise HTTPException(403, "forbidden_role")
            if request.method not in SAFE_METHODS:
                given = request.headers.get(CSRF_HEADER)
                if given is None and "form" in request.headers.get("content-type", ""):
                    form = await request.form()
                    field = form.get(CSRF_FIELD)
                    given = field if isinstance(field, str) else None
                if not tokens_match(given, signed.csrf_token):
                    self.accounts.audit(user.username, "csrf_refused", path=request.url.path[:300])
                    raise HTTPException(403, "csrf")
            else:
                number = request.path_params.get("number")
                self.accounts.audit(
                    user.username,
                    "console_viewed",
                    number if isinstance(number, str) else None,
                    path=request.url.path[:300],
                    query=request.url.query[:300] or None,
                )
            staff: Staff = request.state.staff  # the error pages speak the user's language
            return staff

        self.required[check] = role
        return check


__all__ = [
    "CONSOLE_CSP",
    "CSRF_FIELD",
    "CSRF_HEADER",
    "LOGIN_COOKIE",
    "MAIL_FRAME_CSP",
    "SESSION_COOKIE",
    "Guard",
    "LoginThrottle",
    "NotSignedIn",
    "SecurityHeaders",
    "Staff",
    "new_token",
    "tokens_match",
]
