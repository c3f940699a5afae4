"""What every `triage` command shares: the consoles and the lazily loaded configuration."""

from __future__ import annotations

import gc
import os
from pathlib import Path

import click
from rich.console import Console

from triage_desk.config import Config, ConfigError, load_config

err = Console(stderr=True)
# Piped output (scripts, CI logs) gets a wide table instead of rich's 80-column default.
out = Console() if Console().is_terminal else Console(width=200)


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


def keep_start_up_objects() -> None:
    """Exempt what start-up built (modules, the model, mappers, templates) from the cyclic
    garbage collector: it lives until exit, yet every full collection would walk it again,
    and so would interpreter shutdown (~0.15 s). For long-running commands, after building
    the app; never in tests (what it freezes is never collected)."""
    gc.collect()
    gc.freeze()
