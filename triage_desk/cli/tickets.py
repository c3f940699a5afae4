"""`triage tickets|decide|reply|resolve`: the work queue and staff actions on a ticket."""

from __future__ import annotations

import datetime as dt
import getpass
import os
from typing import Any

import click
from rich.table import Table

from triage_desk.cli.display import json_line, safe_text, visible
from triage_desk.cli.support import Context, out, pass_ctx


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


@click.command()
@click.option("--desk", default=None, help="Only this desk.")
@click.option(
    "--status",
    default=None,
    help="Only this status: queued, open, refused, answered, resolved, or robot "
    "(automatic mail, not listed otherwise).",
)
@click.option("--limit", default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="JSON Lines instead of a table.")
@pass_ctx
def tickets(ctx: Context, desk: str | None, status: str | None, limit: int, as_json: bool) -> None:
    """List tickets, newest first, with times in each desk's zone.

    Robot mail (auto-replies, mailing lists, bounces) is left out unless --status robot.
    Text from mail (sender, subject) is shown with its control characters escaped.
    """
    from triage_desk.desks import Desks
    from triage_desk.storage import repositories as repo
    from triage_desk.storage.db import make_engine, make_session_factory
    from triage_desk.storage.models import TicketStatus

    desks = Desks(ctx.config)
    if desk is not None and desk not in desks.by_name:
        raise click.BadParameter(
            f"unknown desk {desk!r}; use one of {sorted(desks.by_name)}", param_hint="--desk"
        )
    statuses = [s.value for s in TicketStatus]
    if status is not None and status not in statuses:
        raise click.BadParameter(
            f"unknown status {status!r}; use one of {statuses}", param_hint="--status"
        )
    sessions = make_session_factory(make_engine(ctx.config.database_url()))
    table = Table(
        "number",
        "status",
        "category",
        "feedback",
        "conf.",
        "from",
        "subject",
        "received",
        "response due",
    )
    with sessions() as session:
        found = repo.list_tickets(session, desk, status, limit, exclude=[TicketStatus.ROBOT])
        for ticket in found:
            zone = desks[ticket.desk].calendar.zone if ticket.desk in desks.by_name else dt.UTC

            def local(instant: dt.datetime | None, zone: Any = zone) -> str:
                return instant.astimezone(zone).isoformat(timespec="minutes") if instant else "—"

            suggestion = ticket.suggestions[0] if ticket.suggestions else None
            address = ticket.requester.addresses[0].address if ticket.requester.addresses else ""
            if as_json:
                click.echo(
                    json_line(
                        {
                            "number": ticket.number,
                            "desk": ticket.desk,
                            "status": ticket.status,
                            "category": ticket.category,
                            "feedback_type": ticket.feedback_type,
                            "from": address,
                            "subject": ticket.subject,
                            "received_at": local(ticket.received_at),
                            "clock_start": local(ticket.clock_start),
                            "response_due": local(ticket.response_due),
                            "resolution_due": local(ticket.resolution_due),
                        }
                    )
                )
                continue
            table.add_row(
                ticket.number,
                ticket.status,
                ticket.category,
                ticket.feedback_type,
                f"{suggestion.confidence:.2f}" if suggestion else "",
                safe_text(address),
                safe_text(ticket.subject[:40]),
                local(ticket.received_at),
                local(ticket.response_due),
            )
    if not as_json:
        out.print(table)
