"""Clients (institutions) and their designated representatives (terms clauses 12 and 28)."""

from __future__ import annotations

import csv
from collections.abc import Collection, Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from triage_desk.storage import repositories as repo
from triage_desk.storage.models import Client, Membership, RequesterAddress

CSV_COLUMNS = ("client", "desk", "domain", "address", "name", "representative")
_TRUE = {"1", "yes", "true", "jā", "ja", "да", "y"}
_FALSE = {"", "0", "no", "false", "nē", "ne", "нет", "n"}


@dataclass(frozen=True)
class ClientRecord:
    name: str
    desk: str
    domains: tuple[str, ...] = ()
    # (address, display name, is representative)
    members: tuple[tuple[str, str | None, bool], ...] = ()


@dataclass(frozen=True)
class Standing:
    """Who a sender is to us: their client, and whether they may submit every category."""

    client: Client | None
    is_representative: bool


def upsert_clients(session: Session, records: Iterable[ClientRecord]) -> tuple[int, int]:
    """Create or update clients and memberships; returns (clients, members) touched."""
    clients = members = 0
    for record in records:
        client = session.scalar(select(Client).where(Client.name == record.name))
        if client is None:
            client = Client(name=record.name, desk=record.desk, domains=[])
            session.add(client)
        client.desk = record.desk
        client.domains = sorted({*client.domains, *(d.lower() for d in record.domains)})
        session.flush()
        clients += 1
        for address, name, representative in record.members:
            requester = repo.get_or_create_requester(session, "email", address.lower(), name)
            membership = session.get(Membership, (requester.id, client.id))
            if membership is None:
                membership = Membership(requester_id=requester.id, client_id=client.id)
                session.add(membership)
            membership.is_representative = representative
            if name:
                membership.display_name = name
            members += 1
    session.flush()
    return clients, members


def parse_clients_csv(
    lines: Iterable[str], source: str, desks: Collection[str] | None = None
) -> list[ClientRecord]:
    """Rows of client,desk,domain,address,name,representative (one client may span rows);
    ``source`` names them in errors. Raises ValueError naming the line and column of the first
    problem; with ``desks``, a row naming another desk is refused with its line number."""
    grouped: dict[str, dict[str, object]] = {}
    reader = csv.DictReader(lines)
    missing = {"client", "desk"} - set(reader.fieldnames or ())
    if missing:
        raise ValueError(
            f"{source}: missing column(s) {sorted(missing)}; expected {', '.join(CSV_COLUMNS)}"
        )
    for row in reader:
        number = reader.line_num  # the row's last physical line (a quoted field may span)
        name = (row.get("client") or "").strip()
        desk = (row.get("desk") or "").strip()
        if not name or not desk:
            raise ValueError(f"{source}:{number}: 'client' and 'desk' must not be empty")
        if desks is not None and desk not in desks:
            raise ValueError(
                f"{source}:{number}: unknown desk {desk!r}; configured desks: {sorted(desks)}"
            )
        entry = grouped.setdefault(name, {"desk": desk, "domains": set(), "members": []})
        if entry["desk"] != desk:
            raise ValueError(f"{source}:{number}: client {name!r} listed under two desks")
        domain = (row.get("domain") or "").strip().lower().lstrip("@")
        if domain:
            entry["domains"].add(domain)  # type: ignore[union-attr]
        address = (row.get("address") or "").strip().lower()
        flag = (row.get("representative") or "").strip().lower()
        if flag not in _TRUE | _FALSE:
            raise ValueError(
                f"{source}:{number}: column 'representative' = {flag!r}; write yes or no"
            )
        if address:
            if "@" not in address:
                raise ValueError(
                    f"{source}:{number}: column 'address' = {address!r} is not an email address"
                )
            entry["members"].append(  # type: ignore[union-attr]
                (address, (row.get("name") or "").strip() or None, flag in _TRUE)
            )
    return [
        ClientRecord(
            name,
            str(e["desk"]),
            tuple(sorted(e["domains"])),  # type: ignore[arg-type]
            tuple(e["members"]),
        )  # type: ignore[arg-type]
        for name, e in grouped.items()
    ]


def standings(
    session: Session, desk: str, channel: str, addresses: Iterable[str]
) -> dict[str, Standing]:
    """Each sender's client on this desk (by membership, else by mail domain) and rights.

    One query for the senders' memberships and one for the desk's clients, whatever the
    batch size; ``representatives_of`` names a client's representatives when needed.
    """
    wanted = sorted(set(addresses))
    result: dict[str, Standing] = {}
    if not wanted:
        return result
    with session.no_autoflush:
        rows = session.execute(
            select(RequesterAddress.address, Membership.is_representative, Client)
            .join(Membership, Membership.requester_id == RequesterAddress.requester_id)
            .join(Client, Client.id == Membership.client_id)
            .where(
                RequesterAddress.channel == channel,
                RequesterAddress.address.in_(wanted),
                Client.desk == desk,
            )
        ).all()
        by_domain: dict[str, Client] = {}
        for client in session.scalars(select(Client).where(Client.desk == desk)):
            for domain in client.domains:
                by_domain.setdefault(domain, client)
    for address, is_representative, client in rows:
        known = result.get(address)
        if known is None or (is_representative and not known.is_representative):
            result[address] = Standing(client, bool(is_representative))
    for address in wanted:
        if address not in result and "@" in address:
            client = by_domain.get(address.rsplit("@", 1)[1])
            result[address] = Standing(client, False)
        result.setdefault(address, Standing(None, False))
    return result


def representatives_of(client: Client) -> list[str]:
    """'Name <address>' of each designated representative, for a refusal to name them.

    The name is the one configured or imported by staff, else none: never the display name
    of some mail that claimed the address (anyone can write any From header).
    """
    names = []
    for membership in client.memberships:
        if membership.is_representative:
            person = membership.requester
            emails = [a.address for a in person.addresses if a.channel == "email"]
            label = membership.display_name or ""
            if emails:
                label = f"{label} <{emails[0]}>" if label else emails[0]
            if label:
                names.append(label)
    return sorted(names)
