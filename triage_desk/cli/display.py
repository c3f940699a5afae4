"""Mail-controlled text made safe for a terminal, a JSON line and a log line.

Subjects, senders and quarantined mail are written by strangers: an escape sequence in them
must be shown, not obeyed, and rich markup in them shown as written.
"""

from __future__ import annotations

import json
import logging
import sys

from rich.text import Text

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
