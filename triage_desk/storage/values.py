"""Column types that store what every backend accepts, whatever a mail put in a value.

PostgreSQL refuses a NUL character in text and in JSON, and refuses a value longer than its
column; neither database driver can encode a lone surrogate (a raw 8-bit byte read with
``surrogateescape`` that nobody decoded). Mail can carry all of these, and one such value made
a whole batch fail to commit, again on every retry. So the models' ``String`` and ``Text``
are these types: NULs are removed, lone surrogates become U+FFFD and a ``String(n)`` value is
cut to ``n`` characters, on writes and in query parameters alike (a lookup finds what was
stored). The raw bytes of a mail are a ``LargeBinary`` and keep everything.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import String as _String
from sqlalchemy import Text as _Text
from sqlalchemy import TypeDecorator

_SURROGATE = re.compile(r"[\ud800-\udfff]")


def storable_text(value: str, length: int | None = None) -> str:
    """``value`` without NUL characters or lone surrogates, at most ``length`` characters."""
    if "\x00" in value:
        value = value.replace("\x00", "")
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:  # lone surrogates: no database can store them
            value = _SURROGATE.sub("\ufffd", value)
    if length is not None and len(value) > length:
        value = value[:length]
    return value


def storable_json(value: Any) -> Any:
    """A JSON value with every string in it (keys too) made storable; no length limit."""
    if isinstance(value, str):
        return storable_text(value)
    if isinstance(value, dict):
        return {
            storable_text(k) if isinstance(k, str) else k: storable_json(v)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [storable_json(v) for v in value]
    return value


class String(TypeDecorator[str]):
    """``VARCHAR(n)`` whose values are made storable and cut to ``n`` characters."""

    impl = _String
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> Any:
        if isinstance(value, str):
            return storable_text(value, self.impl.length)  # type: ignore[attr-defined]
        return value


class Text(TypeDecorator[str]):
    """``TEXT`` whose values are made storable (no length limit)."""

    impl = _Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> Any:
        return storable_text(value) if isinstance(value, str) else value
