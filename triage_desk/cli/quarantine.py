"""`triage quarantine list|show|retry|discard`."""

from __future__ import annotations

import sys

import click
from rich.table import Table

from triage_desk.cli.display import safe_text, stdout_is_terminal, visible
from triage_desk.cli.support import (
    Context,
    desk_errors,
    desk_service,
    err,
    out,
    pass_ctx,
    refusal,
    staff_option,
)


@click.group()
def quarantine() -> None:
    """Mail that could not be processed: kept raw with the reason, never dropped."""


@quarantine.command("list")
@click.option("--all", "include_all", is_flag=True, help="Also mail already released or discarded.")
@pass_ctx
def list_(ctx: Context, include_all: bool) -> None:
    """Held mail, oldest first."""
    with desk_errors():
        items = desk_service(ctx).quarantine(include_all)
    table = Table("id", "status", "received (UTC)", "source", "reason", "from", "subject", "detail")
    for item in items:
        table.add_row(
            str(item.id),
            item.status,
            f"{item.received_at:%Y-%m-%d %H:%M}",
            safe_text(item.source),
            safe_text(item.reason),
            safe_text(item.sender[:40]),
            safe_text(item.subject[:50]),
            safe_text(item.detail[:60]),
        )
    out.print(table)


@quarantine.command()
@click.argument("quarantine_id", type=int)
@click.option(
    "--raw",
    "raw_only",
    is_flag=True,
    help="Write only the raw bytes to stdout (for a file or a pipe; refused on a terminal "
    "without --force).",
)
@click.option("--force", is_flag=True, help="With --raw: write the raw bytes even to a terminal.")
@pass_ctx
def show(ctx: Context, quarantine_id: int, raw_only: bool, force: bool) -> None:
    """One held mail: the reason, then the mail.

    On a terminal the mail is shown as text with its control characters escaped (an
    escape sequence in a mail could otherwise clear or retitle the terminal, or hide
    text); into a file or a pipe it is written as the raw bytes received. --raw writes
    only the bytes, and on a terminal only with --force.
    """
    terminal = stdout_is_terminal()
    if raw_only and terminal and not force:
        raise click.UsageError(
            "--raw would write the mail's bytes, escape sequences included, to the terminal; "
            "redirect stdout to a file (> mail.eml), or add --force"
        )
    with desk_errors():
        item = desk_service(ctx).quarantined_mail(quarantine_id)
    raw = item.raw or b""
    if not raw_only:
        discarded = ""
        if item.discarded_at is not None:
            discarded = (
                f"discarded by {item.discarded_by} at {item.discarded_at:%Y-%m-%d %H:%M:%S} "
                f"UTC: {item.discard_reason or 'no reason given'}\n"
            )
        err.print(
            safe_text(
                f"#{item.id} {item.status} from {item.source} at "
                f"{item.received_at:%Y-%m-%d %H:%M:%S} UTC, desk {item.desk}, "
                f"{item.attempts} attempt(s)\nreason: {item.reason}: {item.detail}\n{discarded}",
                multiline=True,
            ),
            highlight=False,
        )
    if raw_only or not terminal:
        sys.stdout.buffer.write(raw)
        sys.stdout.flush()
        return
    # Undecodable bytes are shown as \xNN, never passed through.
    click.echo(visible(raw.decode("utf-8", "backslashreplace"), multiline=True))


@quarantine.command("retry")
@click.argument("quarantine_ids", type=int, nargs=-1, required=True)
@click.option(
    "--time-limit",
    type=float,
    default=None,
    help="Seconds allowed for this retry (default: email.processing_time_limit_seconds).",
)
@staff_option()
@pass_ctx
def retry_(
    ctx: Context, quarantine_ids: tuple[int, ...], time_limit: float | None, staff: str
) -> None:
    """Process held mail again; what succeeds becomes a ticket."""
    from triage_desk.app import build_app, build_desk_service
    from triage_desk.desk_service import Conflict, NotFound

    service = build_desk_service(build_app(ctx.config))
    failed = 0
    with desk_errors():
        for quarantine_id in quarantine_ids:
            try:
                result = service.release_quarantined(quarantine_id, staff, time_limit)
            except (NotFound, Conflict) as exc:  # this one; the others are still tried
                err.print(safe_text(refusal(exc).message), style="red")
                failed += 1
                continue
            failed += result.status != "released"
            out.print(safe_text(result.message))
    if failed:
        raise SystemExit(1)


@quarantine.command("discard")
@click.argument("quarantine_id", metavar="ID", type=int)
@click.option("--reason", default=None, help="Why (kept with the mail and in the audit log).")
@staff_option()
@pass_ctx
def discard(ctx: Context, quarantine_id: int, reason: str | None, staff: str) -> None:
    """Give up on held mail ID: it leaves the list of held mail; its raw bytes are kept,
    with who discarded it, when and why (`quarantine list --all`, `quarantine show`)."""
    with desk_errors():
        result = desk_service(ctx).discard_quarantined(quarantine_id, staff, reason)
    out.print(safe_text(result.message), highlight=False)
