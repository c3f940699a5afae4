"""Bearer tokens of the JSON API: each acts as its console user, with that user's role.

A token is ``td_`` and 32 random bytes (``secrets``), shown once when it is made. The
database keeps only its SHA-256: with 256 bits of randomness nobody can find a token from
its hash by guessing, so a slow, salted password hash (argon2) would only cost time on every
request, and an unsalted digest lets the token be looked up by an index. A token stops
working when it is revoked, when it expires, or when its user is disabled. "Now" is the
injected clock's.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from triage_desk.clock import Clock, system_clock
from triage_desk.desk_service.errors import Conflict, InvalidInput, NotFound
from triage_desk.storage.models import ApiToken, AuditEvent, StaffUser

PREFIX = "td_"
MAX_TOKEN_CHARS = 200  # longer is no token of ours: refused before hashing
MAX_EXPIRES_DAYS = 3650


@dataclass(frozen=True)
class TokenView:
    id: int
    username: str
    role: str
    name: str
    created_at: dt.datetime  # UTC
    expires_at: dt.datetime | None  # UTC; None: until revoked
    revoked_at: dt.datetime | None
    last_used_at: dt.datetime | None
    user_active: bool


@dataclass(frozen=True)
class TokenUser:
    """Who a valid token acts for."""

    token_id: int
    token_name: str
    user_id: int
    username: str
    role: str


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def _view(token: ApiToken) -> TokenView:
    user = token.user
    return TokenView(
        token.id,
        user.username,
        user.role,
        token.name,
        token.created_at,
        token.expires_at,
        token.revoked_at,
        token.last_used_at,
        user.active,
    )


class ApiTokens:
    def __init__(self, sessions: sessionmaker[Session], clock: Clock = system_clock) -> None:
        self.sessions = sessions
        self.clock = clock

    def create(
        self, username: str, name: str | None = None, expires_days: int | None = None
    ) -> tuple[str, TokenView]:
        """A new token for ``username``: (the token, shown only now; its record)."""
        if expires_days is not None and not 1 <= expires_days <= MAX_EXPIRES_DAYS:
            raise InvalidInput(
                "expires_days", f"a token expires after 1 to {MAX_EXPIRES_DAYS} days"
            )
        now = self.clock()
        token = PREFIX + secrets.token_urlsafe(32)
        with self.sessions.begin() as session:
            user = session.scalar(
                select(StaffUser).where(StaffUser.username == username.strip().lower())
            )
            if user is None:
                raise NotFound("user", username)
            if not user.active:
                raise Conflict(f"user {user.username!r} is disabled", code="user_disabled")
            label = (name or "").strip()[:120] or f"{user.username} {now:%Y-%m-%d}"
            row = ApiToken(
                token_hash=token_digest(token),
                user_id=user.id,
                name=label,
                created_at=now,
                expires_at=now + dt.timedelta(days=expires_days) if expires_days else None,
            )
            session.add(row)
            session.flush()
            session.add(
                AuditEvent(
                    at=now,
                    actor="system",
                    action="api_token_created",
                    details={"token_id": row.id, "username": user.username, "name": label},
                )
            )
            return token, _view(row)

    def tokens(self, username: str | None = None) -> list[TokenView]:
        with self.sessions() as session:
            query = select(ApiToken).join(ApiToken.user).order_by(ApiToken.id)
            if username:
                query = query.where(StaffUser.username == username.strip().lower())
            return [_view(t) for t in session.scalars(query)]

    def revoke(self, token_id: int, staff: str = "system") -> TokenView:
        now = self.clock()
        with self.sessions.begin() as session:
            row = session.get(ApiToken, token_id)
            if row is None:
                raise NotFound("token", token_id, f"no API token #{token_id}")
            if row.revoked_at is not None:
                raise Conflict(f"API token #{token_id} was already revoked", code="revoked")
            row.revoked_at = now
            session.add(
                AuditEvent(
                    at=now,
                    actor=staff,
                    action="api_token_revoked",
                    details={"token_id": row.id, "username": row.user.username},
                )
            )
            return _view(row)

    def authenticate(self, token: str | None) -> TokenUser | None:
        """Who ``token`` acts for, or None (unknown, revoked, expired, user disabled)."""
        if not token or len(token) > MAX_TOKEN_CHARS or not token.startswith(PREFIX):
            return None
        now = self.clock()
        with self.sessions.begin() as session:
            row = session.scalar(select(ApiToken).where(ApiToken.token_hash == token_digest(token)))
            if row is None or row.revoked_at is not None or not row.user.active:
                return None
            if row.expires_at is not None and row.expires_at <= now:
                return None
            row.last_used_at = now
            return TokenUser(row.id, row.name, row.user.id, row.user.username, row.user.role)


__all__ = ["PREFIX", "ApiTokens", "TokenUser", "TokenView", "token_digest"]
