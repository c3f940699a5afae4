"""`triage run|fetch|refine|demo` and `triage db upgrade`: the service and its data."""

from __future__ import annotations

import json
import logging
import signal
import threading
from typing import Any

import click
from rich.markup import escape

from triage_desk.cli.display import visible
from triage_desk.cli.support import (
    Context,
    err,
    long_lived_start_up,
    out,
    pass_ctx,
    workers_option,
)

log = logging.getLogger(__name__)


@click.command()
@workers_option
@pass_ctx
def run(ctx: Context, workers: int | None) -> None:
    """Run all configured listeners and the runners (dispatcher, scheduler, refiner)."""
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
    import asyncio  # only `run` needs it; every other command's start-up would pay for it

    asyncio.run(serve(app, workers=workers))


@click.command()
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
    done = refine_all(app.sessions, app.desks, app.classifier, clock=app.clock)
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


@click.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@pass_ctx
def db_upgrade(ctx: Context) -> None:
    """Create or migrate the schema to the newest version."""
    from triage_desk.storage.db import upgrade

    upgrade(ctx.config.database_url())
    err.print("database schema is up to date")


@click.command()
@pass_ctx
def demo(ctx: Context) -> None:
    """Run bundled sample messages through the whole pipeline (temporary SQLite, no network)."""
    from triage_desk.demo import run_demo

    run_demo(out, ctx.config)


@click.command()
@click.option(
    "--once",
    is_flag=True,
    help="Pull every waiting mail, process it fully (stored, classified, "
    "acknowledgement queued) and exit.",
)
@click.option(
    "--mailbox",
    "names",
    multiple=True,
    metavar="NAME",
    help="Only this mailbox (repeatable); default: all configured mailboxes.",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON line per mailbox on stdout.")
@workers_option
@pass_ctx
def fetch(
    ctx: Context, once: bool, names: tuple[str, ...], as_json: bool, workers: int | None
) -> None:
    """Read the desks' IMAP mailboxes (IDLE or polling) into tickets.

    Without --once it keeps listening, with reconnects, until Ctrl+C; `triage run` does the
    same next to the SMTP listener and the dispatcher.
    """
    fetching = None
    with long_lived_start_up():
        config = ctx.config
        known = {m.name for d in config.desks.values() for m in d.mailboxes}
        if not known:
            raise click.ClickException(
                "no IMAP mailboxes are configured; add [[desks.<desk>.mailboxes]] with name, "
                "host, username and password_env"
            )
        unknown = sorted(set(names) - known)
        if unknown:
            raise click.BadParameter(
                f"unknown mailbox(es) {unknown}; configured: {sorted(known)}",
                param_hint="--mailbox",
            )
        if once:
            # A child reads the mailboxes into the queue while this process builds the app
            # (intake/email/fetch_child.py); the database must be ready before it writes.
            from triage_desk.intake.email.fetch_child import FetchingChild
            from triage_desk.storage.db import upgrade

            upgrade(config.database_url())
            fetching = FetchingChild.start(config, config.database_url(), names)
        try:
            from triage_desk.app import build_app
            from triage_desk.intake.email.workers import default_processes

            app = build_app(config, migrate=fetching is None)
        except BaseException:
            if fetching is not None:
                fetching.stop()
            raise
    desks = sorted(
        {
            name
            for name, desk in config.desks.items()
            for m in desk.mailboxes
            if not names or m.name in names
        }
    )
    # Forked before any thread starts (the listeners, the IMAP prefetch).
    app.email_intake.start_workers(default_processes() if workers is None else workers, desks)
    try:
        if fetching is not None:
            _report(fetching.store_until_done(app.store_queued), as_json)
        else:
            _listen(app, names)
    finally:
        app.email_intake.close()


def _report(results: list[Any], as_json: bool) -> None:
    """Each mailbox's figures (and --json lines); exit 1 when one failed."""
    failed = False
    for result in results:
        s = result.stats
        rate = s.fetched / result.seconds if result.seconds > 0 else 0.0
        if as_json:
            click.echo(
                json.dumps(
                    {
                        "mailbox": result.mailbox,
                        "desk": result.desk,
                        "fetched": s.fetched,
                        "stored": s.stored,
                        "duplicates": s.duplicates,
                        "quarantined": s.quarantined,
                        "skipped": s.skipped,
                        "marked": s.marked,
                        "seconds": round(result.seconds, 3),
                        "error": result.error,
                    }
                )
            )
        err.print(
            f"mailbox {result.mailbox} → desk {result.desk}: {s.fetched} fetched "
            f"({s.stored} stored, {s.duplicates} duplicates, {s.quarantined} quarantined), "
            f"{s.skipped} skipped, in {result.seconds:.2f} s ({rate:.0f} msg/s)"
            + (f"; [red]FAILED[/red]: {escape(visible(result.error))}" if result.error else ""),
            highlight=False,
        )
        failed = failed or result.error is not None
    if failed:
        raise SystemExit(1)


def _listen(app: Any, names: tuple[str, ...]) -> None:
    from triage_desk.intake.email.imap_listener import listeners_for, stop_imap_listeners
    from triage_desk.intake.queue import InboundQueue
    from triage_desk.runners import RunnerThread

    config = app.config
    # The mailboxes fill the inbound queue; its runner stores the mail behind them.
    storing = RunnerThread(app.queue_runner(), app.clock)
    listeners = [
        listener
        for listener in listeners_for(config, InboundQueue(app.sessions, app.clock), storing.wake)
        if not names or listener.mailbox.name in names
    ]
    storing.start()
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    for listener in listeners:
        listener.start()
    err.print(f"listening to {len(listeners)} mailbox(es); Ctrl+C stops")
    while not done.wait(1.0):
        pass
    stop_imap_listeners(listeners)
    storing.stop()
