"""What the desk service answers about clients, representatives and notices: frozen values.

Names are the ones staff gave (configuration, an import, the console), never a mail's
display name: anyone can put any name in a From header. Times are UTC unless named local.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass


@dataclass(frozen=True)
class LinkedAddress:
    channel: str  # "email", "telegram", ...
    address: str  # an email address or a chat id
    undeliverable: bool = False


@dataclass(frozen=True)
class MemberView:
    requester_id: int
    name: str | None  # the name staff gave this member of the client
    representative: bool
    addresses: tuple[LinkedAddress, ...]  # email addresses and linked chats


@dataclass(frozen=True)
class ClientSummary:
    id: int
    name: str
    desk: str
    domains: tuple[str, ...]
    representatives: int
    members: int


@dataclass(frozen=True)
class ClientDetail:
    summary: ClientSummary
    members: tuple[MemberView, ...]  # representatives first, then by first address


@dataclass(frozen=True)
class Membership:
    client_id: int
    client: str
    desk: str
    representative: bool
    name: str | None


@dataclass(frozen=True)
class RequesterDetail:
    id: int
    addresses: tuple[LinkedAddress, ...]
    memberships: tuple[Membership, ...]


@dataclass(frozen=True)
class ImportReport:
    """What an import changed, in words a front end can list."""

    clients_added: tuple[str, ...]
    clients_changed: tuple[str, ...]  # another desk or new domains
    members_added: tuple[tuple[str, str], ...]  # (client, address)
    representatives_set: tuple[tuple[str, str], ...]  # (client, address) now designated
    representatives_unset: tuple[tuple[str, str], ...]  # (client, address) no longer
    unchanged_rows: int

    @property
    def changed(self) -> bool:
        return bool(
            self.clients_added
            or self.clients_changed
            or self.members_added
            or self.representatives_set
            or self.representatives_unset
        )


@dataclass(frozen=True)
class NoticeRecipientView:
    client: str
    name: str | None  # the name staff gave the representative
    channel: str
    address: str
    outbox_id: int | None
    delivery: str  # the outbox item's status: pending, sent, dead...
    attempts: int
    last_error: str | None


@dataclass(frozen=True)
class NoticeView:
    id: int
    desk: str
    subject: str
    text: str
    change_at: dt.datetime  # in the desk's zone
    created_by: str
    created_at: dt.datetime  # in the desk's zone
    clients: tuple[str, ...]
    recipients: tuple[NoticeRecipientView, ...]


@dataclass(frozen=True)
class NoticeSent:
    notice: NoticeView
    created: bool  # False: this key had sent it already, nothing was queued again


__all__ = [
    "ClientDetail",
    "ClientSummary",
    "ImportReport",
    "LinkedAddress",
    "MemberView",
    "Membership",
    "NoticeRecipientView",
    "NoticeSent",
    "NoticeView",
    "RequesterDetail",
]
