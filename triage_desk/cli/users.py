"""`triage user add|list`: the staff console's users (argon2-hashed passwords, roles)."""

from __future__ import annotations

import os

import click

from triage_desk.cli.display import safe_text
from triage_desk.cli.support import Context, desk_errors, out, pass_ctx


def _accounts(ctx: Context):  # type: ignore[no-untyped-def]
    from triage_desk.desk_service.staff import StaffAccounts
    from triage_desk.storage.db import make_engine, make_session_factory, upgrade

    url = ctx.config.database_url()
    upgrade(url)
    return StaffAccounts(make_session_factory(make_engine(url)))


@click.group()
def user() -> None:
    """Users of the staff console."""


@user.command("add")
@click.argument("username")
@click.option(
    "--role",
    type=click.Choice(["agent", "supervisor", "admin"]),
    required=True,
    help="agent: works tickets; supervisor: + overrides, quarantine, outbox; admin: + users.",
)
@click.option(
    "--language", type=click.Choice(["lv", "en"]), default="lv", show_default=True,
    help="The console's interface language for this user (they can switch it).",
)  # fmt: skip
@pass_ctx
def user_add(ctx: Context, username: str, role: str, language: str) -> None:
    """Add a console user. The password comes from $TRIAGE_PASSWORD when set, else it is
    asked for (twice, not echoed)."""
    password = os.environ.get("TRIAGE_PASSWORD")
    if password is None:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    with desk_errors():
        added = _accounts(ctx).add_user(username, password, role, language)
    out.print(f"user {safe_text(added.username)} added with role {added.role}")


@user.command("list")
@pass_ctx
def user_list(ctx: Context) -> None:
    """Console users with their roles."""
    for found in _accounts(ctx).users():
        state = "active" if found.active else "disabled"
        out.print(f"{safe_text(found.username)}\t{found.role}\t{found.language}\t{state}")
