"""The `triage` command line: one entry point for the service, the model and the data."""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any

import click
from rich.table import Table

from triage_desk.cli_support import (
    Context,
    SafeLogFormatter,
    default_config,
    err,
    json_line,
    long_lived_start_up,
    out,
    pass_ctx,
    safe_text,
    workers_option,
)


@click.group()
@click.option(
    "--config",
    "config_path",
    default=default_config,
    show_default="config.toml, else config.example.toml (or $TRIAGE_CONFIG)",
    help="Configuration file (TOML).",
)
@click.option("-v", "--verbose", is_flag=True, help="Log more.")
@click.pass_context
def main(click_ctx: click.Context, config_path: str, verbose: bool) -> None:
    """Triage Desk: email and chat intake with automatic triage and business-hours SLAs."""
    handler = logging.StreamHandler()
    handler.setFormatter(SafeLogFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, handlers=[handler])
    # Alembic narrates every migration step at INFO; only its warnings matter here.
    logging.getLogger("alembic").setLevel(logging.DEBUG if verbose else logging.WARNING)
    # aiosmtpd logs every SMTP command at INFO under "mail.log".
    logging.getLogger("mail.log").setLevel(logging.DEBUG if verbose else logging.WARNING)
    # flufl.bounce reports each detector it tries at INFO.
    logging.getLogger("flufl.bounce").setLevel(logging.DEBUG if verbose else logging.WARNING)
    click_ctx.obj = Context(config_path)


# --------------------------------------------------------------------------- service


@main.command()
@workers_option
@pass_ctx
def run(ctx: Context, workers: int | None) -> None:
    """Run all configured listeners, the dispatcher and the scheduler."""
    with long_lived_start_up():
        from triage_desk.app import build_app
        from triage_desk.service import serve

        app = build_app(ctx.config)
    listener = ctx.config.smtp_listener
    err.print(
        f"Triage Desk running: SMTP {listener.host}:{listener.port}, database "
        f"{app.engine.url.render_as_string(hide_password=True)}, model "
        f"{app.classifier.version}. Ctrl+C stops."
    )
    import asyncio  # only `run` needs it (~50 ms of every other command's start-up)

    asyncio.run(serve(app, workers=workers))


@main.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON line per refined ticket.")
@pass_ctx
def refine(ctx: Context, as_json: bool) -> None:
    """Ask the semantic stage about every suggestion intake stored unsure, then exit.

    `triage run` does this in the background when service.semantic_stage is "deferred";
    this is for a mailbox read by `triage fetch --once` with no service running.
    """
    from triage_desk.app import build_app
    from triage_desk.refiner import refine_all

    app = build_app(ctx.config)
    if not app.classifier.semantic:
        raise click.ClickException(
            'the active model has no semantic stage, or service.semantic_stage is "off"'
        )
    done = refine_all(app.sessions, app.desks, app.classifier)
    changed = 0
    for item in done:
        changed += item.before != item.after
        if as_json:
            out.print_json(
                json.dumps(
                    {
                        "ticket": item.ticket_number,
                        "before": list(item.before),
                        "after": list(item.after),
                        "stage": item.stage,
                        "auto_accepted": item.auto_accepted,
                    }
                )
            )
    err.print(
        f"refined {len(done)} suggestion(s); {changed} differ from the fast stage's "
        "(staff see both; tickets keep their category until staff decide)"
    )


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@pass_ctx
def db_upgrade(ctx: Context) -> None:
    """Create or migrate the schema to the newest version."""
    from triage_desk.storage.db import upgrade

    upgrade(ctx.config.database_url())
    err.print("database schema is up to date")


# --------------------------------------------------------------------------- SLA


@main.command()
@click.option("--desk", required=True, help="Desk name, e.g. municipal.")
@click.option("--category", required=True, help="Category key, e.g. serious_error.")
@click.option(
    "--received",
    required=True,
    help="ISO-8601 time; without an offset it is the desk's local time.",
)
@pass_ctx
def due(ctx: Context, desk: str, category: str, received: str) -> None:
    """Print clock start, response due and resolution due as JSON."""
    from triage_desk.desks import Desks
    from triage_desk.sla import due_times, parse_instant

    desks = Desks(ctx.config)
    if desk not in desks.by_name:
        raise click.BadParameter(
            f"unknown desk {desk!r}; use one of {sorted(desks.by_name)}", param_hint="--desk"
        )
    chosen = desks[desk]
    if category not in chosen.config.categories:
        raise click.BadParameter(
            f"desk {desk!r} has no category {category!r}; use one of "
            f"{sorted(chosen.config.categories)}",
            param_hint="--category",
        )
    try:
        instant = parse_instant(received, chosen.calendar.zone)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--received") from None
    result = due_times(chosen.calendar, chosen.config.categories[category], instant)
    click.echo(json.dumps(result.as_json(chosen.calendar.zone)))


# --------------------------------------------------------------------------- tickets


@main.command()
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


# --------------------------------------------------------------------------- demo


@main.command()
@pass_ctx
def demo(ctx: Context) -> None:
    """Run bundled sample messages through the whole pipeline (temporary SQLite, no network)."""
    from triage_desk.demo import run_demo

    run_demo(out, ctx.config)


def _register_rooms() -> None:
    # Each room of the architecture owns its commands; the group only gathers them.
    from triage_desk.classifier.commands import classify, evaluate_command, model, train
    from triage_desk.intake.commands import fetch
    from triage_desk.intake.quarantine_commands import quarantine
    from triage_desk.responders.commands import decide, outbox, reply, resolve
    from triage_desk.storage.commands import address, clients

    for command in (
        classify,
        model,
        train,
        quarantine,
        fetch,
        decide,
        reply,
        resolve,
        outbox,
        clients,
        address,
    ):
        main.add_command(command)
    main.add_command(evaluate_command)  # `triage eval`


_register_rooms()

if __name__ == "__main__":  # pragma: no cover
    main()
