"""`triage outbox list`: outgoing messages, attempts and dead letters."""

from __future__ import annotations

import click
from rich.table import Table

from triage_desk.cli.display import safe_text
from triage_desk.cli.support import Context, err, out, pass_ctx


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
    from sqlalchemy import select

    from triage_desk.storage.db import make_engine, make_session_factory
    from triage_desk.storage.models import OutboxItem, Ticket

    sessions = make_session_factory(make_engine(ctx.config.database_url()))
    table = Table("id", "status", "kind", "ticket", "to", "attempts", "created (UTC)", "last error")
    with sessions() as session:
        query = (
            select(OutboxItem, Ticket.number)
            .outerjoin(Ticket)
            .order_by(OutboxItem.id.desc())
            .limit(limit)
        )
        if status:
            query = query.where(OutboxItem.status == status)
        for item, number in session.execute(query):
            table.add_row(
                str(item.id),
                item.status,
                item.kind,
                number or "",
                safe_text(item.recipient),
                str(item.attempts),
                f"{item.created_at:%Y-%m-%d %H:%M}",
                safe_text((item.last_error or "")[:60]),
            )
    out.print(table)
    if status == "dead":
        err.print(
            "Dead letters are kept; fix the cause and requeue them with your database "
            "tools, or reply again with `triage reply`."
        )
