"""`triage report assistant`: the virtual assistant's figures for a desk and period."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json

import click

from triage_desk.cli.support import Context, desk_errors, desk_service, pass_ctx


@click.group()
def report() -> None:
    """Figures for the desks' reports."""


@report.command("assistant")
@click.option("--desk", required=True, help="The desk.")
@click.option(
    "--from", "start", required=True, type=click.DateTime(["%Y-%m-%d"]),
    help="First day of the period (the desk's local days).",
)  # fmt: skip
@click.option(
    "--to", "end", required=True, type=click.DateTime(["%Y-%m-%d"]),
    help="Last day of the period, included.",
)  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="One JSON object instead of lines.")
@pass_ctx
def assistant(ctx: Context, desk: str, start: dt.datetime, end: dt.datetime, as_json: bool) -> None:
    """Offers ("Did this help?" answers), declines, helped %, and hand-offs to staff (a
    decline or a "no") of the assistant in the desk's chats."""
    with desk_errors():
        figures = desk_service(ctx).assistant_figures(desk, start.date(), end.date())
    if as_json:
        values = dataclasses.asdict(figures)
        values["start"], values["end"] = figures.start.isoformat(), figures.end.isoformat()
        click.echo(json.dumps(values))
        return
    helped = "-" if figures.helped_percent is None else f"{figures.helped_percent:g} %"
    click.echo(f"{figures.desk} {figures.start}..{figures.end}")
    click.echo(f"offers      {figures.offers}")
    click.echo(
        f"helped      {figures.helped}  ({helped} of {figures.helped + figures.not_helped} rated)"
    )
    click.echo(f"not helped  {figures.not_helped}")
    click.echo(f"no answer   {figures.no_feedback}")
    click.echo(f"declined    {figures.declined}")
    click.echo(f"hand-offs   {figures.handoffs}")
