"""Step: whether each message gets an automatic first reply (``reply_policy`` decides, with
what the database knows: the address's deliverability, the replies the limits have counted,
our earlier replies a robot may be quoting back). The decision and its reason are kept on
the message; a new ticket without a reply gets a ``no_acknowledgement`` event."""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from functools import partial

from triage_desk.intake.reply_policy import ReplyBudget, sender_key, urgent_first_reply
from triage_desk.intake.steps.batch import Batch, Work
from triage_desk.intake.steps.thread import ticket_numbers
from triage_desk.storage import repositories as repo

# Every automatic first reply (acknowledgement, 24/7 route, refusal) has a dedupe key with
# this prefix; the per-sender hourly limit counts them together.
FIRST_REPLY_PREFIX = "ack:"
_MAX_LOOP_SCAN = 200_000  # characters of a text searched for our own reply quoted back
_QUOTE_MARKS = re.compile(r"(?m)^[ \t]*(?:>[ \t]?)+")
_MIN_QUOTED_LINE = 30  # a line of our reply this long, found in a message, is our text quoted


def quotes_text(text: str, ours: str) -> bool:
    """Whether ``text`` quotes ``ours`` back: at least two of its longer lines (all of them,
    if it has fewer), whatever quote marks or rewrapping the quoting client added."""
    flat = " ".join(_QUOTE_MARKS.sub("", text[:_MAX_LOOP_SCAN]).split())
    lines = [" ".join(line.split()) for line in ours.splitlines()]
    lines = [line for line in lines if len(line) >= _MIN_QUOTED_LINE]
    if not lines:
        return False
    return sum(line in flat for line in lines) >= min(2, len(lines))


def _quotes_our_reply(batch: Batch, work: Work) -> bool:
    """A robot that strips every header answers our acknowledgement with a new message: one
    from the address we sent a ticket's first reply to that quotes that reply back gets no
    second one (the loop stops after one round trip)."""
    inbound = work.inbound
    numbers = ticket_numbers(inbound.text[:_MAX_LOOP_SCAN])
    if not numbers:
        return False
    ours = repo.first_replies_to(batch.session, numbers, sender_key(inbound), FIRST_REPLY_PREFIX)
    return any(quotes_text(inbound.text, text) for text in ours)


def _budget(batch: Batch) -> ReplyBudget:
    """What the limits have counted so far, before this batch adds anything."""
    session, now = batch.session, batch.now
    hour_ago, minute_ago = now - dt.timedelta(hours=1), now - dt.timedelta(minutes=1)
    senders = {sender_key(w.inbound) for w in batch.fresh}
    desks = {w.desk.name: w.desk.address for w in batch.fresh}

    def replies_since(since: dt.datetime) -> Counter[str]:
        return Counter(
            {n: repo.replies_from(session, a, FIRST_REPLY_PREFIX, since) for n, a in desks.items()}
        )

    return ReplyBudget(
        per_sender=Counter(
            repo.replies_by_recipient(session, senders, FIRST_REPLY_PREFIX, hour_ago)
        ),
        desk_minute=replies_since(minute_ago),
        desk_hour=replies_since(hour_ago),
    )


def is_urgent(work: Work) -> bool:
    assert work.ticket is not None
    return urgent_first_reply(work.desk, work.ticket.category, work.refused)


def decide_reply(batch: Batch) -> None:
    budget = batch.budget = _budget(batch)
    for work in batch.fresh:
        decision = work.decision = batch.policy.decide(
            work.inbound,
            work.author,
            opened_ticket=work.created_ticket,
            undeliverable=batch.requester(work).undeliverable,
            urgent=work.created_ticket and is_urgent(work),
            now=batch.now,
            budget=budget,
            quotes_our_reply=partial(_quotes_our_reply, batch, work),
        )
        if decision.reply:
            budget.spend(work.inbound)
        elif work.created_ticket:
            work.audit("no_acknowledgement", reason=decision.reason)
        if decision.held:
            batch.held.setdefault(work.desk.name, []).append(work)
