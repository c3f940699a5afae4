"""Separating what a person wrote now from quoted history and signatures.

The full text is always kept; the classifier reads only the new part. One job: find where
the quoted history (Outlook ``From:/No:/От:`` header blocks, Gmail and Thunderbird
"On … wrote:", "… rakstīja:", "… написал(а):", ``>`` lines) and the signature (``-- ``,
valedictions, "Sent from my iPhone") start in lv, en and ru mail clients.

Forwarded mail is different from a reply: what a person forwards to the desk is usually the
request itself, so a forwarded message's own new part is kept after the person's note.
"""

from __future__ import annotations

import re

from triage_desk.intake.errors import Deadline

_ORIGINAL = re.compile(
    r"^-{2,}\s*(original message|oriģinālā ziņa|oriģinālais ziņojums|sākotnējā ziņa"
    r"|sākotnējais ziņojums|исходное сообщение|ursprüngliche nachricht)\s*-{2,}\s*$",
    re.I,
)
_FORWARD = re.compile(
    r"^(-{2,}\s*(forwarded message|pārsūtīta ziņa|pārsūtītā ziņa|pārsūtīts ziņojums"
    r"|pārsūtītais ziņojums|пересылаемое сообщение|переадресованное сообщение"
    r"|weitergeleitete nachricht)\s*-{2,}"
    r"|begin forwarded message:|начало переадресованного сообщения:"
    r"|sākums pārsūtītajai ziņai:)\s*$",
    re.I,
)
_WROTE = re.compile(
    r"(\b(wrote|writes|rakstīja|rakstija|raksta|написал|написала|написал\(а\)|пишет"
    r"|schrieb|a écrit)\s*:|<[^<>\s]+@[^<>\s]+>\)?\s*:)\s*$",
    re.I,
)
_ATTRIBUTION_START = re.compile(r"^(on|am|le|\d|\w{2,12}[.,]?\s+\d)", re.I)
_HEADER_FROM = re.compile(r"^\*?(from|no|от|sūtītājs|von|de|od)\*?\s*:\s*\S", re.I)
_HEADER_OTHER = re.compile(
    r"^\*?(sent|date|to|cc|subject|nosūtīts|datums|kam|kopija|tēma|temats|отправлено|дата"
    r"|кому|копия|тема|gesendet|an|betreff|envoyé|à|objet)\*?\s*:",
    re.I,
)
_HEADER_ANY = re.compile(
    r"^\*?(from|no|от|sūtītājs|von|de|sent|date|to|cc|bcc|reply-to|subject|nosūtīts|datums|kam"
    r"|kopija|tēma|temats|отправлено|дата|кому|копия|тема|gesendet|an|betreff)\*?\s*:",
    re.I,
)
_UNDERSCORES = re.compile(r"^_{10,}\s*$")
_SIGNATURE = [
    re.compile(r"^--\s*$"),
    re.compile(
        r"^(ar cieņu|ar cienu|ar labākajiem vēlējumiem|ar vislabākajiem vēlējumiem"
        r"|ar sveicieniem|kind regards|best regards|warm regards|regards|sincerely"
        r"|yours sincerely|best wishes|с уважением|всего доброго|всего наилучшего"
        r"|с наилучшими пожеланиями|mit freundlichen grüßen)[,.!]?\s*$",
        re.I,
    ),
    re.compile(
        r"^(sent from my \w+|get outlook for \w+|sūtīts no mana \w+|nosūtīts no mana \w+"
        r"|отправлено с (моего )?\w+|отправлено из \w+)",
        re.I,
    ),
]
_ANY_SIGNATURE = re.compile("|".join(f"(?:{p.pattern})" for p in _SIGNATURE), re.I)
_FORWARD_SUBJECT = re.compile(r"^\s*(fw|fwd|pārs|tr|wg|пересл|fw\s?\[\d+\])\s*:", re.I)
_CHECK_EVERY = 2_000
_MAX_HEADER_LINES = 12
_QUOTE_MARK = r"[ \t]*+>"


def flatten_quotes(text: str, max_depth: int) -> str:
    """``text`` with quote markers (``>``) deeper than ``max_depth`` taken out of each line.

    Thousands of nested ``> > > …`` say nothing the first few do not, and would be stored
    and read again at every step. One regular-expression pass, linear in the text.
    """
    if ">" * (max_depth + 1) not in text.replace(" ", "").replace("\t", ""):
        return text
    deeper = re.compile(rf"^((?:{_QUOTE_MARK}){{{max_depth}}})(?:{_QUOTE_MARK})++", re.M)
    return deeper.sub(r"\1", text)


def _outlook_block(lines: list[str], index: int) -> bool:
    """``From:`` (or No:/От:) followed within a few lines by Sent/To/Subject-like lines."""
    if not _HEADER_FROM.match(lines[index].strip()):
        return False
    return any(_HEADER_OTHER.match(line.strip()) for line in lines[index + 1 : index + 6])


def _attribution(lines: list[str], index: int) -> int:
    """How many lines an "On … wrote:" attribution takes here (0 when there is none)."""
    line = lines[index].strip()
    if not line or len(line) > 300:
        return 0
    if _WROTE.search(line) and (_ATTRIBUTION_START.match(line) or len(line) > 12):
        return 1
    if index + 1 < len(lines) and _ATTRIBUTION_START.match(line):
        following = lines[index + 1].strip()
        if following and len(line) + len(following) < 300 and _WROTE.search(following):
            return 2
    return 0


def _history_starts(lines: list[str], index: int) -> bool:
    stripped = lines[index].strip()
    if _ORIGINAL.match(stripped) or _outlook_block(lines, index):
        return True
    if _UNDERSCORES.match(stripped):
        return True
    return _attribution(lines, index) > 0 and _quote_follows(lines, index)


def _quote_follows(lines: list[str], index: int) -> bool:
    """An attribution line counts only when quoted or history text follows it."""
    for line in lines[index + 1 : index + 4]:
        stripped = line.strip()
        if not stripped or _WROTE.search(stripped):
            continue
        return True  # Gmail "On … wrote:" is followed by the quote, quoted or not
    return False


def _skip_header_block(lines: list[str], index: int) -> int:
    """Index after a forwarded message's From/Date/Subject/To lines and blank lines."""
    seen = 0
    while index < len(lines) and seen < _MAX_HEADER_LINES:
        stripped = lines[index].strip()
        if stripped and not _HEADER_ANY.match(stripped) and not _UNDERSCORES.match(stripped):
            break
        index += 1
        seen += 1
    return index


def _may_start_history(lines: list[str], index: int, stripped: str) -> bool:
    """Whether a forward marker or history can start at this line: every one of them has a
    colon in this line or the next (an attribution over two lines), or begins with a dash
    or an underscore. Most lines have none, and skip the patterns."""
    if ":" in stripped or stripped[:1] in ("-", "_"):
        return True
    return index + 1 < len(lines) and ":" in lines[index + 1]


def split_new_text(text: str, deadline: Deadline | None = None, subject: str = "") -> str:
    """The part of ``text`` before quoted history and signature (whole text if none found).

    For forwarded mail (a forward marker, or an Outlook header block under a ``FW:`` subject)
    the new part of the forwarded message follows the person's own note.
    """
    deadline = deadline or Deadline.none()
    lines = text.splitlines()
    forwarded_subject = bool(_FORWARD_SUBJECT.match(subject))
    segments: list[str] = []
    kept: list[str] = []
    index = 0
    in_signature = False  # after a signature only a forwarded message brings text back
    while index < len(lines):
        if index % _CHECK_EVERY == 0:
            deadline.check()
        line = lines[index]
        stripped = line.strip()
        if stripped.startswith(">"):
            index += 1
            continue
        forward = history = False
        if _may_start_history(lines, index, stripped):
            forward = bool(_FORWARD.match(stripped))
            history = not forward and _history_starts(lines, index)
        if forward or (
            history and forwarded_subject and not segments and not _attribution(lines, index)
        ):
            segments.append("\n".join(kept).strip())
            kept = []
            forwarded_subject = in_signature = False
            index = _skip_header_block(lines, index + 1)
            continue
        if history:
            break
        if in_signature or _ANY_SIGNATURE.match(stripped):
            in_signature = True
        else:
            kept.append(line)
        index += 1
    segments.append("\n".join(kept).strip())
    new = "\n\n".join(s for s in segments if s)
    return new or text.strip()
