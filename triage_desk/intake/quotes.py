"""Separating what a person wrote now from quoted history and signatures.

The full text is always kept; the classifier reads only the new part.
"""

from __future__ import annotations

import re

# Lines that start the quoted history in the clients our users have (Outlook, Gmail,
# Thunderbird) in Latvian, English and Russian.
_HISTORY_STARTS = [
    re.compile(r"^-{2,}\s*(original message|oriģinālā ziņa|sākotnējā ziņa|исходное сообщение)",
               re.I),
    re.compile(r"^-{2,}\s*(forwarded message|pārsūtīta ziņa|пересылаемое сообщение)", re.I),
    re.compile(r"^(on|am|le)\s.{5,200}\s(wrote|schrieb|a écrit):\s*$", re.I),
    re.compile(r"^.{5,200}\s(rakstīja|rakstija|написал|написала|написал\(а\)):\s*$", re.I),
    re.compile(r"^(from|no|от|sūtītājs):\s.+", re.I),
    re.compile(r"^_{10,}\s*$"),
]
_SIGNATURE_STARTS = [
    re.compile(r"^--\s*$"),
    re.compile(r"^(ar cieņu|ar cienu|ar labākajiem vēlējumiem|kind regards|best regards|regards|"
               r"с уважением|всего доброго),?\s*$", re.I),
    re.compile(r"^sent from my \w+", re.I),
]


def split_new_text(text: str) -> str:
    """The part of ``text`` before quoted history and signature (whole text if none found)."""
    kept: list[str] = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith(">"):
            break
        if any(p.match(stripped) for p in _HISTORY_STARTS + _SIGNATURE_STARTS):
            break
        kept.append(line)
    new = "\n".join(kept).strip()
    return new or text.strip()
