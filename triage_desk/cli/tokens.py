"""`triage token create|list|revoke`: bearer tokens of the JSON API (``/api/v1``)."""

from __future__ import annotations

import click

from triage_desk.cli.display import safe_text
from triage_desk.cli.support import Context, desk_errors, out, pass_ctx


def _tokens(ctx: Context):  # type: ignore[no-untyped-def]
    from triage_desk.desk_service.tokens import ApiTokens
    from triage_desk.storage.db import make_engine, make_session_factory, upgrade

    url = ctx.config.database_url()
    upgrade(url)
    return ApiTokens(make_session_factory(make_engine(url)))


def _when(instant) -> str:  # type: ignore[no-untyped-def]
    return f"{instant:%Y-%m-%d %H:%M} UTC" if instant else "-"


@click.group()
def token() -> None:
    """Bearer tokens of the JSON API: each acts as a console user, with that user's role."""


@token.command("create")
@click.argument("username")
@click.option("--name", default=None, help="What the token is for (shown by `token list`).")
@click.option(
    "--expires-days", type=click.IntRange(1, 3650), default=None,
    help="Days until it stops working (default: until revoked).",
)  # fmt: skip
@pass_ctx
def token_create(ctx: Context, username: str, name: str | None, expires_days: int | None) -> None:
    """Make a token for console user USERNAME and print it once: only its hash is kept."""
    with desk_errors():
        secret, made = _tokens(ctx).create(username, name, expires_days)
    click.echo(secret)
    click.echo(
        f"token #{made.id} for {made.username} ({made.role}); it is shown only now: "
        "keep it in a secret store",
        err=True,
    )


@token.command("list")
@click.option("--user", "username", default=None, help="Only this user's tokens.")
@pass_ctx
def token_list(ctx: Context, username: str | None) -> None:
    """Tokens with their user, role, state and last use (never the tokens themselves)."""
    for found in _tokens(ctx).tokens(username):
        state = (
            "revoked"
            if found.revoked_at
            else "user disabled"
            if not found.user_active
            else "active"
        )
        out.print(
            f"#{found.id}\t{safe_text(found.username)}\t{found.role}\t{safe_text(found.name)}\t"
            f"{state}\texpires {_when(found.expires_at)}\tlast used {_when(found.last_used_at)}"
        )


@token.command("revoke")
@click.argument("token_id", type=int)
@pass_ctx
def token_revoke(ctx: Context, token_id: int) -> None:
    """Revoke token #TOKEN_ID: it stops working at once."""
    with desk_errors():
        done = _tokens(ctx).revoke(token_id)
    out.print(f"token #{done.id} of {safe_text(done.username)} revoked")
