"""What the public web form keeps: its signing key, and the knowledge-base articles it
offered and people opened (a row each: a report counts any period)."""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from triage_desk.storage.models import KbSuggestionEvent, Message, WebFormKey

KEY_NAME = "form"
OFFER, CLICK = "offer", "click"


def signing_key(sessions: sessionmaker[Session], now: dt.datetime) -> bytes:
    """The form's HMAC key: read, or made once and stored (two processes starting at once
    both end with the one that was committed first)."""
    for _ in range(2):
        with sessions() as session:
            found = session.get(WebFormKey, KEY_NAME)
            if found is not None:
                return bytes.fromhex(found.key)
        try:
            with sessions.begin() as session:
                session.add(WebFormKey(name=KEY_NAME, key=secrets.token_hex(32), created_at=now))
        except IntegrityError:
            continue
    with sessions() as session:
        return bytes.fromhex(session.get(WebFormKey, KEY_NAME).key)  # type: ignore[union-attr]


def record(
    session: Session, desk: str, language: str, slugs: Iterable[str], kind: str, at: dt.datetime
) -> None:
    session.add_all(
        KbSuggestionEvent(desk=desk, slug=slug[:200], language=language, kind=kind, at=at)
        for slug in slugs
    )


@dataclass(frozen=True)
class ArticleCount:
    slug: str
    offers: int
    clicks: int


def counts(session: Session, desk: str, start: dt.datetime, end: dt.datetime) -> list[ArticleCount]:
    """Offers and clicks per article of ``desk`` from ``start`` (inclusive) to ``end``."""
    table = KbSuggestionEvent
    rows = session.execute(
        select(table.slug, table.kind, func.count())
        .where(table.desk == desk, table.at >= start, table.at < end)
        .group_by(table.slug, table.kind)
    ).all()
    by_slug: dict[str, dict[str, int]] = {}
    for slug, kind, number in rows:
        by_slug.setdefault(slug, {})[kind] = int(number)
    return [
        ArticleCount(slug, found.get(OFFER, 0), found.get(CLICK, 0))
        for slug, found in sorted(by_slug.items())
    ]


def ticket_of(session: Session, channel: str, external_id: str) -> int | None:
    """The ticket the message stored under ``external_id`` belongs to, once it is stored."""
    return session.scalar(
        select(Message.ticket_id)
        .where(Message.channel == channel, Message.external_id == external_id)
        .limit(1)
    )
