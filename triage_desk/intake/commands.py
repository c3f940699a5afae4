"""`triage fetch`: the configured IMAP mailboxes, once or for as long as it runs."""

from __future__ import annotations

import json
import logging
import signal
import threading
from typing import Any

import click
from rich.markup import escape

from triage_desk.cli_support import (
    Context,
    err,
    long_lived_start_up,
    pass_ctx,
    visible,
    workers_option,
)

log = logging.getLogger(__name__)


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
    with long_lived_start_up():
        from triage_desk.app import build_app
        from triage_desk.intake.imap_listener import fetch_once  # noqa: F401  (at start-up)
        from triage_desk.intake.workers import default_processes

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
        app = build_app(config)
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
        _fetch(app, once, names, as_json)
    finally:
        app.email_intake.close()


def _fetch(app: Any, once: bool, names: tuple[str, ...], as_json: bool) -> None:
    from triage_desk.intake.imap_listener import fetch_once, listeners_for, stop_imap_listeners

    config = app.config
    if once:
        results = fetch_once(config, app.email_intake, app.sessions, names=names, clock=app.clock)
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
        return

    listeners = [
        listener
        for listener in listeners_for(config, app.email_intake, app.sessions)
        if not names or listener.mailbox.name in names
    ]
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    for listener in listeners:
        listener.start()
    err.print(f"listening to {len(listeners)} mailbox(es); Ctrl+C stops")
    while not done.wait(1.0):
        pass
    stop_imap_listeners(listeners)
