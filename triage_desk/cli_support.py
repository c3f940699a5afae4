"""What every `triage` command shares: the consoles and the lazily loaded configuration."""

from __future__ import annotations

import gc
import json
import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click
from rich.console import Console
from rich.text import Text

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


# --------------------------------------------------------------------------- mail-controlled text

# What a terminal would act on instead of showing: C0 controls (ESC starts CSI/OSC sequences,
# BEL ends an OSC title, CR overwrites the line), DEL, C1 controls (U+009B is CSI on some
# terminals), the bidirectional overrides and isolates that reorder what is shown, the line
# and paragraph separators, and lone surrogates (undecodable bytes; a UTF-8 stdout cannot
# encode them). Each is shown as its Python escape instead.
_BIDI = (0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A))
_UNSAFE = (*range(0x00, 0x20), *range(0x7F, 0xA0), *_BIDI, 0x2028, 0x2029)
_ESCAPES = {code: ascii(chr(code))[1:-1] for code in (*_UNSAFE, *range(0xD800, 0xE000))}
_MULTILINE_ESCAPES = {k: v for k, v in _ESCAPES.items() if k not in (0x09, 0x0A)}


def visible(value: object, *, multiline: bool = False) -> str:
    """Mail-controlled text made safe to print: every control character is shown as its
    escape (``\\x1b``, ``\\u202e``), so nothing in it can act on the terminal. With
    ``multiline`` newlines and tabs are kept (CRLF becomes a newline; a lone CR, which
    could overwrite what is already shown, is escaped)."""
    text = "" if value is None else str(value)
    if multiline:
        return text.replace("\r\n", "\n").translate(_MULTILINE_ESCAPES)
    return text.translate(_ESCAPES)


def safe_text(value: object, *, multiline: bool = False) -> Text:
    """``visible`` as a rich ``Text``: rich never reads markup (``[bold blink]``) or emoji
    codes (``:warning:``) in a Text, so this is what table cells and messages from mail use."""
    return Text(visible(value, multiline=multiline))


def json_line(data: object) -> str:
    """One JSON line, non-ASCII letters kept readable; the characters ``visible`` escapes and
    JSON allows raw (DEL, C1, bidi controls, surrogates) are written as ``\\uXXXX``."""
    text = json.dumps(data, ensure_ascii=False)
    return text.translate(_JSON_ESCAPES)


_JSON_ESCAPES = {code: f"\\u{code:04x}" for code in _ESCAPES if code >= 0x7F}


class SafeLogFormatter(logging.Formatter):
    """Log lines carry mail data (senders, subjects in exception messages): controls in
    them are escaped like ``visible`` does, keeping the newlines of a traceback."""

    def format(self, record: logging.LogRecord) -> str:
        return visible(super().format(record), multiline=True)


def stdout_is_terminal() -> bool:
    isatty = getattr(sys.stdout, "isatty", None)
    return bool(isatty and isatty())
