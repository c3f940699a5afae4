"""`triage telegram link ADDRESS`: a one-time deep link that links a person's chat with the
desk's bot to the requester known at ADDRESS."""

from __future__ import annotations

import click

from triage_desk.cli.support import Context, err, pass_ctx


@click.group()
def telegram() -> None:
    """The desks' Telegram bots."""


@telegram.command("link")
@click.argument("address")
@click.option("--desk", help="The desk whose bot to link (default: the only desk with a bot).")
@click.option(
    "--valid-hours", type=click.IntRange(1, 24 * 14), default=24, show_default=True,
    help="How long the link can be used (once).",
)  # fmt: skip
@pass_ctx
def link(ctx: Context, address: str, desk: str | None, valid_hours: int) -> None:
    """Print https://t.me/<bot>?start=<token> for the person at ADDRESS (an email address
    we know) to open; the chat that opens it first is linked to that person."""
    import datetime as dt

    from triage_desk.clock import system_clock
    from triage_desk.intake.telegram.links import bot_username, new_deep_link
    from triage_desk.storage.db import make_engine, make_session_factory, upgrade
    from triage_desk.storage.links import UnknownAddress

    config = ctx.config
    with_bots = sorted(name for name, d in config.desks.items() if d.telegram is not None)
    if desk is None:
        if len(with_bots) != 1:
            raise click.UsageError(f"--desk: one of the desks with a bot: {with_bots}")
        desk = with_bots[0]
    if desk not in with_bots:
        raise click.UsageError(f"--desk {desk!r} has no bot; desks with a bot: {with_bots}")
    username = bot_username(config, desk)
    upgrade(config.database_url())
    sessions = make_session_factory(make_engine(config.database_url()))
    try:
        with sessions.begin() as session:
            url = new_deep_link(
                session, username, address, system_clock(), dt.timedelta(hours=valid_hours)
            )
    except UnknownAddress:
        raise click.ClickException(
            f"no requester is known at {address!r}: a link joins a chat to a person we know "
            "by email (one who has written to us, or a client's member)"
        ) from None
    err.print(f"valid once, for {valid_hours} h; the chat that opens it is linked to {address}")
    click.echo(url)
