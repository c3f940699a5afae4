"""`triage notice send|list`: notices of a planned change to clients' designated
representatives (terms clause 23), thin over the desk service."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

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

MAX_TEXT_FILE = 100_000  # bytes of --text-file read; the desk service allows 20 000 characters


@click.group()
def notice() -> None:
    """Notices of a planned change to clients' designated representatives (clause 23)."""


def _key(desk: str, clients: list[str], change_at: str, subject: str, text: str) -> str:
    """The same command run twice is one notice: its key is what it sends."""
    parts = "\0".join([desk, ",".join(sorted(clients)), change_at, subject, text])
    return "cli-" + hashlib.sha256(parts.encode()).hexdigest()[:40]


@notice.command("send")
@click.option("--desk", required=True, help="The desk whose calendar and clients it concerns.")
@click.option("--clients", required=True, help="Client names, comma-separated.")
@click.option(
    "--change-at",
    required=True,
    help="When the change takes effect, ISO 8601 (no offset: the desk's local time); at "
    "least five business days ahead.",
)
@click.option("--subject", required=True, help="The notice's subject.")
@click.option(
    "--text-file",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The notice's text (UTF-8).",
)
@staff_option()
@pass_ctx
def send(
    ctx: Context,
    desk: str,
    clients: str,
    change_at: str,
    subject: str,
    text_file: Path,
    staff: str,
) -> None:
    """Send a notice to every designated representative of the clients: email and linked
    chats, through the outbox. Running the same command again sends nothing twice."""
    try:
        when = dt.datetime.fromisoformat(change_at)
    except ValueError:
        raise click.BadParameter(
            f"{change_at!r} is not ISO 8601", param_hint="--change-at"
        ) from None
    with text_file.open("rb") as handle:
        data = handle.read(MAX_TEXT_FILE + 1)
    if len(data) > MAX_TEXT_FILE:
        raise click.BadParameter(f"more than {MAX_TEXT_FILE} bytes", param_hint="--text-file")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise click.BadParameter("not UTF-8 text", param_hint="--text-file") from None
    names = [c.strip() for c in clients.split(",") if c.strip()]
    with desk_errors():
        sent = desk_service(ctx).send_notice(
            desk, names, when, subject, text, staff, _key(desk, names, change_at, subject, text)
        )
    found = sent.notice
    verb = "sent" if sent.created else "was sent already, nothing queued again:"
    err.print(
        f"notice #{found.id} {verb} {len(found.recipients)} recipient(s), change at "
        f"{found.change_at:%Y-%m-%d %H:%M %Z}"
    )
    out.print(str(found.id))


@notice.command("list")
@click.option("--desk", default=None, help="Only this desk's notices.")
@pass_ctx
def list_(ctx: Context, desk: str | None) -> None:
    """Sent notices, newest first, with their recipients and each one's delivery state."""
    with desk_errors():
        found = desk_service(ctx).notices(desk)
    table = Table("id", "desk", "change at (local)", "subject", "clients", "recipient", "state")
    for one in found:
        rows = one.recipients or ()
        first = True
        for recipient in rows or [None]:
            table.add_row(
                str(one.id) if first else "",
                one.desk if first else "",
                f"{one.change_at:%Y-%m-%d %H:%M}" if first else "",
                safe_text(one.subject) if first else "",
                safe_text(", ".join(one.clients)) if first else "",
                f"{recipient.channel}:{safe_text(recipient.address)}" if recipient else "-",
                recipient.delivery if recipient else "",
            )
            first = False
    out.print(table)
