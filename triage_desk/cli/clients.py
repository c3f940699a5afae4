"""`triage clients import|list`: institutions and their designated representatives."""

from __future__ import annotations

from pathlib import Path

import click
from rich.table import Table

from triage_desk.cli.support import Context, err, out, pass_ctx


@click.group()
def clients() -> None:
    """Clients and designated representatives (terms clauses 12 and 28)."""


@clients.command("import")
@click.argument("csv_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@pass_ctx
def import_(ctx: Context, csv_file: Path) -> None:
    """Load CSV_FILE with columns client,desk,domain,address,name,representative."""
    from triage_desk.storage.clients import read_clients_csv, upsert_clients
    from triage_desk.storage.db import make_engine, make_session_factory, upgrade

    try:
        records = read_clients_csv(csv_file)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    unknown = sorted({r.desk for r in records} - set(ctx.config.desks))
    if unknown:
        raise click.ClickException(
            f"{csv_file}: unknown desk(s) {unknown}; configured desks: {sorted(ctx.config.desks)}"
        )
    upgrade(ctx.config.database_url())
    sessions = make_session_factory(make_engine(ctx.config.database_url()))
    with sessions.begin() as session:
        count, members = upsert_clients(session, records)
    err.print(f"imported {count} client(s) with {members} member(s) from {csv_file}")


@clients.command("list")
@pass_ctx
def list_(ctx: Context) -> None:
    """Clients with their domains and designated representatives."""
    from sqlalchemy import select

    from triage_desk.storage.db import make_engine, make_session_factory
    from triage_desk.storage.models import Client

    sessions = make_session_factory(make_engine(ctx.config.database_url()))
    table = Table("client", "desk", "domains", "representatives", "other members")
    with sessions() as session:
        for client in session.scalars(select(Client).order_by(Client.desk, Client.name)):
            reps, others = [], []
            for membership in client.memberships:
                addresses = ", ".join(a.address for a in membership.requester.addresses)
                (reps if membership.is_representative else others).append(addresses)
            table.add_row(
                client.name,
                client.desk,
                ", ".join(client.domains),
                "\n".join(sorted(reps)),
                str(len(others)),
            )
    out.print(table)
