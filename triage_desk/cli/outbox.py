"""`triage outbox list|retry`: outgoing messages, attempts and dead letters."""

from __future__ import annotations

import click
from rich.table import Table

from triage_desk.cli.display import safe_text
from triage_desk.cli.support import (
    Context,
    desk_errors,
    desk_service,
    err,
    out,
    pass_ctx,
    staff_option,
)


@click.group()
def outbox() -> None:
    """Outgoing messages."""


@outbox.command("list")
@click.option(
    "--status",
    type=click.Choice(["pending", "sent", "dead", "suppressed"]),
    default=None,
    help="Only this status (dead letters: --status dead).",
)
@click.option("--limit", default=50, show_default=True)
@pass_ctx
def outbox_list(ctx: Context, status: str | None, limit: int) -> None:
    """Outbox items, newest first, with attempts and the last error."""
    with desk_errors():
        items = desk_service(ctx).outbox(status, limit)
    table = Table("id", "status", "kind", "ticket", "to", "attempts", "created (UTC)", "last error")
    for item in items:
        table.add_row(
            str(item.id),
            item.status,
            item.kind,
            item.ticket_number or "",
            safe_text(item.recipient),
            str(item.attempts),
            f"{item.created_at:%Y-%m-%d %H:%M}",
            safe_text((item.last_error or "")[:60]),
        )
    out.print(table)
    if status == "dead":
        err.print(
            "Dead letters are kept; once the cause is fixed, `triage outbox retry ID` requeues "
            "one (or reply again with `triage reply`).",
            soft_wrap=True,
        )


@outbox.command("retry")
@click.argument("item_id", metavar="ID", type=int)
@click.option("--reason", default=None, help="Why (recorded in the audit log).")
@staff_option()
@pass_ctx
def outbox_retry(ctx: Context, item_id: int, reason: str | None, staff: str) -> None:
    """Requeue dead letter ID: pending again, its attempts counted afresh; the dispatcher
    of `triage run` sends it at its next round."""
    with desk_errors():
        result = desk_service(ctx).requeue_outbox(item_id, staff, reason)
    out.print(safe_text(result.message), highlight=False)
