"""The `triage` command line: one entry point for the service, the model and the data."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from triage_desk.config import Config, ConfigError, load_config

err = Console(stderr=True)
# Piped output (scripts, CI logs) gets a wide table instead of rich's 80-column default.
out = Console() if Console().is_terminal else Console(width=200)


def _default_config() -> str:
    if os.environ.get("TRIAGE_CONFIG"):
        return os.environ["TRIAGE_CONFIG"]
    return "config.toml" if Path("config.toml").exists() else "config.example.toml"


class Context:
    def __init__(self, config_path: str) -> None:
        self.config_path = config_path
        self._config: Config | None = None

    @property
    def config(self) -> Config:
        if self._config is None:
            try:
                self._config = load_config(self.config_path)
            except ConfigError as exc:
                err.print(f"[red]configuration error[/red]\n{exc}", highlight=False)
                raise SystemExit(2) from None
        return self._config


pass_ctx = click.make_pass_decorator(Context)


@click.group()
@click.option(
    "--config", "config_path", default=_default_config, show_default="config.toml, else "
    "config.example.toml (or $TRIAGE_CONFIG)", help="Configuration file (TOML).",
)
@click.option("-v", "--verbose", is_flag=True, help="Log more.")
@click.pass_context
def main(click_ctx: click.Context, config_path: str, verbose: bool) -> None:
    """Triage Desk: email and chat intake with automatic triage and business-hours SLAs."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # Alembic narrates every migration step at INFO; only its warnings matter here.
    logging.getLogger("alembic").setLevel(logging.DEBUG if verbose else logging.WARNING)
    # aiosmtpd logs every SMTP command at INFO under "mail.log".
    logging.getLogger("mail.log").setLevel(logging.DEBUG if verbose else logging.WARNING)
    click_ctx.obj = Context(config_path)


# --------------------------------------------------------------------------- service


@main.command()
@pass_ctx
def run(ctx: Context) -> None:
    """Run all configured listeners, the dispatcher and the scheduler."""
    from triage_desk.app import build_app
    from triage_desk.service import serve

    app = build_app(ctx.config)
    listener = ctx.config.smtp_listener
    err.print(
        f"Triage Desk running: SMTP {listener.host}:{listener.port}, database "
        f"{app.engine.url.render_as_string(hide_password=True)}, model "
        f"{app.classifier.version}. Ctrl+C stops."
    )
    asyncio.run(serve(app))


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
@click.option("--received", required=True,
              help="ISO-8601 time; without an offset it is the desk's local time.")
@pass_ctx
def due(ctx: Context, desk: str, category: str, received: str) -> None:
    """Print clock start, response due and resolution due as JSON."""
    from triage_desk.desks import Desks
    from triage_desk.sla import due_times, parse_instant

    desks = Desks(ctx.config)
    if desk not in desks.by_name:
        raise click.BadParameter(f"unknown desk {desk!r}; use one of {sorted(desks.by_name)}",
                                 param_hint="--desk")
    chosen = desks[desk]
    if category not in chosen.config.categories:
        raise click.BadParameter(
            f"desk {desk!r} has no category {category!r}; use one of "
            f"{sorted(chosen.config.categories)}", param_hint="--category")
    try:
        instant = parse_instant(received, chosen.calendar.zone)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--received") from None
    result = due_times(chosen.calendar, chosen.config.categories[category], instant)
    click.echo(json.dumps(result.as_json(chosen.calendar.zone)))


# --------------------------------------------------------------------------- classifier


@main.command()
@click.option("--if-missing", is_flag=True, help="Only train when no model is active.")
@pass_ctx
def train(ctx: Context, if_missing: bool) -> None:
    """Train a model version on the bundled data and activate it."""
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from triage_desk.app import train_and_save
    from triage_desk.classifier.store import ModelStore

    store = ModelStore(ctx.config.service.models_dir)
    if if_missing and store.active_version():
        err.print(f"model {store.active_version()} is active; not training")
        return
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                  console=err, transient=True) as progress:
        task = progress.add_task("loading data")
        version = train_and_save(store, lambda m: progress.update(task, description=m))
    meta = store.load(version)[1]
    err.print(
        f"model {version} active: category macro-F1 {meta.get('category_macro_f1')}, "
        f"feedback macro-F1 {meta.get('feedback_macro_f1')} on {meta.get('dev_size')} dev "
        f"examples; trained in {meta.get('training_seconds')} s"
    )


@main.group()
def model() -> None:
    """Model versions."""


@model.command("list")
@pass_ctx
def model_list(ctx: Context) -> None:
    """List model versions with their dev-split figures."""
    from triage_desk.classifier.store import ModelStore

    table = Table("", "version", "trained on", "category F1", "feedback F1", "auto-accept")
    for version in ModelStore(ctx.config.service.models_dir).list():
        meta = version.meta
        table.add_row(
            "*" if version.active else "", version.version, str(meta.get("train_size")),
            str(meta.get("category_macro_f1")), str(meta.get("feedback_macro_f1")),
            f"{meta.get('auto_accept_precision')} @ {meta.get('auto_accept_coverage')}",
        )
    out.print(table)


@model.command("activate")
@click.argument("version")
@pass_ctx
def model_activate(ctx: Context, version: str) -> None:
    """Make VERSION the model the service uses."""
    from triage_desk.classifier.store import ModelNotFound, ModelStore

    try:
        ModelStore(ctx.config.service.models_dir).activate(version)
    except ModelNotFound as exc:
        raise click.ClickException(str(exc)) from None
    err.print(f"model {version} is active")


def _classify_rows(ctx: Context, jsonl: bool) -> list[dict[str, Any]]:
    """Read stdin: JSON Lines, or a single RFC 822 email."""
    if jsonl:
        rows = []
        for number, line in enumerate(sys.stdin, 1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise click.ClickException(f"stdin line {number} is not JSON: {exc}") from None
        return rows
    from triage_desk.intake.email_parse import inbound_from_email

    raw = sys.stdin.buffer.read()
    desks_by_address = {a: n for n, d in ctx.config.desks.items() for a in d.addresses}
    inbound = inbound_from_email(raw, ctx.config.service.default_desk)
    desk = next((desks_by_address[r] for r in inbound.recipients if r in desks_by_address),
                ctx.config.service.default_desk)
    date = inbound.headers.get("Date")
    return [{"subject": inbound.subject, "body": inbound.new_text, "channel": "email",
             "sender": inbound.sender, "desk": desk, "received_at": date or None,
             "_email_date": True}]


@main.command()
@click.option("--jsonl", is_flag=True, help="stdin is JSON Lines instead of one RFC 822 email.")
@pass_ctx
def classify(ctx: Context, jsonl: bool) -> None:
    """Classify messages from stdin; one JSON result per message on stdout."""
    from email.utils import parsedate_to_datetime

    from triage_desk.app import load_classifier
    from triage_desk.classifier.predict import ClassifierInput
    from triage_desk.desks import Desks
    from triage_desk.sla import due_times, parse_instant

    config = ctx.config
    desks = Desks(config)
    classifier = load_classifier(config.service.models_dir)
    rows = _classify_rows(ctx, jsonl)
    inputs, chosen = [], []
    for number, row in enumerate(rows, 1):
        desk_name = row.get("desk") or config.service.default_desk
        if desk_name not in desks.by_name:
            raise click.ClickException(
                f"message {number}: unknown desk {desk_name!r}; use one of "
                f"{sorted(desks.by_name)}")
        desk = desks[desk_name]
        chosen.append(desk)
        inputs.append(ClassifierInput(
            subject=str(row.get("subject") or ""), body=str(row.get("body") or ""),
            allowed_categories=desk.categories,
            default_language=desk.config.default_language))
    predictions = classifier.classify_many(inputs)
    from triage_desk.intake.pipeline import choose_labels

    for number, (row, desk, prediction) in enumerate(
            zip(rows, chosen, predictions, strict=True), 1):
        received_text = row.get("received_at")
        try:
            if not received_text:
                received = dt.datetime.now(dt.UTC)
            elif row.get("_email_date"):
                received = parsedate_to_datetime(received_text).astimezone(dt.UTC)
            else:
                received = parse_instant(str(received_text), desk.calendar.zone)
        except (ValueError, TypeError) as exc:
            raise click.ClickException(f"message {number}: bad received_at: {exc}") from None
        category, feedback = choose_labels(desk, prediction)
        times = due_times(desk.calendar, desk.config.categories[category], received)
        result = {
            "category": category,
            "feedback_type": feedback,
            "confidence": prediction.confidence,
            "category_confidence": prediction.category_confidence,
            "feedback_confidence": prediction.feedback_confidence,
            "auto_accept": prediction.auto_accept,
            "language": prediction.language,
            "desk": desk.name,
            **times.as_json(desk.calendar.zone),
            "model_version": prediction.model_version,
        }
        click.echo(json.dumps(result, ensure_ascii=False))


# --------------------------------------------------------------------------- tickets


@main.command()
@click.option("--desk", default=None, help="Only this desk.")
@click.option("--status", default=None, help="Only this status (queued, open, ...).")
@click.option("--limit", default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="JSON Lines instead of a table.")
@pass_ctx
def tickets(ctx: Context, desk: str | None, status: str | None, limit: int,
            as_json: bool) -> None:
    """List tickets, newest first, with times in each desk's zone."""
    from triage_desk.desks import Desks
    from triage_desk.storage import repositories as repo
    from triage_desk.storage.db import make_engine, make_session_factory

    desks = Desks(ctx.config)
    sessions = make_session_factory(make_engine(ctx.config.database_url()))
    table = Table("number", "status", "category", "feedback", "conf.", "from", "subject",
                  "received", "response due")
    with sessions() as session:
        for ticket in repo.list_tickets(session, desk, status, limit):
            zone = desks[ticket.desk].calendar.zone if ticket.desk in desks.by_name else dt.UTC

            def local(instant: dt.datetime | None, zone: Any = zone) -> str:
                return instant.astimezone(zone).isoformat(timespec="minutes") if instant else "—"

            suggestion = ticket.suggestions[0] if ticket.suggestions else None
            address = ticket.requester.addresses[0].address if ticket.requester.addresses else ""
            if as_json:
                click.echo(json.dumps({
                    "number": ticket.number, "desk": ticket.desk, "status": ticket.status,
                    "category": ticket.category, "feedback_type": ticket.feedback_type,
                    "from": address, "subject": ticket.subject,
                    "received_at": local(ticket.received_at),
                    "clock_start": local(ticket.clock_start),
                    "response_due": local(ticket.response_due),
                    "resolution_due": local(ticket.resolution_due),
                }, ensure_ascii=False))
                continue
            table.add_row(
                ticket.number, ticket.status, ticket.category, ticket.feedback_type,
                f"{suggestion.confidence:.2f}" if suggestion else "", address,
                ticket.subject[:40], local(ticket.received_at), local(ticket.response_due),
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


if __name__ == "__main__":  # pragma: no cover
    main()
