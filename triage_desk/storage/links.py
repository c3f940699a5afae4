"""Who is writing: a chat linked to the requester of a known address (channel-neutral).

A chat starts as a requester of its own, an unverified contact. Linking points the chat's
address row at the known requester, so everything that asks "who is this" (standing and
the refusal rules, a chat's tickets, staff's view of a person) sees one person; the
tickets the chat started before go with it. Unlinking gives the chat a fresh requester of
its own again: from then on it sees nothing of the requester's tickets.

A link token is random (``secrets``), single use and expiring; only its sha256 is stored
(a random 192-bit token needs no slow hash), so a database dump links nothing.

A link code (``/link <email>``) is six random digits mailed to a known address, valid for
the chat that asked only, single use, expiring, void after ``CODE_TRIES`` wrong tries; it
is kept salted and hashed. Six digits are few: the bound on guessing is the tries and the
expiry, not the hash, so the hash only keeps a database reader from seeing a live code at
a glance. Every request is recorded, known address or not, for the rate limits, and kept
``KEEP_REQUESTS`` (past every limit's window; long enough to look into abuse): the addresses
asked for are personal data, often of people who are no customers.
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from triage_desk.storage.models import (
    LinkCode,
    LinkToken,
    Requester,
    RequesterAddress,
    Ticket,
)
from triage_desk.storage.repositories import find_requester, find_requester_address

TOKEN_BYTES = 24  # 32 URL-safe characters: within Telegram's 64 for a start parameter
EMAIL = "email"
CODE_DIGITS = 6
CODE_TRIES = 5  # wrong codes a code survives; then it is void
KEEP_REQUESTS = dt.timedelta(days=7)


class UnknownAddress(LookupError):
    """No requester is known at that address: there is no one to link a chat to."""


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_link_token(
    session: Session, address: str, channel: str, now: dt.datetime, valid: dt.timedelta
) -> str:
    """A token that links one chat of ``channel`` to the requester known at the email
    ``address``, until ``now + valid``; the token itself is returned once, never stored."""
    requester = find_requester(session, EMAIL, address.strip().lower())
    if requester is None:
        raise UnknownAddress(address)
    token = requester_link_token(session, requester.id, address, channel, now, valid)
    session.flush()
    return token


def requester_link_token(
    session: Session,
    requester_id: int,
    address: str,
    channel: str,
    now: dt.datetime,
    valid: dt.timedelta,
) -> str:
    """A token for ``requester_id`` (known at ``address``), added to the session unflushed:
    intake makes many in one batch and flushes once."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    session.add(
        LinkToken(
            token_hash=token_hash(token),
            requester_id=requester_id,
            address=address.strip().lower(),
            channel=channel,
            created_at=now,
            expires_at=now + valid,
        )
    )
    return token


def redeem(session: Session, channel: str, chat: str, token: str, now: dt.datetime) -> bool:
    """Link ``chat`` by ``token`` if it is unused and unexpired (False otherwise). One
    conditional UPDATE spends it, so two chats racing for one token cannot both win."""
    spent = session.execute(
        update(LinkToken)
        .where(
            LinkToken.token_hash == token_hash(token),
            LinkToken.channel == channel,
            LinkToken.used_at.is_(None),
            LinkToken.expires_at > now,
        )
        .values(used_at=now, used_by=chat)
        .returning(LinkToken.requester_id)
    ).scalar_one_or_none()
    if spent is None:
        return False
    link(session, channel, chat, spent)
    return True


def link(session: Session, channel: str, chat: str, requester_id: int) -> None:
    """The chat's address row (made if new) points at ``requester_id``; a requester that
    was the chat's own hands its tickets over, so staff see one person."""
    row = find_requester_address(session, channel, chat)
    if row is None:
        session.add(RequesterAddress(requester_id=requester_id, channel=channel, address=chat))
        session.flush()
        return
    previous = row.requester_id
    if previous == requester_id:
        return
    row.requester_id = requester_id
    session.flush()
    if _addresses(session, previous) == 0:  # the chat's own requester: nothing else is it
        session.execute(
            update(Ticket).where(Ticket.requester_id == previous).values(requester_id=requester_id)
        )


def is_linked(session: Session, channel: str, chat: str) -> bool:
    """Whether the chat's requester is reachable at another address too (linked)."""
    requester = find_requester(session, channel, chat)
    return requester is not None and _addresses(session, requester.id) > 1


def unlink(session: Session, channel: str, chat: str) -> bool:
    """The chat becomes an unverified contact of its own again; False if it was not linked.
    The tickets stay with the requester: they were written as that person."""
    if not is_linked(session, channel, chat):
        return False
    row = find_requester_address(session, channel, chat)
    assert row is not None  # linked: it has one
    fresh = Requester()
    session.add(fresh)
    session.flush()
    row.requester_id = fresh.id
    session.flush()
    return True


def _addresses(session: Session, requester_id: int) -> int:
    query = select(func.count(RequesterAddress.id)).where(
        RequesterAddress.requester_id == requester_id
    )
    return int(session.scalar(query) or 0)


# -- codes mailed for /link <email> ------------------------------------------------------


def code_hash(salt: str, chat: str, code: str) -> str:
    return hashlib.sha256(f"{salt}\0{chat}\0{code}".encode()).hexdigest()


def link_requests_since(
    session: Session, channel: str, chat: str, address: str, since: dt.datetime
) -> tuple[int, int]:
    """How many link codes the chat asked for since ``since``, and how many were asked for
    the address (by any chat), known address or not."""
    by_chat = session.scalar(
        select(func.count(LinkCode.id)).where(
            LinkCode.channel == channel, LinkCode.chat == chat, LinkCode.created_at > since
        )
    )
    by_address = session.scalar(
        select(func.count(LinkCode.id)).where(
            LinkCode.address == address, LinkCode.created_at > since
        )
    )
    return int(by_chat or 0), int(by_address or 0)


def prune_link_requests(session: Session, now: dt.datetime) -> None:
    """Forget the link-code requests made more than ``KEEP_REQUESTS`` before ``now``."""
    session.execute(delete(LinkCode).where(LinkCode.created_at < now - KEEP_REQUESTS))


def new_link_code(
    session: Session,
    channel: str,
    chat: str,
    address: str,
    now: dt.datetime,
    valid: dt.timedelta,
) -> tuple[str, int] | None:
    """Record the chat's request for ``address``; when a requester is known there, a fresh
    code that only this chat can use (returned once, with the requester's id; kept only
    hashed), and the chat's earlier codes void. None when no one is known at the address.
    Requests older than ``KEEP_REQUESTS`` go on the way."""
    prune_link_requests(session, now)
    address = address.strip().lower()
    requester = find_requester(session, EMAIL, address)
    session.execute(  # one live code per chat: the newest
        update(LinkCode)
        .where(
            LinkCode.channel == channel,
            LinkCode.chat == chat,
            LinkCode.used_at.is_(None),
            LinkCode.expires_at > now,
        )
        .values(expires_at=now)
    )
    code = salt = None
    if requester is not None:
        code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
        salt = secrets.token_hex(16)
    row = LinkCode(
        channel=channel,
        chat=chat,
        address=address,
        requester_id=requester.id if requester else None,
        salt=salt,
        code_hash=code_hash(salt, chat, code) if salt and code else None,
        attempts=0,
        created_at=now,
        expires_at=now + valid,
    )
    session.add(row)
    session.flush()
    return (code, requester.id) if code and requester else None


class CodeCheck(enum.Enum):
    LINKED = "linked"
    WRONG = "wrong"  # not it; tries are left
    VOID = "void"  # not it, and that was the last try
    NONE = "none"  # no live code for this chat (never asked, used, expired or void)


@dataclass(frozen=True)
class CodeOutcome:
    check: CodeCheck
    tries_left: int = 0


def redeem_code(
    session: Session, channel: str, chat: str, code: str, now: dt.datetime
) -> CodeOutcome:
    """Link ``chat`` if ``code`` is its live code; a wrong one uses up a try. Each change
    is one conditional UPDATE, so two messages racing cannot both link or both escape the
    count."""
    row = session.scalars(
        select(LinkCode)
        .where(
            LinkCode.channel == channel,
            LinkCode.chat == chat,
            LinkCode.code_hash.is_not(None),
            LinkCode.used_at.is_(None),
            LinkCode.expires_at > now,
            LinkCode.attempts < CODE_TRIES,
        )
        .order_by(LinkCode.id.desc())
        .limit(1)
    ).first()
    if row is None or row.salt is None or row.code_hash is None:
        return CodeOutcome(CodeCheck.NONE)
    live = (
        LinkCode.id == row.id,
        LinkCode.used_at.is_(None),
        LinkCode.expires_at > now,
        LinkCode.attempts < CODE_TRIES,
    )
    if hmac.compare_digest(code_hash(row.salt, chat, code), row.code_hash):
        spent = session.execute(
            update(LinkCode).where(*live).values(used_at=now).returning(LinkCode.requester_id)
        ).scalar_one_or_none()
        if spent is None:
            return CodeOutcome(CodeCheck.NONE)
        link(session, channel, chat, spent)
        return CodeOutcome(CodeCheck.LINKED)
    tried = session.execute(
        update(LinkCode)
        .where(*live)
        .values(attempts=LinkCode.attempts + 1)
        .returning(LinkCode.attempts)
    ).scalar_one_or_none()
    if tried is None:
        return CodeOutcome(CodeCheck.NONE)
    left = CODE_TRIES - tried
    return CodeOutcome(CodeCheck.WRONG, left) if left > 0 else CodeOutcome(CodeCheck.VOID)
