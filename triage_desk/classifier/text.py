"""Turning a message into the text the model reads."""

from __future__ import annotations

import re
import unicodedata

_URL = re.compile(r"https?://\S+|www\.\S+")
_EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+\.[\w.-]+\b")
_NUMBER = re.compile(r"\d+")
_SPACE = re.compile(r"\s+")
_COMBINING = re.compile(r"[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]+")


def clip(subject: str, body: str, max_chars: int) -> tuple[str, str]:
    """Subject and body cut to ``max_chars`` together, the subject to a quarter of them.

    What the model costs grows with the text, and a long mail says what it is about early:
    the rest is never read. The subject's share is bounded so a huge subject cannot crowd
    the body out.
    """
    if len(subject) + len(body) <= max_chars:
        return subject, body
    subject = subject[: max(1, max_chars // 4)]
    return subject, body[: max(0, max_chars - len(subject))]


def fold_diacritics(text: str) -> str:
    """Strip diacritics so 'kļūda' and 'kluda' (typed on a phone) read the same."""
    if text.isascii():
        return text
    return _COMBINING.sub("", unicodedata.normalize("NFKD", text))


def model_text(subject: str, body: str) -> str:
    """Subject and body, lower-cased, diacritics folded, volatile tokens replaced.

    Addresses, links and numbers vary from message to message without saying anything about
    the category, so they become placeholders the model can still count.

    Tried and left out: a hand-written lexicon of feedback cues in the three languages
    ("would be nice", "ieteikums", "никто не ответил", …), appended as one token per cue
    type. Out of fold, over three fold seeds, cascade feedback macro-F1 rose by only
    0.0035–0.0066. The fast stage alone lost 0.004–0.006, and auto-accept coverage at 97 %
    went 0.31 → 0.29. The lexicon was written after reading the dev errors, so its dev gain
    (0.892 → 0.932) does not count as evidence.
    """
    text = f"{subject}\n{body}" if subject else body
    text = _URL.sub(" urltoken ", text)
    text = _EMAIL.sub(" emailtoken ", text)
    text = _NUMBER.sub("0", text)
    return _SPACE.sub(" ", fold_diacritics(text.lower())).strip()
