"""Clients (institutions, per desk, with their mail domains), their members and designated
representatives (terms clause 12): queries and staff changes, each change in the audit log.

A member is a requester known at an email address; their linked chats are the requester's
other addresses (``storage/links.py`` points a linked chat's address at the requester).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Iterable

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload, sessionmaker

from triage_desk.clock import Clock
from triage_desk.desk_service.client_results import (
    ClientDetail,
    ClientSummary,
    ImportReport,
    LinkedAddress,
    MemberView,
    RequesterDetail,
)
from triage_desk.desk_service.client_results import Membership as MembershipView
from triage_desk.desk_service.errors import Conflict, InvalidInput, NotFound
from triage_desk.desks import Desks
from triage_desk.storage import repositories as repo
from triage_desk.storage.clients import ClientRecord, parse_clients_csv, upsert_clients
from triage_desk.storage.models import (
    AuditEvent,
    Client,
    Membership,
    Requester,
    RequesterAddress,
)

MAX_IMPORT_BYTES = 1_000_000  # a desk's clients fit in far less; more is a mistake or worse
MAX_NAME = 300
MAX_DOMAINS = 50
DOMAIN = re.compile(r"^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?(?:\.[a-z0-9-]{1,63})+$")
EMAIL = re.compile(r"^[^@\s]{1,64}@[a-z0-9.-]{1,253}\.[a-z0-9-]{2,63}$")
SEARCH_LIMIT = 50


def _audit(session: Session, actor: str, action: str, at: dt.datetime, **details: object) -> None:
    session.add(
        AuditEvent(
            at=at,
            actor=actor,
            action=action,
            details={k: v for k, v in details.items() if v is not None},
        )
    )


def _addresses(requester: Requester) -> tuple[LinkedAddress, ...]:
    ordered = sorted(requester.addresses, key=lambda a: (a.channel != "email", a.channel, a.id))
    return tuple(LinkedAddress(a.channel, a.address, bool(a.undeliverable)) for a in ordered)


def _summary(client: Client) -> ClientSummary:
    reps = sum(1 for m in client.memberships if m.is_representative)
    return ClientSummary(
        client.id, client.name, client.desk, tuple(client.domains), reps, len(client.memberships)
    )


def normalise_domains(domains: Iterable[str]) -> tuple[str, ...]:
    found = sorted({d.strip().lower().lstrip("@") for d in domains if d.strip()})
    if len(found) > MAX_DOMAINS:
        raise InvalidInput("domains", f"at most {MAX_DOMAINS} domains", len(found))
    for domain in found:
        if not DOMAIN.match(domain):
            raise InvalidInput("domains", f"{domain!r} is not a mail domain", domain)
    return tuple(found)


def normalise_email(address: str) -> str:
    address = address.strip().lower()
    if not EMAIL.match(address):
        raise InvalidInput("address", f"{address!r} is not an email address", address)
    return address


class ClientDesk:
    """The clients part of the desk service (``DeskService`` delegates here)."""

    def __init__(self, sessions: sessionmaker[Session], desks: Desks, clock: Clock) -> None:
        self.sessions, self.desks, self.clock = sessions, desks, clock

    # ------------------------------------------------------------------ queries

    def clients(self, desk: str | None = None) -> list[ClientSummary]:
        with self.sessions() as session:
            query = (
                select(Client)
                .options(selectinload(Client.memberships))
                .order_by(Client.desk, Client.name)
            )
            if desk is not None:
                query = query.where(Client.desk == desk)
            return [_summary(c) for c in session.scalars(query)]

    def client(self, client_id: int) -> ClientDetail:
        with self.sessions() as session:
            client = self._client(session, client_id)
            members = [
                MemberView(
                    m.requester_id,
                    m.display_name,
                    bool(m.is_representative),
                    _addresses(m.requester),
                )
                for m in client.memberships
            ]
            members.sort(
                key=lambda m: (not m.representative, m.addresses[0].address if m.addresses else "")
            )
            return ClientDetail(_summary(client), tuple(members))

    def requester(self, requester_id: int) -> RequesterDetail:
        with self.sessions() as session:
            found = session.get(Requester, requester_id)
            if found is None:
                raise NotFound("requester", requester_id)
            return self._requester(found)

    def find_requesters(self, text: str) -> list[RequesterDetail]:
        """Requesters with an address containing ``text`` (email or chat), at most 50."""
        text = text.strip().lower()[:320]
        if not text:
            return []
        pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        with self.sessions() as session:
            ids = session.scalars(
                select(RequesterAddress.requester_id)
                .where(func.lower(RequesterAddress.address).like(pattern, escape="\\"))
                .group_by(RequesterAddress.requester_id)
                .order_by(RequesterAddress.requester_id)
                .limit(SEARCH_LIMIT)
            ).all()
            return [self._requester(r) for r in (session.get(Requester, i) for i in ids) if r]

    @staticmethod
    def _requester(found: Requester) -> RequesterDetail:
        memberships = sorted(
            (
                MembershipView(
                    m.client_id,
                    m.client.name,
                    m.client.desk,
                    bool(m.is_representative),
                    m.display_name,
                )
                for m in found.memberships
            ),
            key=lambda m: (m.desk, m.client),
        )
        return RequesterDetail(found.id, _addresses(found), tuple(memberships))

    @staticmethod
    def _client(session: Session, client_id: int) -> Client:
        client = session.get(Client, client_id)
        if client is None:
            raise NotFound("client", client_id)
        return client

    # ------------------------------------------------------------------ changes

    def _desk(self, desk: str) -> str:
        if desk not in self.desks.by_name:
            raise InvalidInput("desk", f"unknown desk {desk!r}", desk, self.desks.by_name)
        return desk

    def add_client(self, name: str, desk: str, domains: Iterable[str], staff: str) -> ClientSummary:
        name = " ".join(name.split())
        if not name or len(name) > MAX_NAME:
            raise InvalidInput("name", f"a client's name has 1 to {MAX_NAME} characters", name)
        desk = self._desk(desk)
        found = normalise_domains(domains)
        now = self.clock()
        with self.sessions.begin() as session:
            if session.scalar(select(Client.id).where(Client.name == name)) is not None:
                raise Conflict(
                    f"client {name!r} exists", code="client_exists", params={"name": name}
                )
            client = Client(name=name, desk=desk, domains=list(found), created_at=now)
            session.add(client)
            session.flush()
            _audit(session, staff, "client_added", now, client=name, desk=desk, domains=list(found))
            return ClientSummary(client.id, name, desk, found, 0, 0)

    def set_domains(self, client_id: int, domains: Iterable[str], staff: str) -> ClientSummary:
        found = normalise_domains(domains)
        now = self.clock()
        with self.sessions.begin() as session:
            client = self._client(session, client_id)
            before = list(client.domains)
            client.domains = list(found)
            _audit(
                session,
                staff,
                "client_domains",
                now,
                client=client.name,
                old=before,
                new=list(found),
            )
            session.flush()
            return _summary(client)

    def add_member(
        self,
        client_id: int,
        address: str,
        staff: str,
        name: str | None = None,
        representative: bool = False,
    ) -> MemberView:
        """The requester known at the email ``address`` (made if unknown) as a member of the
        client; ``name`` is the one staff give them (never a mail's)."""
        address = normalise_email(address)
        name = " ".join((name or "").split())[:MAX_NAME] or None
        now = self.clock()
        with self.sessions.begin() as session:
            client = self._client(session, client_id)
            requester = repo.find_requester(session, "email", address)
            if requester is None:
                requester = Requester(created_at=now)
                requester.addresses.append(RequesterAddress(channel="email", address=address))
                session.add(requester)
                session.flush()
            member = session.get(Membership, (requester.id, client.id))
            if member is None:
                member = Membership(requester_id=requester.id, client_id=client.id)
                session.add(member)
            member.is_representative = representative
            if name:
                member.display_name = name
            _audit(
                session,
                staff,
                "client_member_added",
                now,
                client=client.name,
                address=address,
                representative=representative,
            )
            session.flush()
            session.refresh(requester)
            return MemberView(
                requester.id, member.display_name, representative, _addresses(requester)
            )

    def add_requester(
        self, client_id: int, requester_id: int, staff: str, representative: bool = False
    ) -> MemberView:
        """A requester already known (by any channel) as a member of the client."""
        now = self.clock()
        with self.sessions.begin() as session:
            client = self._client(session, client_id)
            requester = session.get(Requester, requester_id)
            if requester is None:
                raise NotFound("requester", requester_id)
            member = session.get(Membership, (requester.id, client.id))
            if member is None:
                member = Membership(requester_id=requester.id, client_id=client.id)
                session.add(member)
            member.is_representative = representative
            _audit(
                session,
                staff,
                "client_member_added",
                now,
                client=client.name,
                requester_id=requester.id,
                representative=representative,
            )
            return MemberView(
                requester.id, member.display_name, representative, _addresses(requester)
            )

    def set_representative(
        self, client_id: int, requester_id: int, representative: bool, staff: str
    ) -> MemberView:
        now = self.clock()
        with self.sessions.begin() as session:
            client = self._client(session, client_id)
            member = session.get(Membership, (requester_id, client.id))
            if member is None:
                raise NotFound(
                    "member",
                    requester_id,
                    f"requester {requester_id} is no member of {client.name}",
                )
            member.is_representative = representative
            _audit(
                session,
                staff,
                "representative_set" if representative else "representative_unset",
                now,
                client=client.name,
                requester_id=requester_id,
            )
            return MemberView(
                requester_id, member.display_name, representative, _addresses(member.requester)
            )

    def import_csv(self, data: bytes, source: str, staff: str) -> ImportReport:
        """``triage clients import`` from an upload: every row checked before anything is
        stored (a bad row refuses the whole file, naming its line)."""
        if len(data) > MAX_IMPORT_BYTES:
            raise InvalidInput(
                "file_size", f"the file has more than {MAX_IMPORT_BYTES} bytes", MAX_IMPORT_BYTES
            )
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise InvalidInput("file_text", "the file is not UTF-8 text") from None
        source = re.sub(r"[^\w.-]", "_", source)[:80] or "upload"
        try:
            records = parse_clients_csv(io.StringIO(text, newline=""), source, self.desks.by_name)
        except (ValueError, csv.Error) as exc:  # csv.Error: a broken quote, a NUL byte
            found = re.match(rf"^{re.escape(source)}:(\d+): (.*)$", str(exc), re.DOTALL)
            refused = InvalidInput("file", str(exc), found.group(1) if found else None)
            refused.params |= {
                "line": found.group(1) if found else "?",
                "detail": found.group(2) if found else str(exc),
            }
            raise refused from None
        now = self.clock()
        with self.sessions.begin() as session:
            report = _changes(session, records)
            upsert_clients(session, records)
            _audit(
                session,
                staff,
                "clients_imported",
                now,
                source=source,
                clients_added=len(report.clients_added),
                clients_changed=len(report.clients_changed),
                members_added=len(report.members_added),
                representatives_set=len(report.representatives_set),
                representatives_unset=len(report.representatives_unset),
            )
            return report


def _changes(session: Session, records: list[ClientRecord]) -> ImportReport:
    """What upserting ``records`` will change, read before it does."""
    added: list[str] = []
    changed: list[str] = []
    members: list[tuple[str, str]] = []
    made: list[tuple[str, str]] = []
    unmade: list[tuple[str, str]] = []
    same = 0
    for record in records:
        client = session.scalar(select(Client).where(Client.name == record.name))
        if client is None:
            added.append(record.name)
            current: dict[str, bool] = {}
        else:
            domains = {d.lower() for d in record.domains}
            if client.desk != record.desk or not domains <= set(client.domains):
                changed.append(record.name)
            current = {
                a.address: bool(m.is_representative)
                for m in client.memberships
                for a in m.requester.addresses
                if a.channel == "email"
            }
        for address, _name, representative in record.members:
            address = address.lower()
            if address not in current:
                members.append((record.name, address))
                if representative:
                    made.append((record.name, address))
            elif current[address] != representative:
                (made if representative else unmade).append((record.name, address))
            else:
                same += 1
    return ImportReport(
        tuple(added), tuple(changed), tuple(members), tuple(made), tuple(unmade), same
    )


__all__ = ["MAX_IMPORT_BYTES", "ClientDesk", "normalise_domains", "normalise_email"]
