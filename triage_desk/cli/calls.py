"""`triage ticket new --channel phone`: log a phone call (terms clauses 27, 29, 32) through
the desk service; the queue runner of `triage run` makes it a ticket, its due times counted
from the call."""

from __future__ import annotations

import datetime as dt

import click

from triage_desk.cli.display import safe_text, visible
from triage_desk.cli.support import (
    Context,
    DeskRefusal,
    desk_errors,
    desk_service,
    out,
    pass_ctx,
    staff_option,
)
from triage_desk.responders.localtime import format_local


def _call_time(value: str, zone: dt.tzinfo) -> dt.datetime:
    try:
        at = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        raise DeskRefusal(
            f"--at: {value!r} is not an ISO time; write e.g. 2026-12-04T16:30 (the desk's "
            "zone) or 2026-12-04T14:30Z",
            2,
        ) from None
    return at if at.tzinfo is not None else at.replace(tzinfo=zone)


@click.command("new")
@click.option(
    "--channel", type=click.Choice(["phone"]), required=True, help="How the request came."
)
@click.option("--from", "address", required=True, help="The caller's email address.")
@click.option(
    "--at", "at", required=True, help="When the call came: ISO time, the desk's zone if no zone."
)
@click.option("--desk", default=None, help="The desk called (default: service.default_desk).")
@click.option("--subject", default=None, help="A short subject (default: the text's start).")
@click.option("--category", default=None, help="The category you chose (default: the model's).")
@click.option("--text", default=None, help="What was said; read from stdin when left out.")
@staff_option("Who took the call (recorded in the audit log).")
@pass_ctx
def ticket_new(
    ctx: Context,
    channel: str,
    address: str,
    at: str,
    desk: str | None,
    subject: str | None,
    category: str | None,
    text: str | None,
    staff: str,
) -> None:
    """Log a phone call as a request: queued now, numbered by `triage run`'s queue runner,
    with its response due counted from the call's time (out of hours: from the next
    opening). The caller gets the acknowledgement by email."""
    desk = desk or ctx.config.service.default_desk
    service = desk_service(ctx)
    zone = service.zone(desk)
    if text is None:
        text = click.get_text_stream("stdin").read()
    from triage_desk.desk_service import InvalidInput

    with desk_errors():
        try:
            logged = service.log_call(
                desk, address, text, _call_time(at, zone), staff, subject, category
            )
        except InvalidInput as refused:
            if refused.field == "address":  # the option is --from
                raise DeskRefusal(f"--from: {visible(refused.message)}", 2) from None
            raise
    when = format_local(logged.received_at, zone, "en")  # type: ignore[arg-type]
    out.print(
        f"{channel} call from {safe_text(logged.address)} at {when} logged for desk {desk} "
        f"(queued as {logged.external_id}); `triage run` numbers its ticket",
        highlight=False,
    )
