"""`triage address list|clear`: addresses marked undeliverable."""

from __future__ import annotations

import json

import click
from rich.table import Table
from rich.text import Text

from triage_desk.cli.support import (
    Context,
    desk_errors,
    desk_service,
    err,
    out,
    pass_ctx,
    staff_option,
)


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
    with desk_errors():
        rows = desk_service(ctx).undeliverable_addresses()
    table = Table("address", "channel", "marked", "reason")
    for row in rows:
        marked = row.undeliverable_at.isoformat(timespec="minutes") if row.undeliverable_at else ""
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
@click.option("--reason", default=None, help="Why (recorded in the audit log).")
@staff_option()
@pass_ctx
def address_clear(
    ctx: Context, addresses: tuple[str, ...], channel: str, reason: str | None, staff: str
) -> None:
    """Lift the undeliverable mark of ADDRESSES (mail to them works again)."""
    from triage_desk.desk_service import NotFound

    service = desk_service(ctx)
    unknown = []
    with desk_errors():
        for value in addresses:
            try:
                result = service.clear_address(value, staff, channel, reason)
            except NotFound:
                unknown.append(value)
                continue
            err.print(_plain(result.message))
    if unknown:
        raise click.ClickException(
            f"no known {channel} address {', '.join(unknown)}; `triage address list` shows "
            "the marked ones"
        )
