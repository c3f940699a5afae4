"""`triage due`: the service-level times of a hypothetical request."""

from __future__ import annotations

import json

import click

from triage_desk.cli.support import Context, pass_ctx


@click.command()
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
