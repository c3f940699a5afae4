"""`triage report assistant`: the virtual assistant's figures for a desk and period."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json

import click

from triage_desk.cli.support import Context, desk_errors, desk_service, out, pass_ctx


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


@report.command("sla")
@click.option("--year", required=True, type=click.IntRange(2000, 2100), help="The year.")
@click.option("--desk", default=None, help="The desk (default: service.default_desk).")
@click.option("--csv", "as_csv", is_flag=True, help="CSV on stdout instead of a table.")
@pass_ctx
def sla(ctx: Context, year: int, desk: str | None, as_csv: bool) -> None:
    """Late share per category (terms clause 37): cases received in the year (the desk's
    local year), late on response, on resolution, on either, against the allowed share.
    An unmet due time already passed counts as late."""
    from rich.table import Table

    from triage_desk.desk_service.export import late_share_csv

    desk = desk or ctx.config.service.default_desk
    with desk_errors():
        figures = desk_service(ctx).late_share(desk, year)
    if as_csv:
        click.echo(late_share_csv(figures, line_end="\n"), nl=False)
        return
    table = Table(title=f"{figures.desk} {figures.year}: late share (clause 37)")
    for name in ("category", "cases", "late resp.", "late resol.", "late", "late %", "allowed %"):
        table.add_column(name, justify="left" if name == "category" else "right")
    table.add_column("")
    for row in figures.rows:
        table.add_row(
            row.category,
            str(row.cases),
            str(row.late_response),
            str(row.late_resolution),
            str(row.late),
            "-" if row.late_percent is None else f"{row.late_percent:g}",
            "-" if row.allowed_percent is None else f"{row.allowed_percent:g}",
            {True: "within", False: "OVER", None: ""}[row.within],
        )
    out.print(table)
