"""`triage address list|clear`: addresses marked undeliverable."""

from __future__ import annotations

import getpass
import os

import click
from rich.table import Table
from rich.text import Text

from triage_desk.cli.support import Context, err, out, pass_ctx


def _plain(value: object) -> Text:
    """Text printed as it is: no markup, no control characters (addresses come from mail)."""
    return Text("".join("?" if ord(c) < 32 or 127 <= ord(c) < 160 else c for c in str(value)))


@click.group()
def address() -> None:
    """Addresses marked undeliverable by a bounce of our own mail."""


@address.command("list")
@click.option("--json", "as_json", is_flag=True, help="JSON Lines instead of a table.")
@pass_ctx
def address_list(ctx: Context, as_json: bool) -> None:
    """Addresses that bounce: no acknowledgement goes to them, staff replies need --force."""
    import json

    from triage_desk.storage import repositories as repo
    from triage_desk.storage.db import make_engine, make_session_factory, upgrade

    upgrade(ctx.config.database_url())
    sessions = make_session_factory(make_engine(ctx.config.database_url()))
    table = Table("address", "channel", "marked", "reason")
    with sessions() as session:
        for row in repo.undeliverable_addresses(session):
            marked = (
                row.undeliverable_at.isoformat(timespec="minutes") if row.undeliverable_at else ""
            )
            if as_json:
                click.echo(
                    json.dumps(
                        {
                            "address": row.address,
                            "channel": row.channel,
                            "marked_at": marked or None,
                            "reason": row.undeliverable_reason,
                        },
                        ensure_ascii=False,
                    )
                )
                continue
            table.add_row(
                _plain(row.address),
                _plain(row.channel),
                marked,
                _plain(row.undeliverable_reason or ""),
            )
    if not as_json:
        out.print(table)


@address.command("clear")
@click.argument("addresses", nargs=-1, required=True)
@click.option("--channel", default="email", show_default=True)
@click.option(
    "--staff",
    default=lambda: os.environ.get("TRIAGE_STAFF") or getpass.getuser(),
    show_default="$TRIAGE_STAFF or your login",
    help="Who is acting (recorded in the audit log).",
)
@pass_ctx
def address_clear(ctx: Context, addresses: tuple[str, ...], channel: str, staff: str) -> None:
    """Lift the undeliverable mark of ADDRESSES (mail to them works again)."""
    from triage_desk.storage import repositories as repo
    from triage_desk.storage.db import make_engine, make_session_factory, upgrade

    upgrade(ctx.config.database_url())
    sessions = make_session_factory(make_engine(ctx.config.database_url()))
    unknown = []
    with sessions.begin() as session:
        for value in addresses:
            row = repo.clear_undeliverable(session, channel, value)
            if row is None:
                unknown.append(value)
                continue
            repo.audit(session, staff, "undeliverable_cleared", address=row.address)
            err.print(_plain(f"{row.address}: mark cleared; mail goes to it again"))
    if unknown:
        raise click.ClickException(
            f"no known {channel} address {', '.join(unknown)}; `triage address list` shows "
            "the marked ones"
        )
