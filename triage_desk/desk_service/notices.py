"""Notices of a planned change to the designated representatives of clients (terms
clause 23): refused unless the change is at least five business days away in the desk's
calendar; each representative's email address and linked chats get one outbox item.

Sending is idempotent on the notice's key (the console's form carries one, the command line
derives one from what it sends): the same key again returns the notice it made and queues
nothing, and each recipient's outbox item has a dedupe key of the notice and the address.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from triage_desk.clock import Clock
from triage_desk.desk_service.client_results import (
    NoticeRecipientView,
    NoticeSent,
    NoticeView,
)
from triage_desk.desk_service.errors import InvalidInput, NotAllowed, NotFound
from triage_desk.desks import Desk, Desks
from triage_desk.responders.localtime import format_local
from triage_desk.responders.outbox import dedupe_key, recipient_key
from triage_desk.responders.render import TemplateRenderer
from triage_desk.sla.notice_period import business_days_later
from triage_desk.storage.models import (
    AuditEvent,
    Client,
    Notice,
    NoticeClient,
    NoticeRecipient,
    OutboxItem,
    OutboxStatus,
)

NOTICE_BUSINESS_DAYS = 5  # terms clause 23
MAX_SUBJECT = 200
MAX_TEXT = 20_000
MAX_CLIENTS = 200
KEY = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
LANGUAGES = ("lv", "en", "ru")
CHANNELS = ("email", "telegram")  # where a notice goes: a representative's mail and chats
KIND = "notice"


class NoticeDesk:
    """The notices part of the desk service (``DeskService`` delegates here)."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        desks: Desks,
        renderer: TemplateRenderer,
        clock: Clock,
    ) -> None:
        self.sessions, self.desks, self.renderer, self.clock = sessions, desks, renderer, clock

    def earliest_change(self, desk: str) -> dt.datetime:
        """The first instant a change may be announced for now (UTC)."""
        return business_days_later(self._desk(desk).calendar, self.clock(), NOTICE_BUSINESS_DAYS)

    def _desk(self, desk: str) -> Desk:
        found = self.desks.by_name.get(desk)
        if found is None:
            raise InvalidInput("desk", f"unknown desk {desk!r}", desk, self.desks.by_name)
        return found

    def send(
        self,
        desk: str,
        clients: Sequence[int | str],
        change_at: dt.datetime,
        subject: str,
        text: str,
        staff: str,
        key: str,
    ) -> NoticeSent:
        """Store the notice and queue it to every designated representative of ``clients``
        (ids or names) of ``desk``; the notice of ``key`` when it was sent already."""
        if not KEY.match(key):
            raise InvalidInput("key", "a notice key is 8 to 64 letters, digits, '-' or '_'")
        found = self._desk(desk)
        subject = " ".join(subject.split())
        text = text.strip().replace("\r\n", "\n")
        if not subject or len(subject) > MAX_SUBJECT:
            raise InvalidInput("subject", f"a subject has 1 to {MAX_SUBJECT} characters")
        if not text or len(text) > MAX_TEXT:
            raise InvalidInput("text", f"the text has 1 to {MAX_TEXT} characters")
        if not clients:
            raise InvalidInput("clients", "pick at least one client")
        if len(clients) > MAX_CLIENTS:
            raise InvalidInput("clients", f"at most {MAX_CLIENTS} clients")
        change = found.calendar.to_utc(change_at)
        already = self._by_key(key)
        if already is not None:
            return NoticeSent(already, created=False)
        now = self.clock()
        earliest = business_days_later(found.calendar, now, NOTICE_BUSINESS_DAYS)
        if change < earliest:
            local = earliest.astimezone(found.calendar.zone).strftime("%Y-%m-%d %H:%M")
            raise NotAllowed(
                f"the change must be at least {NOTICE_BUSINESS_DAYS} business days away in "
                f"desk {desk}'s calendar: {local} at the earliest",
                code="notice_too_soon",
                params={"days": NOTICE_BUSINESS_DAYS, "earliest": local},
            )
        try:
            with self.sessions.begin() as session:
                notice_id = self._store(
                    session, found, clients, change, subject, text, staff, key, now
                )
        except IntegrityError:  # the same key sent at the same moment elsewhere
            again = self._by_key(key)
            if again is None:
                raise
            return NoticeSent(again, created=False)
        return NoticeSent(self.notice(notice_id), created=True)

    def _store(
        self,
        session: Session,
        desk: Desk,
        wanted: Sequence[int | str],
        change: dt.datetime,
        subject: str,
        text: str,
        staff: str,
        key: str,
        now: dt.datetime,
    ) -> int:
        picked = self._clients(session, desk.name, wanted)
        notice = Notice(
            key=key,
            desk=desk.name,
            subject=subject,
            text=text,
            change_at=change,
            created_by=staff,
            created_at=now,
        )
        session.add(notice)
        session.flush()
        seen: set[tuple[str, str]] = set()
        queued = 0
        for client in picked:
            session.add(NoticeClient(notice_id=notice.id, client_id=client.id))
            for member in client.memberships:
                if not member.is_representative:
                    continue
                person = member.requester
                language = person.language if person.language in LANGUAGES else "lv"
                for address in sorted(person.addresses, key=lambda a: (a.channel, a.id)):
                    where = (address.channel, address.address)
                    if address.channel not in CHANNELS or where in seen:
                        continue
                    seen.add(where)
                    item = None
                    if not address.undeliverable:
                        item = self._queue(
                            session,
                            desk,
                            notice,
                            client,
                            address.channel,
                            address.address,
                            language,
                            now,
                        )
                        queued += 1
                    session.add(
                        NoticeRecipient(
                            notice_id=notice.id,
                            client_id=client.id,
                            requester_id=person.id,
                            channel=address.channel,
                            address=address.address,
                            outbox_id=item.id if item is not None else None,
                        )
                    )
        session.add(
            AuditEvent(
                at=now,
                actor=staff,
                action="notice_sent",
                details={
                    "notice_id": notice.id,
                    "desk": desk.name,
                    "clients": [c.name for c in picked],
                    "change_at": change.isoformat(),
                    "recipients": len(seen),
                    "queued": queued,
                },
            )
        )
        session.flush()
        return notice.id

    @staticmethod
    def _clients(session: Session, desk: str, wanted: Sequence[int | str]) -> list[Client]:
        picked: dict[int, Client] = {}
        for one in wanted:
            if isinstance(one, int):
                client = session.get(Client, one)
            else:
                client = session.scalar(select(Client).where(Client.name == one.strip()))
            if client is None:
                raise NotFound("client", one)
            if client.desk != desk:
                raise InvalidInput(
                    "clients",
                    f"client {client.name!r} belongs to desk {client.desk!r}, not {desk!r}",
                    client.name,
                )
            picked[client.id] = client
        return sorted(picked.values(), key=lambda c: c.name)

    def _queue(
        self,
        session: Session,
        desk: Desk,
        notice: Notice,
        client: Client,
        channel: str,
        address: str,
        language: str,
        now: dt.datetime,
    ) -> OutboxItem:
        rendered = self.renderer.render(
            KIND,
            desk.name,
            language,
            {
                "desk_name": desk.config.name,
                "subject": notice.subject,
                "text": notice.text,
                "client": client.name,
                "change_text": format_local(notice.change_at, desk.calendar.zone, language),
                "to_chat": channel != "email",
            },
        )
        domain = desk.address.split("@", 1)[1]
        item = OutboxItem(
            dedupe_key=dedupe_key(KIND, notice.id, channel, address),
            kind=KIND,
            ticket_id=None,
            channel=channel,
            sender=desk.address,
            recipient=address,
            recipient_key=recipient_key(channel, address),
            subject=rendered.subject,
            body_text=rendered.text,
            headers={
                "reference": f"{uuid.uuid4().hex}.notice{notice.id}@{domain}",
                "in_reply_to": None,
                "references": [],
                "automatic": True,
                "sender_name": desk.config.name,
            },
            status=OutboxStatus.PENDING,
            attempts=0,
            next_attempt_at=now,
            created_at=now,
        )
        session.add(item)
        session.flush()
        return item

    # ------------------------------------------------------------------ queries

    def _by_key(self, key: str) -> NoticeView | None:
        with self.sessions() as session:
            found = session.scalar(select(Notice.id).where(Notice.key == key))
        return self.notice(found) if found is not None else None

    def notice(self, notice_id: int) -> NoticeView:
        with self.sessions() as session:
            found = session.get(Notice, notice_id)
            if found is None:
                raise NotFound("notice", notice_id)
            return self._view(session, found)

    def notices(self, desk: str | None = None, limit: int = 100) -> list[NoticeView]:
        with self.sessions() as session:
            query = select(Notice).order_by(Notice.id.desc()).limit(limit)
            if desk is not None:
                query = query.where(Notice.desk == desk)
            return [self._view(session, n) for n in session.scalars(query)]

    def _view(self, session: Session, notice: Notice) -> NoticeView:
        desk = self.desks.by_name.get(notice.desk)
        zone = desk.calendar.zone if desk else dt.UTC
        names = {
            (m.requester_id, m.client_id): m.display_name
            for link in notice.clients
            for m in link.client.memberships
        }
        recipients = []
        for r in notice.recipients:
            item = r.outbox_item
            recipients.append(
                NoticeRecipientView(
                    r.client.name,
                    names.get((r.requester_id, r.client_id)),
                    r.channel,
                    r.address,
                    r.outbox_id,
                    item.status if item is not None else "undeliverable",
                    item.attempts if item is not None else 0,
                    item.last_error if item is not None else None,
                )
            )
        return NoticeView(
            notice.id,
            notice.desk,
            notice.subject,
            notice.text,
            notice.change_at.astimezone(zone),
            notice.created_by,
            notice.created_at.astimezone(zone),
            tuple(link.client.name for link in notice.clients),
            tuple(recipients),
        )


__all__ = ["NOTICE_BUSINESS_DAYS", "NoticeDesk"]
