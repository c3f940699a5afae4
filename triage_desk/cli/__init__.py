"""The `triage` command line: one entry point for the service, the model and the data.

A thin layer: each module parses its options, calls the desk service (or the service's
machinery for `run`, `fetch` and the model), and prints what it got back, with mail text made
safe (``display``). Nothing below this package imports click or the CLI.
"""

from __future__ import annotations

import logging

import click

from triage_desk.cli.display import SafeLogFormatter
from triage_desk.cli.support import Context, default_config


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


def _register() -> None:
    from triage_desk.cli import (
        addresses,
        clients,
        model,
        notices,
        outbox,
        quarantine,
        report,
        service,
        sla,
        telegram,
        tickets,
        tokens,
        users,
    )

    for command in (
        service.run,
        service.fetch,
        service.refine,
        service.db,
        service.demo,
        sla.due,
        tickets.tickets,
        tickets.ticket,
        tickets.decide,
        tickets.reply,
        tickets.resolve,
        tickets.reopen,
        quarantine.quarantine,
        outbox.outbox,
        addresses.address,
        clients.clients,
        notices.notice,
        telegram.telegram,
        report.report,
        users.user,
        tokens.token,
        model.classify,
        model.model,
        model.train,
        model.evaluate_command,  # `triage eval`
    ):
        main.add_command(command)


_register()

if __name__ == "__main__":  # pragma: no cover
    main()
