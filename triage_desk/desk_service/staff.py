"""Console users and their signed-in sessions: argon2id password hashes, roles, expiry.

A session's id is random (32 bytes, ``secrets``) and lives only in the browser's cookie;
the database keeps its SHA-256, so a copy of the database signs nobody in. A session ends
after ``idle`` without a request or ``absolute`` after sign-in, whichever comes first.
"Now" is the injected clock's.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from triage_desk.clock import Clock, system_clock
from triage_desk.desk_service.errors import Conflict, InvalidInput, NotFound
from triage_desk.storage.models import AuditEvent, ConsoleSession, StaffUser, Ticket

ROLES = ("agent", "supervisor", "admin")  # each has every right of the ones before it
LANGUAGES = ("lv", "en")  # the console's interface languages
USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
MIN_PASSWORD = 10
MAX_PASSWORD = 1024  # argon2 of a megabyte is a denial of service, not a password


def role_at_least(role: str, needed: str) -> bool:
    return role in ROLES and ROLES.index(role) >= ROLES.index(needed)


@dataclass(frozen=True)
class StaffView:
    id: int
    username: str
    role: str
    language: str
    active: bool


@dataclass(frozen=True)
class SignedIn:
    user: StaffView
    csrf_token: str


def _view(user: StaffUser) -> StaffView:
    return StaffView(user.id, user.username, user.role, user.language, user.active)


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


class StaffAccounts:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        clock: Clock = system_clock,
        idle: dt.timedelta = dt.timedelta(minutes=30),
        absolute: dt.timedelta = dt.timedelta(hours=12),
        hasher: PasswordHasher | None = None,
    ) -> None:
        self.sessions = sessions
        self.clock = clock
        self.idle = idle
        self.absolute = absolute
        self.hasher = hasher or PasswordHasher()
        # Verified against when the user is unknown, so a wrong name costs as long as a
        # wrong password and the timing does not tell which names exist.
        self._dummy = self.hasher.hash(secrets.token_hex(16))

    # ------------------------------------------------------------------ users

    def add_user(self, username: str, password: str, role: str, language: str = "lv") -> StaffView:
        username = username.strip().lower()
        if not USERNAME.match(username):
            raise InvalidInput(
                "username",
                "a username is 1-64 lower-case letters, digits, '.', '_' or '-'",
                username,
            )
        if role not in ROLES:
            raise InvalidInput("role", f"unknown role {role!r}", role, ROLES)
        if language not in LANGUAGES:
            raise InvalidInput("language", f"unknown language {language!r}", language, LANGUAGES)
        if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
            raise InvalidInput(
                "password", f"a password has {MIN_PASSWORD} to {MAX_PASSWORD} characters"
            )
        now = self.clock()
        try:
            with self.sessions.begin() as session:
                user = StaffUser(
                    username=username,
                    password_hash=self.hasher.hash(password),
                    role=role,
                    language=language,
                    active=True,
                    created_at=now,
                )
                session.add(user)
                session.flush()
                session.add(
                    AuditEvent(
                        at=now,
                        actor="system",
                        action="user_added",
                        details={"username": username, "role": role},
                    )
                )
                return _view(user)
        except IntegrityError:
            raise Conflict(f"user {username!r} exists", code="user_exists") from None

    def users(self) -> list[StaffView]:
        with self.sessions() as session:
            return [_view(u) for u in session.scalars(select(StaffUser).order_by(StaffUser.id))]

    def set_active(self, username: str, active: bool, staff: str) -> StaffView:
        now = self.clock()
        with self.sessions.begin() as session:
            user = session.scalar(select(StaffUser).where(StaffUser.username == username))
            if user is None:
                raise NotFound("user", username)
            user.active = active
            if not active:  # signed out everywhere at once
                session.execute(delete(ConsoleSession).where(ConsoleSession.user_id == user.id))
            session.add(
                AuditEvent(
                    at=now,
                    actor=staff,
                    action="user_enabled" if active else "user_disabled",
                    details={"username": username},
                )
            )
            return _view(user)

    def set_language(self, user_id: int, language: str) -> None:
        if language not in LANGUAGES:
            raise InvalidInput("language", f"unknown language {language!r}", language, LANGUAGES)
        with self.sessions.begin() as session:
            user = session.get(StaffUser, user_id)
            if user is None:
                raise NotFound("user", user_id)
            user.language = language

    def active_usernames(self) -> list[str]:
        with self.sessions() as session:
            return list(
                session.scalars(
                    select(StaffUser.username)
                    .where(StaffUser.active.is_(True))
                    .order_by(StaffUser.username)
                )
            )

    # ------------------------------------------------------------------ sign-in

    def authenticate(self, username: str, password: str) -> StaffView | None:
        """The user when the password is theirs and the account is active, else None."""
        username = username.strip().lower()[:64]
        password = password[:MAX_PASSWORD]
        with self.sessions() as session:
            user = session.scalar(select(StaffUser).where(StaffUser.username == username))
            stored = user.password_hash if user is not None else self._dummy
        try:
            self.hasher.verify(stored, password)
        except (VerificationError, InvalidHashError):
            return None
        if user is None or not user.active:
            return None
        if self.hasher.check_needs_rehash(stored):
            with self.sessions.begin() as session:
                found = session.get(StaffUser, user.id)
                if found is not None:
                    found.password_hash = self.hasher.hash(password)
        return _view(user)

    def open_session(self, user_id: int) -> tuple[str, str]:
        """A new session: (the id for the cookie, its CSRF token). Expired sessions of
        every user are removed here, so the table stays small."""
        now = self.clock()
        session_id, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        with self.sessions.begin() as session:
            session.execute(
                delete(ConsoleSession).where(
                    or_(
                        ConsoleSession.last_seen_at < now - self.idle,
                        ConsoleSession.created_at < now - self.absolute,
                    )
                )
            )
            session.add(
                ConsoleSession(
                    id_hash=_digest(session_id),
                    user_id=user_id,
                    csrf_token=csrf,
                    created_at=now,
                    last_seen_at=now,
                )
            )
        return session_id, csrf

    def signed_in(self, session_id: str | None) -> SignedIn | None:
        """Who the cookie's session belongs to, or None (unknown, expired, user disabled).
        A live session's idle time starts again."""
        if not session_id or len(session_id) > 200:
            return None
        now = self.clock()
        with self.sessions.begin() as session:
            found = session.get(ConsoleSession, _digest(session_id))
            if found is None:
                return None
            if (
                found.last_seen_at <= now - self.idle
                or found.created_at <= now - self.absolute
                or not found.user.active
            ):
                session.delete(found)
                return None
            found.last_seen_at = now
            return SignedIn(_view(found.user), found.csrf_token)

    def close_session(self, session_id: str | None) -> None:
        if not session_id:
            return
        with self.sessions.begin() as session:
            session.execute(
                delete(ConsoleSession).where(ConsoleSession.id_hash == _digest(session_id))
            )

    # ------------------------------------------------------------------ audit

    def audit(
        self, actor: str, action: str, ticket_number: str | None = None, **details: object
    ) -> None:
        """One line in the audit log: a sign-in, a page a user opened, a download."""
        with self.sessions.begin() as session:
            ticket_id = None
            if ticket_number:
                ticket_id = session.scalar(
                    select(Ticket.id).where(Ticket.number == ticket_number.strip().upper()[:32])
                )
            session.add(
                AuditEvent(
                    at=self.clock(),
                    actor=actor[:120],
                    action=action,
                    ticket_id=ticket_id,
                    details={k: v for k, v in details.items() if v is not None},
                )
            )


__all__ = ["LANGUAGES", "ROLES", "SignedIn", "StaffAccounts", "StaffView", "role_at_least"]
