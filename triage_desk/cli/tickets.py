"""`triage tickets`, `triage ticket show` and the staff actions on a ticket: `decide`,
`reply`, `resolve`, `reopen`. All through the desk service."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click
from rich.table import Table
from rich.text import Text

from triage_desk.cli.display import json_line, safe_text, visible
from triage_desk.cli.support import Context, desk_errors, desk_service, out, pass_ctx, staff_option

if TYPE_CHECKING:
    from triage_desk.desk_service.results import ActionResult, TicketDetail, TicketSummary


def _act(action: Callable[[], ActionResult]) -> None:
    with desk_errors():
        result = action()
    out.print(safe_text(result.message), highlight=False)


# --------------------------------------------------------------------------- the work queue

_PART = r"(\d+(?:\.\d+)?)\s*(min|d|h|m)"
_DURATION = re.compile(rf"\s*(?:{_PART}\s*)+", re.IGNORECASE)
_UNITS = {"d": "days", "h": "hours", "m": "minutes", "min": "minutes"}


class Duration(click.ParamType):
    """``90m``, ``2h``, ``1d``, ``1h30m``."""

    name = "duration"

    def convert(self, value: Any, param: Any, ctx: Any) -> dt.timedelta:
        if isinstance(value, dt.timedelta):
            return value
        if not _DURATION.fullmatch(str(value)):
            self.fail(f"{value!r} is no duration; write e.g. 90m, 2h, 1d or 1h30m", param, ctx)
        total = dt.timedelta()
        for amount, unit in re.findall(_PART, str(value), re.IGNORECASE):
            total += dt.timedelta(**{_UNITS[unit.lower()]: float(amount)})
        return total


def _local(instant: dt.datetime | None) -> str:
    """As `triage tickets` always showed it: local minutes, a dash for none."""
    return instant.isoformat(timespec="minutes") if instant else "—"


def _marks(ticket: TicketSummary) -> str:
    marks = (("overdue", ticket.overdue), ("review", ticket.needs_review))
    return " ".join(mark for mark, shown in marks if shown)


@click.command()
@click.option("--desk", default=None, help="Only this desk.")
@click.option(
    "--status",
    default=None,
    help="Only this status: queued, open, refused, answered, resolved, or robot "
    "(automatic mail, not listed otherwise).",
)
@click.option(
    "--overdue",
    is_flag=True,
    help="Only tickets whose response is overdue (due time passed, no first response).",
)
@click.option(
    "--due-within",
    type=Duration(),
    default=None,
    metavar="DURATION",
    help="Only unanswered tickets whose response is due within this time (90m, 2h, 1d), "
    "overdue ones included.",
)
@click.option(
    "--needs-review",
    is_flag=True,
    help="Only tickets whose category staff should check: neither confirmed nor "
    "auto-accepted, or the semantic stage suggested another.",
)
@click.option("--newest", is_flag=True, help="Newest first instead of by response due.")
@click.option("--limit", default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="JSON Lines instead of a table.")
@pass_ctx
def tickets(
    ctx: Context,
    desk: str | None,
    status: str | None,
    overdue: bool,
    due_within: dt.timedelta | None,
    needs_review: bool,
    newest: bool,
    limit: int,
    as_json: bool,
) -> None:
    """List tickets: the work queue, response due first (tickets with none last), times in
    each desk's zone; overdue tickets and those whose category needs review are marked.

    Robot mail (auto-replies, mailing lists, bounces) is left out unless --status robot.
    Text from mail (sender, subject) is shown with its control characters escaped.
    """
    from triage_desk.desk_service import TicketFilter

    wanted = TicketFilter(
        desk=desk,
        status=status,
        overdue=overdue,
        due_within=due_within,
        needs_review=needs_review,
        newest_first=newest,
        limit=limit,
    )
    with desk_errors():
        found = desk_service(ctx).tickets(wanted)
    if as_json:
        for ticket in found:
            click.echo(
                json_line(
                    {
                        "number": ticket.number,
                        "desk": ticket.desk,
                        "status": ticket.status,
                        "category": ticket.category,
                        "feedback_type": ticket.feedback_type,
                        "from": ticket.sender,
                        "subject": ticket.subject,
                        "received_at": _local(ticket.received_at),
                        "clock_start": _local(ticket.clock_start),
                        "response_due": _local(ticket.response_due),
                        "resolution_due": _local(ticket.resolution_due),
                        "overdue": ticket.overdue,
                        "needs_review": ticket.needs_review,
                    }
                )
            )
        return
    table = Table(
        "number",
        "",
        "status",
        "category",
        "feedback",
        "conf.",
        "from",
        "subject",
        "received",
        "response due",
    )
    for ticket in found:
        table.add_row(
            ticket.number,
            _marks(ticket),
            ticket.status,
            ticket.category,
            ticket.feedback_type,
            f"{ticket.confidence:.2f}" if ticket.confidence is not None else "",
            safe_text(ticket.sender),
            safe_text(ticket.subject[:40]),
            _local(ticket.received_at),
            _local(ticket.response_due),
        )
    out.print(table)


# --------------------------------------------------------------------------- one ticket


@click.group()
def ticket() -> None:
    """One ticket."""


@ticket.command("show")
@click.argument("number")
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="One JSON object: number, desk, status, category, feedback_type, response_due, "
    "resolution_due and messages ({direction, channel, sender, text, received_at}), and more.",
)
@pass_ctx
def ticket_show(ctx: Context, number: str, as_json: bool) -> None:
    """Show ticket NUMBER whole: its thread across channels, attachments, suggestions,
    decisions, audit trail and requester. Times are in the desk's zone; text from mail is
    shown with its control characters escaped."""
    with desk_errors():
        detail = desk_service(ctx).ticket(number)
    if as_json:
        click.echo(json_line(ticket_json(detail)))
    else:
        _print_ticket(detail)


def _iso(instant: dt.datetime | None) -> str | None:
    return instant.isoformat(timespec="seconds") if instant else None


def ticket_json(detail: TicketDetail) -> dict[str, Any]:
    """The object scripts read (its first eight keys are promised; the rest may grow)."""
    t = detail.summary
    return {
        "number": t.number,
        "desk": t.desk,
        "status": t.status,
        "category": t.category,
        "feedback_type": t.feedback_type,
        "response_due": _iso(t.response_due),
        "resolution_due": _iso(t.resolution_due),
        "messages": [
            {
                "direction": m.direction,
                "channel": m.channel,
                "sender": m.sender,
                "text": m.text,
                "received_at": _iso(m.received_at),
                "author_kind": m.author_kind,
                "sender_name": m.sender_name,
                "recipients": list(m.recipients),
                "subject": m.subject,
                "outbox_kind": m.outbox_kind,
                "outbox_status": m.outbox_status,
                "attachments": [
                    {
                        "filename": a.filename,
                        "content_type": a.content_type,
                        "size": a.size,
                        "md5": a.md5,
                        "inline": a.inline,
                        "stored": a.stored,
                        "dropped_reason": a.dropped_reason,
                    }
                    for a in m.attachments
                ],
                "edited": bool(m.edits),
                "edits": [
                    {
                        "edited_at": _iso(e.edited_at),
                        "text_before": e.text_before,
                        "text_after": e.text_after,
                    }
                    for e in m.edits
                ],
            }
            for m in detail.messages
        ],
        "channel": detail.channel,
        "language": detail.language,
        "subject": t.subject,
        "urgent": t.urgent,
        "category_confirmed": t.category_confirmed,
        "overdue": t.overdue,
        "needs_review": t.needs_review,
        "received_at": _iso(t.received_at),
        "clock_start": _iso(t.clock_start),
        "first_response_at": _iso(t.first_response_at),
        "resolved_at": _iso(detail.resolved_at),
        "requester": {
            "display_name": detail.requester.display_name,
            "client": detail.requester.client,
            "representative": detail.requester.representative,
            "addresses": [
                {
                    "address": a.address,
                    "channel": a.channel,
                    "undeliverable": a.undeliverable,
                    "undeliverable_reason": a.undeliverable_reason,
                }
                for a in detail.requester.addresses
            ],
        },
        "suggestions": [
            {
                "category": s.category,
                "feedback_type": s.feedback_type,
                "confidence": s.confidence,
                "auto_accept": s.auto_accept,
                "model_version": s.model_version,
                "stage": s.stage,
                "pending_refinement": s.pending_refinement,
                "created_at": _iso(s.created_at),
            }
            for s in detail.suggestions
        ],
        "decisions": [
            {
                "field": d.field,
                "from": d.from_value,
                "to": d.to_value,
                "staff": d.staff,
                "reason": d.reason,
                "created_at": _iso(d.created_at),
            }
            for d in detail.decisions
        ],
        "sla_legs": [
            {
                "leg": leg.leg,
                "round": leg.round,
                "category": leg.category,
                "due_at": _iso(leg.due_at),
                "done_at": _iso(leg.done_at),
                "late": leg.late,
                "late_seconds": int(leg.late_by.total_seconds()) if leg.late_by else None,
            }
            for leg in detail.legs
        ],
        "audit": [
            {"at": _iso(e.at), "actor": e.actor, "action": e.action, "details": dict(e.details)}
            for e in detail.audit
        ],
    }


def _line(*parts: str) -> None:
    """Our words and already escaped values, printed as they are (no markup read)."""
    out.print(Text("".join(parts)), highlight=False)


def _print_ticket(detail: TicketDetail) -> None:
    t, who = detail.summary, detail.requester
    marks = _marks(t)
    _line(f"{t.number}  {t.status}  desk {t.desk}", f"  [{marks}]" if marks else "")
    _line("subject: ", visible(t.subject))
    confirmed = "confirmed" if t.category_confirmed else "not confirmed"
    _line(
        f"category {t.category} ({confirmed}), feedback {t.feedback_type}",
        ", urgent" if t.urgent else "",
        f", language {detail.language}, channel {detail.channel}",
    )
    _line(
        f"received {_local(t.received_at)}, clock start {_local(t.clock_start)}, "
        f"response due {_local(t.response_due)}, resolution due {_local(t.resolution_due)}"
    )
    _line(f"first response {_local(t.first_response_at)}, resolved {_local(detail.resolved_at)}")
    for a in who.addresses:
        bounce = f" (undeliverable: {visible(a.undeliverable_reason)})" if a.undeliverable else ""
        _line("requester: ", visible(a.address), f" [{a.channel}]", bounce)
    if who.display_name:
        _line("name: ", visible(who.display_name))
    if who.client:
        role = "designated representative" if who.representative else "not a representative"
        _line("client: ", visible(who.client), f" ({role})")
    for number, m in enumerate(detail.messages, 1):
        out.print()
        by = m.author_kind + (f", {m.outbox_kind} {m.outbox_status}" if m.outbox_kind else "")
        _line(
            f"── {number}. {m.direction} {m.channel} {_local(m.received_at)} from ",
            visible(m.sender),
            f" ({by})",
        )
        if m.subject:
            _line("subject: ", visible(m.subject))
        for a in m.attachments:
            kept = "" if a.stored else f", not kept: {visible(a.dropped_reason or '')}"
            _line(
                "attachment: ",
                visible(a.filename),
                f" ({visible(a.content_type)}, {a.size} bytes{kept})",
            )
        _line(visible(m.text.rstrip(), multiline=True))
        for e in m.edits:  # the text above is the latest; what it said before each edit
            _line(f"(edited {_local(e.edited_at)}; before: ", visible(e.text_before), ")")
    _print_tables(detail)


def _print_tables(detail: TicketDetail) -> None:
    if detail.suggestions:
        table = Table("at", "stage", "model", "category", "feedback", "conf.", "auto-accept")
        for s in detail.suggestions:
            table.add_row(
                _local(s.created_at),
                s.stage + (" (refinement pending)" if s.pending_refinement else ""),
                s.model_version,
                s.category,
                s.feedback_type,
                f"{s.confidence:.2f}",
                "yes" if s.auto_accept else "no",
                end_section=False,
            )
        out.print(table)
    if detail.decisions:
        table = Table("at", "staff", "field", "from → to", "reason")
        for d in detail.decisions:
            table.add_row(
                _local(d.created_at),
                safe_text(d.staff),
                d.field,
                f"{d.from_value} → {d.to_value}",
                safe_text(d.reason or ""),
            )
        out.print(table)
    if detail.legs:
        table = Table("service level", "round", "category", "due", "met", "late by")
        for leg in detail.legs:
            table.add_row(
                leg.leg,
                str(leg.round),
                leg.category,
                _local(leg.due_at),
                _local(leg.done_at) if leg.done_at else "not yet",
                str(leg.late_by).split(".")[0] if leg.late_by else "",
            )
        out.print(table)
    if detail.audit:
        table = Table("at", "actor", "action", "details")
        for e in detail.audit:
            details = json.dumps(dict(e.details), ensure_ascii=False, default=str)
            table.add_row(_local(e.at), safe_text(e.actor), e.action, safe_text(details))
        out.print(table)


# --------------------------------------------------------------------------- staff actions


@click.command()
@click.argument("ticket")
@click.option("--confirm", is_flag=True, help="Agree with the category (overrides a refusal).")
@click.option("--category", default=None, help="Move the ticket to this category.")
@click.option("--feedback-type", default=None, help="Set the feedback type.")
@click.option("--reason", default=None, help="Why (required with --category; sent to the user).")
@staff_option("Who is acting (recorded with the decision).")
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
    service = desk_service(ctx)
    if feedback_type:
        _act(lambda: service.change_feedback_type(ticket, feedback_type, staff, reason))
    if confirm:
        _act(lambda: service.confirm(ticket, staff, reason))
    if category:
        _act(lambda: service.change_category(ticket, category, reason or "", staff))


@click.command()
@click.argument("ticket")
@click.option("--text", required=True, help="The reply; use - to read it from stdin.")
@click.option(
    "--force", is_flag=True, help="Send even if the address bounces or the chat is unreachable."
)
@staff_option("Who is acting (recorded with the decision).")
@pass_ctx
def reply(ctx: Context, ticket: str, text: str, force: bool, staff: str) -> None:
    """Send a staff reply to TICKET's requester through the ticket's channel."""
    if text == "-":
        text = click.get_text_stream("stdin").read()
    service = desk_service(ctx)
    _act(lambda: service.reply(ticket, text, staff, force=force))


@click.command()
@click.argument("ticket")
@click.option("--note", default=None, help="An internal note for the audit log.")
@click.option(
    "--force",
    is_flag=True,
    help="Send the notice even if the address bounces or the chat is unreachable.",
)
@staff_option("Who is acting (recorded with the decision).")
@pass_ctx
def resolve(ctx: Context, ticket: str, note: str | None, force: bool, staff: str) -> None:
    """Mark TICKET resolved and send the resolution notice with the survey link."""
    service = desk_service(ctx)
    _act(lambda: service.resolve(ticket, staff, note, force=force))


@click.command()
@click.argument("ticket")
@click.option("--reason", default=None, help="Why (recorded in the audit log).")
@staff_option()
@pass_ctx
def reopen(ctx: Context, ticket: str, reason: str | None, staff: str) -> None:
    """Reopen resolved TICKET, as a reply from the person would: open again (queued out of
    hours), its response and resolution targets counted afresh from now. Nothing is sent."""
    service = desk_service(ctx)
    _act(lambda: service.reopen(ticket, staff, reason))


def _add_new() -> None:
    from triage_desk.cli.calls import ticket_new

    ticket.add_command(ticket_new)


_add_new()
