"""What every `triage` command shares: the consoles and the lazily loaded configuration."""

from __future__ import annotations

import gc
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click
from rich.console import Console

from triage_desk.config import Config, ConfigError, load_config

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
    almost no garbage (about 1,300 objects, 0.4 MB), yet its allocations would start
    collections that walk everything built so far, again and again (~0.1 s). On success it
    is all frozen out of the collector (gc.freeze), so later full collections and
    interpreter shutdown skip it (~0.15 s). No full collection before freezing: it would
    walk everything once more (~0.07 s) to find only that bit of garbage. Never in tests:
    what is frozen is never collected.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
        gc.freeze()
    finally:
        if enabled:
            gc.enable()
