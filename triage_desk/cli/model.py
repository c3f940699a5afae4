"""`triage train`, `triage model …`, `triage classify`: the classifier's commands."""

from __future__ import annotations

import datetime as dt
import json
import sys
from typing import Any

import click
from rich.table import Table

from triage_desk.cli.display import json_line, safe_text
from triage_desk.cli.support import Context, err, out, pass_ctx
from triage_desk.clock import system_clock


@click.command()
@click.option("--if-missing", is_flag=True, help="Only train when no model is active.")
@click.option(
    "--with-decisions",
    is_flag=True,
    help="Add staff decisions from the database as labelled examples; activate the "
    "new version only if it is not worse on the dev split.",
)
@pass_ctx
def train(ctx: Context, if_missing: bool, with_decisions: bool) -> None:
    """Train a model version on the bundled data (and staff decisions) and activate it."""
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from triage_desk.classifier.data import load_examples
    from triage_desk.classifier.store import ModelStore
    from triage_desk.classifier.versions import train_version

    store = ModelStore(ctx.config.service.models_dir)
    active = store.active_version()
    if if_missing and active:
        why = store.unusable_reason(active)
        if why is None:
            err.print(f"model {active} is active; not training")
            return
        # e.g. after an upgrade that changed the model format: `make run` must not start
        # a service whose model it cannot read.
        err.print(f"the active model cannot be used ({why}); training a new one")
    examples = load_examples()
    extra = []
    if with_decisions:
        from triage_desk.classifier.decisions import decision_examples

        extra, skipped = decision_examples(
            ctx.config.database_url(),
            {e.category for e in examples},
            {e.feedback_type for e in examples},
        )
        err.print(
            f"{len(extra)} staff decisions become training examples"
            + (f" ({skipped} skipped: no message or an unknown label)" if skipped else "")
        )
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    ) as progress:
        task = progress.add_task("loading data")
        outcome = train_version(
            store,
            examples,
            extra,
            compare=with_decisions,
            say=lambda m: progress.update(task, description=m),
            # With the semantic stage off the service never asks that head: not trained.
            semantic=ctx.config.service.semantic_stage != "off",
        )
    meta = outcome.meta
    err.print(
        f"model {outcome.version}: category macro-F1 {meta.get('category_macro_f1')}, "
        f"feedback macro-F1 {meta.get('feedback_macro_f1')}, auto-accept "
        f"{meta.get('auto_accept_precision')} precision at {meta.get('auto_accept_coverage')} "
        f"coverage on {meta.get('dev_size')} dev examples; trained in "
        f"{meta.get('training_seconds')} s"
    )
    if outcome.figures:
        _print_comparison(outcome)
    elif with_decisions:
        err.print("no usable active model to compare with")
    if outcome.activated:
        err.print(f"model {outcome.version} is active")
    else:
        worse = ", ".join(
            f"{f.label} {f.change:+.4f} (tolerance {f.tolerance:g})" for f in outcome.worse
        )
        err.print(
            f"[yellow]model {outcome.version} is worse on the dev split ({worse}); "
            f"{store.active_version()} stays active[/yellow] "
            f"('triage model activate {outcome.version}' to use it anyway)"
        )


def _print_comparison(outcome: Any) -> None:
    """The figures that decided whether the new version is activated, with the tolerances."""
    old = outcome.previous
    table = Table(
        "dev split",
        f"new {outcome.version}",
        f"active {old['version']}",
        "change",
        "may be lower by",
        "",
        title="Activated only if no figure is lower than the active model's beyond its tolerance",
        title_justify="left",
    )
    for figure in outcome.figures:
        shown = [
            "—" if value is None else f"{value:.4f}"
            for value in (figure.new, figure.old, figure.change)
        ]
        table.add_row(
            figure.label,
            *shown,
            f"{figure.tolerance:g}",
            "[red]worse[/red]" if figure.worse else "ok",
        )
    err.print(table)


@click.command("eval")
@click.option("--version", default=None, help="Model version (default: the active one).")
@click.option(
    "--png",
    "png_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="Where to write the confusion-matrix PNG (default: the version's folder, confusion.png).",
)
@pass_ctx
def evaluate_command(ctx: Context, version: str | None, png_path: str | None) -> None:
    """Measure a model version on the dev split: per-class precision/recall/F1 per head and
    per language, confusion matrices (text and PNG), auto-accept precision and coverage."""
    from pathlib import Path

    from triage_desk.classifier.data import load_examples
    from triage_desk.classifier.report import confusion_png, print_evaluation
    from triage_desk.classifier.store import ModelNotFound, ModelStore
    from triage_desk.classifier.training import evaluate

    store = ModelStore(ctx.config.service.models_dir)
    try:
        model, meta = store.load(version)
    except ModelNotFound as exc:
        raise click.ClickException(str(exc)) from None
    dev = [e for e in load_examples() if e.split == "dev"]
    with err.status("embedding and classifying the dev split"):
        result = evaluate(model, dev, threshold=float(meta.get("auto_accept_threshold", 1.01)))
    print_evaluation(out, result, meta)
    target = Path(png_path) if png_path else store.root / meta["version"] / "confusion.png"
    confusion_png(result, target, f"Triage Desk model {meta['version']} — dev split")
    out.print(f"confusion matrices written to {target}")


@click.group()
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
            "*" if version.active else "",
            version.version,
            str(meta.get("train_size")),
            str(meta.get("category_macro_f1")),
            str(meta.get("feedback_macro_f1")),
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


class _BadMessage(Exception):
    """One message of ``triage classify`` cannot be classified; the others still are."""


def _classify_rows(ctx: Context, jsonl: bool) -> list[tuple[int, dict[str, Any] | str]]:
    """Read stdin: JSON Lines, or a single RFC 822 email.

    Each message is (its line number, or 1 for a mail; the row, or why it cannot be read).
    """
    if jsonl:
        rows: list[tuple[int, dict[str, Any] | str]] = []
        for number, line in enumerate(sys.stdin, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                rows.append((number, f"not JSON: {exc}"))
                continue
            if not isinstance(row, dict):
                rows.append((number, f"expected a JSON object, got {type(row).__name__}"))
                continue
            rows.append((number, row))
        return rows
    from triage_desk.intake.email.parse import inbound_from_email
    from triage_desk.intake.errors import MailRejected

    raw = sys.stdin.buffer.read()
    try:
        inbound = inbound_from_email(
            raw, ctx.config.service.default_desk, system_clock(), rules=ctx.config.email
        )
    except MailRejected as exc:
        return [(1, f"not an RFC 822 mail: {exc}")]
    desks_by_address = {a: n for n, d in ctx.config.desks.items() for a in d.addresses}
    # Sent to none of the desks' addresses: the desk is inferred from the text.
    desk = next((desks_by_address[r] for r in inbound.recipients if r in desks_by_address), None)
    date = inbound.headers.get("Date")
    return [
        (
            1,
            {
                "subject": inbound.subject,
                "body": inbound.new_text,
                "channel": "email",
                "sender": inbound.sender,
                "desk": desk,
                "received_at": date or None,
                "_email_date": True,
            },
        )
    ]


def _received(row: dict[str, Any], desk: Any) -> dt.datetime:
    from email.utils import parsedate_to_datetime

    from triage_desk.sla import parse_instant

    text = row.get("received_at")
    try:
        if not text:
            return system_clock()
        if row.get("_email_date"):
            return parsedate_to_datetime(str(text)).astimezone(dt.UTC)
        return parse_instant(str(text), desk.calendar.zone)
    except (ValueError, TypeError, OverflowError) as exc:
        raise _BadMessage(f"bad received_at {text!r}: {exc}") from None


def _infer_desks(classifier: Any, desks: Any, rows: list[dict], chosen: list) -> set[int]:
    """Fill in the desk of rows that name none; returns their positions.

    The message is classified over every desk's categories together; a category only one
    desk has (suspension → eparaksts, emergency → municipal) names the desk, anything
    shared (feedback) leaves the default desk. Without this a certificate suspension sent
    without a desk would be forced into a municipal category and missed.
    """
    from triage_desk.classifier.predict import ClassifierInput

    missing = [i for i, desk in enumerate(chosen) if desk is None]
    if not missing:
        return set()
    default = desks.default
    routing = classifier.classify_many(
        [
            ClassifierInput(
                subject=str(rows[i].get("subject") or ""),
                body=str(rows[i].get("body") or ""),
                allowed_categories=None,
                default_language=default.config.default_language,
            )
            for i in missing
        ]
    )
    for index, prediction in zip(missing, routing, strict=True):
        owners = [d for d in desks.by_name.values() if prediction.category in d.categories]
        chosen[index] = owners[0] if len(owners) == 1 else default
    return set(missing)


@click.command()
@click.option("--jsonl", is_flag=True, help="stdin is JSON Lines instead of one RFC 822 email.")
@pass_ctx
def classify(ctx: Context, jsonl: bool) -> None:
    """Classify messages from stdin; one JSON result per message on stdout.

    A message that cannot be classified (not JSON, not a mail, an unknown desk, an
    impossible receipt time) gets {"error": ..., "line": N} on its output line instead;
    the others are still classified, and the exit status is then 1.
    """
    from triage_desk.app import load_classifier
    from triage_desk.desks import Desks

    config = ctx.config
    desks = Desks(config)
    messages = _classify_rows(ctx, jsonl)
    results: dict[int, dict[str, Any]] = {}
    rows: list[dict[str, Any]] = []
    chosen: list[Any] = []
    positions: list[int] = []
    for position, (number, row) in enumerate(messages):
        if isinstance(row, str):
            results[position] = {"error": row, "line": number}
            continue
        desk_name = row.get("desk")
        if desk_name and (not isinstance(desk_name, str) or desk_name not in desks.by_name):
            results[position] = {
                "error": f"unknown desk {desk_name!r}; use one of {sorted(desks.by_name)}",
                "line": number,
            }
            continue
        rows.append(row)
        chosen.append(desks[desk_name] if desk_name else None)
        positions.append(position)
    if rows:
        classifier = load_classifier(
            config.service.models_dir, max_input_chars=config.classifier.max_input_chars
        )
        for position, result in zip(
            positions, _classified(classifier, desks, rows, chosen), strict=True
        ):
            if "error" in result:
                result["line"] = messages[position][0]
            results[position] = result
    failed = 0
    for position in range(len(messages)):
        result = results[position]
        if "error" in result:
            failed += 1
            where = f"line {result['line']}: " if jsonl else ""
            err.print(safe_text(where + result["error"]), highlight=False)
            if not jsonl:
                del result["line"]  # one mail: there are no lines to point at
        click.echo(json_line(result))
    if failed:
        err.print(f"{failed} of {len(messages)} message(s) could not be classified")
        raise SystemExit(1)


def _classified(
    classifier: Any, desks: Any, rows: list[dict[str, Any]], chosen: list[Any]
) -> list[dict[str, Any]]:
    """The result object of each row (the desk is inferred where the row names none)."""
    from triage_desk.classifier.predict import ClassifierInput
    from triage_desk.intake.pipeline import choose_labels
    from triage_desk.sla import due_times

    inferred = _infer_desks(classifier, desks, rows, chosen)
    inputs = [
        ClassifierInput(
            subject=str(row.get("subject") or ""),
            body=str(row.get("body") or ""),
            allowed_categories=desk.categories,
            default_language=desk.config.default_language,
        )
        for row, desk in zip(rows, chosen, strict=True)
    ]
    predictions = classifier.classify_many(inputs)
    results = []
    for index, (row, desk, prediction) in enumerate(zip(rows, chosen, predictions, strict=True)):
        category, feedback = choose_labels(desk, prediction)
        try:
            received = _received(row, desk)
            times = due_times(desk.calendar, desk.config.categories[category], received)
            due = times.as_json(desk.calendar.zone)
        except _BadMessage as exc:
            results.append({"error": str(exc)})
            continue
        except (OverflowError, ValueError) as exc:  # e.g. a Date in the year 9999
            results.append({"error": f"no due times for received_at {received}: {exc}"})
            continue
        results.append(
            {
                "category": category,
                "feedback_type": feedback,
                "confidence": prediction.confidence,
                "category_confidence": prediction.category_confidence,
                "feedback_confidence": prediction.feedback_confidence,
                "auto_accept": prediction.auto_accept,
                "language": prediction.language,
                "desk": desk.name,
                "desk_inferred": index in inferred,
                **due,
                "model_version": prediction.model_version,
                "stage": prediction.stage,
            }
        )
    return results
