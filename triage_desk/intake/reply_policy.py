"""Who wrote a message, and whether it gets an automatic first reply: decided here only.

Intake asks twice: before storing (``MessageTriage`` looks up knowledge-base suggestions
only for messages that may be answered) and when storing (the ``decide_reply`` step, which
adds what the database knows). Both read the same rules below, on the channel-neutral
``InboundMessage``; the answer is a ``ReplyDecision`` that carries its reason.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Literal

from triage_desk.config import EmailConfig
from triage_desk.desks import Desk, Desks
from triage_desk.intake.message import InboundMessage
from triage_desk.responders.outbox import recipient_key

AuthorKind = Literal["person", "staff", "robot"]


def proves_address(domains: Collection[str], address: str) -> bool:
    """Whether an authenticated domain vouches for ``address``: its own domain or a parent
    of it (DMARC's relaxed alignment)."""
    if "@" not in address:
        return False
    domain = address.rsplit("@", 1)[1].lower()
    return any(domain == d or domain.endswith("." + d) for d in domains)


@dataclass(frozen=True)
class Author:
    kind: AuthorKind
    staff_unproven: bool = False  # the address names staff, but no trusted check proves it


@dataclass(frozen=True)
class ReplyDecision:
    """Whether a message gets its automatic first reply; when not, why (audited)."""

    reason: str | None = None
    held: bool = False  # by a desk-wide limit: staff are told

    @property
    def reply(self) -> bool:
        return self.reason is None


REPLY = ReplyDecision()


def sender_key(inbound: InboundMessage) -> str:
    """The sender as the per-sender limit counts it (a plus-address as its base address)."""
    return recipient_key(inbound.channel, inbound.sender)


def urgent_first_reply(desk: Desk, category: str, refused: bool) -> bool:
    """The first reply is the 24/7 route or an urgent (emergency) acknowledgement."""
    rules = desk.config.categories[category]
    return not refused and bool(rules.reply_template or rules.urgent or rules.around_the_clock)


@dataclass
class ReplyBudget:
    """Automatic first replies sent, as the limits count them: per sender (by base address)
    in the last hour, per desk in the last minute and the last hour."""

    per_sender: Counter[str]
    desk_minute: Counter[str]
    desk_hour: Counter[str]

    def spend(self, inbound: InboundMessage) -> None:
        self.per_sender[sender_key(inbound)] += 1
        self.desk_minute[inbound.desk] += 1
        self.desk_hour[inbound.desk] += 1


@dataclass
class ReplyPolicy:
    desks: Desks
    rules: EmailConfig
    own_addresses: set[str] = field(init=False)
    staff_mailboxes: set[str] = field(init=False)

    def __post_init__(self) -> None:
        self.own_addresses = self.desks.all_addresses()
        # The desks' staff notice mailboxes: never answered (they would answer back).
        self.staff_mailboxes = {
            desk.config.staff_address.strip().lower()
            for desk in self.desks.by_name.values()
            if desk.config.staff_address
        }

    def author(self, inbound: InboundMessage) -> Author:
        """Robot, staff or person. A staff address is no proof (anyone can type it): a check
        by an authority the deployment trusts (``email.trusted_authserv_ids``) is."""
        if inbound.is_robot:
            return Author("robot")
        if not self.rules.is_staff(inbound.sender):
            return Author("person")
        trusted = self.rules.trusted_authserv_ids
        domains = {v.identity for v in inbound.vouches if v.authority in trusted}
        if proves_address(domains, inbound.sender):
            return Author("staff")
        return Author("person", staff_unproven=True)

    def own_mailbox(self, inbound: InboundMessage) -> str | None:
        """Our own addresses, also with a plus part (``atbalsts+x@``), and the staff notice
        mailboxes: answering them would make the desk answer itself."""
        if not inbound.sender:
            return "sender is one of our own addresses"
        addresses = {inbound.sender, sender_key(inbound)}
        if addresses & self.own_addresses:
            return "sender is one of our own addresses"
        if addresses & self.staff_mailboxes:
            return "sender is a desk's staff notice mailbox"
        return None

    def by_nature(self, inbound: InboundMessage, author: Author) -> str | None:
        """Why the message itself may never be answered (whatever the database says)."""
        if inbound.no_reply_reason:
            return inbound.no_reply_reason
        if inbound.bounce is not None:
            return "bounce"
        if author.kind == "staff":
            return "sender is staff"
        own = self.own_mailbox(inbound)
        if own:
            return own
        if not inbound.replyable:
            return "no address to reply to"
        return None

    def may_be_answered(self, inbound: InboundMessage) -> bool:
        return self.by_nature(inbound, self.author(inbound)) is None

    def decide(
        self,
        inbound: InboundMessage,
        author: Author,
        *,
        opened_ticket: bool,
        undeliverable: bool,
        urgent: bool,
        now: dt.datetime,
        budget: ReplyBudget,
        quotes_our_reply: Callable[[], bool],
    ) -> ReplyDecision:
        """In this order: what it is (a follow-up, a robot, a bounce, staff, one of our own
        mailboxes); whether a reply would reach a person (undeliverable, old mail, a robot
        quoting our reply back); then the limits: per sender, which the 24/7 route and
        urgent acknowledgements skip, and desk-wide, which holds every reply (a held urgent
        one alerts staff at once, the others once an hour)."""
        if not opened_ticket:
            return ReplyDecision("follow-up to an open ticket")
        reason = self.by_nature(inbound, author)
        if reason:
            return ReplyDecision(reason)
        if undeliverable:
            return ReplyDecision("address is known to be undeliverable")
        max_age = self.rules.acknowledge_max_age_hours
        if now - inbound.received_at > dt.timedelta(hours=max_age):
            return ReplyDecision(f"received more than {max_age:g} h ago")
        if quotes_our_reply():
            return ReplyDecision("quotes our own automatic reply back (a mail loop)")
        limit = self.rules.acknowledgements_per_sender_per_hour
        if not urgent and budget.per_sender[sender_key(inbound)] >= limit:
            return ReplyDecision(f"limit of {limit} acknowledgements per sender per hour reached")
        per_minute = self.rules.automatic_replies_per_desk_per_minute
        if budget.desk_minute[inbound.desk] >= per_minute:
            reason = f"desk-wide limit of {per_minute} automatic replies per minute reached"
            return ReplyDecision(reason, held=True)
        per_hour = self.rules.automatic_replies_per_desk_per_hour
        if budget.desk_hour[inbound.desk] >= per_hour:
            reason = f"desk-wide limit of {per_hour} automatic replies per hour reached"
            return ReplyDecision(reason, held=True)
        return REPLY
