"""`triage clients import|list`: institutions and their designated representatives."""

from __future__ import annotations

from pathlib import Path

import click
from rich.table import Table

from triage_desk.cli.display import safe_text, visible
from triage_desk.cli.support import (
    Context,
    DeskRefusal,
    desk_errors,
    desk_service,
    err,
    out,
    pass_ctx,
    staff_option,
)


@click.group()
def clients() -> None:
    """Clients and designated representatives (terms clauses 12 and 28)."""


@clients.command("import")
@click.argument("csv_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@staff_option()
@pass_ctx
def import_(ctx: Context, csv_file: Path, staff: str) -> None:
    """Load CSV_FILE with columns client,desk,domain,address,name,representative.

    Every row is checked before anything is stored: one bad row refuses the whole file,
    naming its line. Prints what changed; the import is in the audit log under --staff."""
    from triage_desk.desk_service import InvalidInput
    from triage_desk.desk_service.clients import MAX_IMPORT_BYTES

    with csv_file.open("rb") as handle:
        data = handle.read(MAX_IMPORT_BYTES + 1)  # the service refuses more; read no further
    service = desk_service(ctx)
    try:
        report = service.import_clients(data, csv_file.name, staff)
    except InvalidInput as refused:
        if "line" in refused.params:
            where = f"line {refused.params['line']}: {refused.params['detail']}"
        else:
            where = refused.message
        raise DeskRefusal(f"{visible(csv_file)}: {visible(where)}", 2) from None
    for title, names in (
        ("client added", report.clients_added),
        ("client changed (desk or domains)", report.clients_changed),
    ):
        for name in names:
            out.print(f"{title}: ", safe_text(name), sep="", soft_wrap=True)
    for title, pairs in (
        ("member added", report.members_added),
        ("now a designated representative", report.representatives_set),
        ("no longer a designated representative", report.representatives_unset),
    ):
        for client, address in pairs:
            out.print(
                f"{title}: ",
                safe_text(address),
                " (",
                safe_text(client),
                ")",
                sep="",
                soft_wrap=True,
            )
    err.print(
        f"imported {visible(csv_file)}: {len(report.clients_added)} client(s) added, "
        f"{len(report.clients_changed)} changed, {len(report.members_added)} member(s) added, "
        f"{len(report.representatives_set)} representative(s) designated, "
        f"{len(report.representatives_unset)} no longer, {report.unchanged_rows} row(s) "
        "unchanged",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )


@clients.command("list")
@click.option("--desk", default=None, help="Only this desk's clients.")
@pass_ctx
def list_(ctx: Context, desk: str | None) -> None:
    """Clients with their domains and designated representatives."""
    if desk is not None and desk not in ctx.config.desks:
        raise click.BadParameter(
            f"unknown desk {desk!r}; configured desks: {sorted(ctx.config.desks)}",
            param_hint="--desk",
        )
    service = desk_service(ctx)
    table = Table("client", "desk", "domains", "representatives", "other members")
    with desk_errors():
        summaries = service.clients(desk)
        for summary in summaries:
            detail = service.client(summary.id)
            representatives = sorted(
                ", ".join(a.address for a in member.addresses if a.channel == "email")
                or ", ".join(f"{a.channel}:{a.address}" for a in member.addresses)
                for member in detail.members
                if member.representative
            )
            table.add_row(
                safe_text(summary.name),
                summary.desk,
                safe_text(", ".join(summary.domains)),
                safe_text("\n".join(representatives), multiline=True),
                str(summary.members - summary.representatives),
            )
    out.print(table)
