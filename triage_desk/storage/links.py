"""Who is writing: a chat linked to the requester of a known address (channel-neutral).

A chat starts as a requester of its own, an unverified contact. Linking points the chat's
address row at the known requester, so everything that asks "who is this" (standing and
the refusal rules, a chat's tickets, staff's view of a person) sees one person; the
tickets the chat started before go with it. Unlinking gives the chat a fresh requester of
its own again: from then on it sees nothing of the requester's tickets.

A link token is random (``secrets``), single use and expiring; only its sha256 is stored
(a random 192-bit token needs no slow hash), so a database dump links nothing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from triage_desk.storage.models import LinkToken, Requester, RequesterAddress, Ticket
from triage_desk.storage.repositories import find_requester, find_requester_address

TOKEN_BYTES = 24  # 32 URL-safe characters: within Telegram's 64 for a start parameter
EMAIL = "email"


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
    token = secrets.token_urlsafe(TOKEN_BYTES)
    session.add(
        LinkToken(
            token_hash=token_hash(token),
            requester_id=requester.id,
            address=address.strip().lower(),
            channel=channel,
            created_at=now,
            expires_at=now + valid,
        )
    )
    session.flush()
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
