"""`triage quarantine list|show|retry`."""

from __future__ import annotations

import sys

import click
from rich.table import Table

from triage_desk.cli.display import safe_text, stdout_is_terminal, visible
from triage_desk.cli.support import Context, err, out, pass_ctx


@click.group()
def quarantine() -> None:
    """Mail that could not be processed: kept raw with the reason, never dropped."""


def _sessions(ctx: Context):  # type: ignore[no-untyped-def]
    from triage_desk.storage.db import make_engine, make_session_factory

    return make_session_factory(make_engine(ctx.config.database_url()))


@quarantine.command("list")
@click.option("--all", "include_released", is_flag=True, help="Also mail already released.")
@pass_ctx
def list_(ctx: Context, include_released: bool) -> None:
    """Held mail, oldest first."""
    from triage_desk.intake.email_parse import safe_header
    from triage_desk.intake.quarantine import held

    table = Table("id", "status", "received (UTC)", "source", "reason", "from", "subject", "detail")
    with _sessions(ctx)() as session:
        for item in held(session, include_released):
            sender, subject = _headline(item.raw, safe_header)
            table.add_row(
                str(item.id),
                item.status,
                f"{item.received_at:%Y-%m-%d %H:%M}",
                safe_text(item.source),
                safe_text(item.reason),
                safe_text(sender),
                safe_text(subject),
                safe_text(item.detail[:60]),
            )
    out.print(table)


def _headline(raw: bytes, safe_header) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    from triage_desk.intake.email_parse import parse_bytes

    try:
        message = parse_bytes(raw[:65536])
        return safe_header(message, "From")[:40], safe_header(message, "Subject")[:50]
    except Exception:
        return "?", "?"


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
    from triage_desk.storage.models import QuarantinedMail

    terminal = stdout_is_terminal()
    if raw_only and terminal and not force:
        raise click.UsageError(
            "--raw would write the mail's bytes, escape sequences included, to the terminal; "
            "redirect stdout to a file (> mail.eml), or add --force"
        )
    with _sessions(ctx)() as session:
        item = session.get(QuarantinedMail, quarantine_id)
        if item is None:
            raise click.ClickException(f"no quarantined mail #{quarantine_id}")
        if not raw_only:
            err.print(
                safe_text(
                    f"#{item.id} {item.status} from {item.source} at "
                    f"{item.received_at:%Y-%m-%d %H:%M:%S} UTC, desk {item.desk}, "
                    f"{item.attempts} attempt(s)\nreason: {item.reason}: {item.detail}\n",
                    multiline=True,
                ),
                highlight=False,
            )
        if raw_only or not terminal:
            sys.stdout.buffer.write(item.raw)
            sys.stdout.flush()
            return
        # Undecodable bytes are shown as \xNN, never passed through.
        click.echo(visible(item.raw.decode("utf-8", "backslashreplace"), multiline=True))


@quarantine.command("retry")
@click.argument("quarantine_ids", type=int, nargs=-1, required=True)
@click.option(
    "--time-limit",
    type=float,
    default=None,
    help="Seconds allowed for this retry (default: email.processing_time_limit_seconds).",
)
@pass_ctx
def retry_(ctx: Context, quarantine_ids: tuple[int, ...], time_limit: float | None) -> None:
    """Process held mail again; what succeeds becomes a ticket."""
    from triage_desk.app import build_app
    from triage_desk.intake.quarantine import retry

    app = build_app(ctx.config)
    failed = 0
    for quarantine_id in quarantine_ids:
        try:
            result = retry(app.sessions, app.email_intake, quarantine_id, time_limit)
        except LookupError as exc:
            err.print(safe_text(str(exc)), style="red")
            failed += 1
            continue
        if result.released:
            out.print(f"#{quarantine_id} released as {result.ticket_number}")
        else:
            failed += 1
            out.print(safe_text(f"#{quarantine_id} still held: {result.reason}"))
    if failed:
        raise SystemExit(1)
