"""Phone requests (terms clauses 27, 29, 32): staff log a call, and it goes through the
inbound queue like any channel (channel "phone"), so the ticket, its due times counted
from the call, the acknowledgement by email and deduplication are intake's, not ours.
Who logged it is in the audit log, written in the transaction that queues it."""

from __future__ import annotations

import datetime as dt
import json
import secrets

from sqlalchemy.orm import Session, sessionmaker

from triage_desk.addresses import is_email_address
from triage_desk.clock import Clock
from triage_desk.desk_service.errors import InvalidInput
from triage_desk.desk_service.results import (
    CallLogged,
    FormArticleFigures,
    FormSuggestionFigures,
)
from triage_desk.desks import Desks
from triage_desk.intake.queue import Arrival, InboundQueue
from triage_desk.intake.web.decoder import PHONE, REPLY_CHANNEL
from triage_desk.storage import web_form
from triage_desk.storage.models import AuditEvent

MAX_CALL_AGE = dt.timedelta(days=7)  # older calls are logged as mail would be: not as calls
MAX_TEXT_CHARS = 20_000
CLOCK_SKEW = dt.timedelta(minutes=1)  # a clock on the desk a minute ahead is no future call


def log_call(
    sessions: sessionmaker[Session],
    desks: Desks,
    clock: Clock,
    *,
    desk: str,
    address: str,
    text: str,
    at: dt.datetime,
    staff: str,
    subject: str | None = None,
    category: str | None = None,
) -> CallLogged:
    """Queue a call; refused (``InvalidInput`` naming the field) when a value cannot be.
    ``category``: the one staff chose (the ticket's, confirmed); None: the model's."""
    if not staff or not staff.strip():
        raise InvalidInput("staff", "say who is logging the call: it is recorded with it")
    if desk not in desks.by_name:
        raise InvalidInput("desk", f"no desk {desk!r}", desk, desks.by_name)
    categories = desks.by_name[desk].config.categories
    if category and category not in categories:
        raise InvalidInput(
            "category", f"desk {desk} has no category {category!r}", category, categories
        )
    address = address.strip().lower()
    if not is_email_address(address):
        raise InvalidInput("address", f"{address!r} is not an email address", address)
    text = text.strip()
    if not text:
        raise InvalidInput("text", "say what the caller said: the text is empty")
    if len(text) > MAX_TEXT_CHARS:
        raise InvalidInput("text", f"the text is over {MAX_TEXT_CHARS} characters")
    if at.tzinfo is None:
        raise InvalidInput("at", "the call's time needs a zone (or is read in the desk's)")
    now = clock()
    at = at.astimezone(dt.UTC)
    if at > now + CLOCK_SKEW:
        raise InvalidInput("at", "the call's time is in the future", at)
    if at < now - MAX_CALL_AGE:
        raise InvalidInput("at", f"the call is older than {MAX_CALL_AGE.days} days", at)
    external_id = f"phone-{secrets.token_hex(16)}@{desk}.phone"
    payload = {"address": address, "text": text, "subject": subject or "", "staff": staff}
    payload["category"] = category or ""
    item = Arrival(
        PHONE, desk, json.dumps(payload).encode(), at, {"source": f"phone:{staff}"}, external_id
    )
    with sessions.begin() as session:
        [queue_id] = InboundQueue(sessions, clock).enqueue_in(session, [item])
        session.add(
            AuditEvent(
                at=now,
                actor=staff.strip(),
                action="call_logged",
                ticket_id=None,
                details={
                    "desk": desk,
                    "address": address,
                    "call_at": at.isoformat(),
                    "external_id": external_id,
                    "queue_id": queue_id,
                    "category": category,
                },
            )
        )
    return CallLogged(desk, queue_id, external_id, address, at, staff.strip())


def ticket_number_of(sessions: sessionmaker[Session], external_id: str) -> str | None:
    """The number of the ticket a logged call (or form submission) became, once stored."""
    from triage_desk.storage.models import Ticket

    with sessions() as session:
        ticket_id = web_form.ticket_of(session, REPLY_CHANNEL, external_id)
        ticket = session.get(Ticket, ticket_id) if ticket_id is not None else None
        return ticket.number if ticket is not None else None


def form_suggestions(
    sessions: sessionmaker[Session], desks: Desks, desk: str, start: dt.date, end: dt.date
) -> FormSuggestionFigures:
    if desk not in desks.by_name:
        raise InvalidInput("desk", f"no desk {desk!r}", desk, desks.by_name)
    zone = desks.by_name[desk].calendar.zone
    since = dt.datetime.combine(start, dt.time(), zone).astimezone(dt.UTC)
    until = dt.datetime.combine(end + dt.timedelta(days=1), dt.time(), zone).astimezone(dt.UTC)
    with sessions() as session:
        rows = web_form.counts(session, desk, since, until)
    articles = tuple(FormArticleFigures(r.slug, r.offers, r.clicks) for r in rows)
    return FormSuggestionFigures(
        desk,
        start,
        end,
        articles,
        sum(a.offers for a in articles),
        sum(a.clicks for a in articles),
    )
