"""What every `triage` command shares: the consoles, the lazily loaded configuration, the
desk service and how its refusals are shown."""

from __future__ import annotations

import gc
import getpass
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.console import Console

from triage_desk.cli.display import visible
from triage_desk.config import Config, ConfigError, load_config

if TYPE_CHECKING:
    from triage_desk.desk_service import DeskError, DeskService

err = Console(stderr=True)
# Piped output (scripts, CI logs) gets a wide table instead of rich's 80-column default.
out = Console() if Console().is_terminal else Console(width=200)


# `triage run` and `triage fetch`: how many processes prepare mail beside the one storing it.
workers_option = click.option(
    "--workers",
    type=click.IntRange(min=0),
    default=None,
    help="Worker processes that parse and classify mail while the main one "
    "stores it (default: 1 with two or more cores, else 0).",
)


def default_config() -> str:
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


@contextmanager
def long_lived_start_up() -> Iterator[None]:
    """Start-up of a long-running command (`run`, `fetch`): imports and building the app.

    What is built here (modules, the model, mappers, templates) lives until exit. The cyclic
    garbage collector is paused meanwhile: start-up makes some 200,000 such objects and
    almost no garbage, yet its allocations would start collections that walk everything
    built so far, again and again. On success it is all frozen out of the collector
    (gc.freeze), so later full collections and interpreter shutdown skip it. No full
    collection before freezing: it would walk everything once more to find only that bit of
    garbage (figures: bench/README.md). Never in tests: what is frozen is never collected.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
        gc.freeze()
    finally:
        if enabled:
            gc.enable()


# --------------------------------------------------------------------------- the desk service


def desk_service(ctx: Context) -> DeskService:
    """The desk service without a model (queries and staff actions start fast)."""
    from triage_desk.desk_service import DeskService

    return DeskService.from_config(ctx.config)


def _staff_default() -> str:
    return os.environ.get("TRIAGE_STAFF") or getpass.getuser()


def staff_option(help_text: str = "Who is acting (recorded in the audit log).") -> Any:
    return click.option(
        "--staff",
        default=_staff_default,
        show_default="$TRIAGE_STAFF or your login",
        help=help_text,
    )


# What the command line adds to a refusal: how to do it here (the desk service never says).
_HINTS = {
    ("not_found", "ticket"): "; `triage tickets` lists them",
    ("not_found", "outbox item"): "; `triage outbox list` shows them",
    ("not_found", "quarantined mail"): "; `triage quarantine list --all` shows them",
    ("not_found", "address"): "; `triage address list` shows the marked ones",
    ("same_category", None): "; use --confirm",
    ("undeliverable", None): ", or use --force to send anyway",
    ("not_dead", None): " (`triage outbox list --status dead`)",
}


class DeskRefusal(click.ClickException):
    """A refusal of the desk service as one line on stderr: exit status 2 for input the
    command cannot take, 1 for the rest (not found, conflict, not allowed)."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def refusal(error: DeskError) -> DeskRefusal:
    from triage_desk.desk_service import InvalidInput, NotFound

    # Messages quote values from mail (an address, a bounce's reason): shown escaped.
    message = visible(error.message)
    if isinstance(error, InvalidInput):
        return DeskRefusal(f"--{error.field.replace('_', '-')}: {message}", 2)
    kind = error.kind if isinstance(error, NotFound) else None
    return DeskRefusal(message + _HINTS.get((error.code, kind), ""), 1)


@contextmanager
def desk_errors() -> Iterator[None]:
    """Turn a refusal of the desk service into a one-line error, no traceback."""
    from triage_desk.desk_service import DeskError

    try:
        yield
    except DeskError as error:
        raise refusal(error) from None
