"""`triage decide|reply|resolve` and `triage outbox list`: staff actions from the shell."""

from __future__ import annotations

import getpass
import os

import click
from rich.table import Table

from triage_desk.cli_support import Context, err, out, pass_ctx, safe_text, visible


def _staff_default() -> str:
    return os.environ.get("TRIAGE_STAFF") or getpass.getuser()


def _actions(ctx: Context):  # type: ignore[no-untyped-def]
    from triage_desk.app import build_staff_actions

    return build_staff_actions(ctx.config)


def _run(action) -> None:  # type: ignore[no-untyped-def]
    from triage_desk.responders.staff_actions import ActionError

    try:
        result = action()
    except ActionError as exc:
        # The reason an address bounces quotes the bounce's subject: mail-controlled.
        raise click.ClickException(visible(exc)) from None
    out.print(safe_text(result.message), highlight=False)


staff_option = click.option(
    "--staff",
    default=_staff_default,
    show_default="$TRIAGE_STAFF or your login",
    help="Who is acting (recorded with the decision).",
)


@click.command()
@click.argument("ticket")
@click.option("--confirm", is_flag=True, help="Agree with the category (overrides a refusal).")
@click.option("--category", default=None, help="Move the ticket to this category.")
@click.option("--feedback-type", default=None, help="Set the feedback type.")
@click.option("--reason", default=None, help="Why (required with --category; sent to the user).")
@staff_option
@pass_ctx
def decide(
    ctx: Context,
    ticket: str,
    confirm: bool,
    category: str | None,
    feedback_type: str | None,
    reason: str | None,
    staff: str,
) -> None:
    """Confirm or change TICKET's category and feedback type."""
    if not (confirm or category or feedback_type):
        raise click.UsageError("say --confirm, --category C --reason TEXT, or --feedback-type F")
    if confirm and category:
        raise click.UsageError("--confirm and --category exclude each other")
    actions = _actions(ctx)
    if feedback_type:
        _run(lambda: actions.change_feedback_type(ticket, feedback_type, staff, reason))
    if confirm:
        _run(lambda: actions.confirm(ticket, staff, reason))
    if category:
        _run(lambda: actions.change_category(ticket, category, reason or "", staff))


@click.command()
@click.argument("ticket")
@click.option("--text", required=True, help="The reply; use - to read it from stdin.")
@click.option("--force", is_flag=True, help="Send even if the address is known to bounce.")
@staff_option
@pass_ctx
def reply(ctx: Context, ticket: str, text: str, force: bool, staff: str) -> None:
    """Send a staff reply to TICKET's requester through the ticket's channel."""
    if text == "-":
        text = click.get_text_stream("stdin").read()
    actions = _actions(ctx)
    _run(lambda: actions.reply(ticket, text, staff, force=force))


@click.command()
@click.argument("ticket")
@click.option("--note", default=None, help="An internal note for the audit log.")
@click.option("--force", is_flag=True, help="Send the notice even if the address bounces.")
@staff_option
@pass_ctx
def resolve(ctx: Context, ticket: str, note: str | None, force: bool, staff: str) -> None:
    """Mark TICKET resolved and send the resolution notice with the survey link."""
    actions = _actions(ctx)
    _run(lambda: actions.resolve(ticket, staff, note, force=force))


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
