"""A parsed mail's MIME tree → its readable text and its attachments.

One job: walk the parts. ``multipart/alternative`` prefers text/plain (HTML only when the
plain part is missing or blank); the body parts of a ``multipart/mixed`` are concatenated;
HTML becomes readable text; a ``message/rfc822`` part (forwarded as attachment, or the
original inside a bounce) contributes its text under a forwarded-message header block and is
kept as an ``.eml`` attachment, its own attachments extracted too. Every other leaf is an
``Attachment`` with its decoded name, type, Content-ID, inline flag, size and bytes, within
``EmailConfig``'s limits: an oversized attachment keeps its metadata without the bytes; one
attachment too many raises ``LimitExceeded`` (the mail is quarantined).

The text is bounded by ``max_text_chars``: a body part is decoded (transfer encoding and
charset) only as far as that many characters need, HTML converted only that far, and the
text is cut there (``MimeContent.cut``; the parser then ends it with ``CUT_MARKER``); the
raw mail keeps everything.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import mimetypes
import quopri
import re
from dataclasses import dataclass
from email.message import Message

from triage_desk.config import EmailConfig
from triage_desk.intake.email.charsets import (
    byte_bound,
    decode_encoded_words,
    decode_head,
    fix_surrogates,
)
from triage_desk.intake.email.forwarded import (
    eml_filename,
    header_block,
    message_bytes,
    source_linesep,
    stored_payload,
)
from triage_desk.intake.email.headers import header_text
from triage_desk.intake.email.html_text import render_html
from triage_desk.intake.email.quotes import flatten_quotes
from triage_desk.intake.errors import Deadline, LimitExceeded, Unparseable
from triage_desk.intake.message import Attachment

MAX_DEPTH = 40  # MIME nesting deeper than this is not a real mail
_BODY_TYPES = frozenset({"text/plain", "text/html", "text/enriched", "text/richtext"})
_UNSAFE_NAME = re.compile(r"[\x00-\x1f\x7f]+")
_NOT_BASE64 = re.compile(r"[^A-Za-z0-9+/=]+")
_BASE64_CHUNK = re.compile(r"[A-Za-z0-9+/]+=*")
_ENRICHED_TAG = re.compile(r"<(/?[A-Za-z][\w-]*|/?param)>", re.I)
_NOT_SPACE = re.compile(r"\S")
# HTML is markup around the text: it may be this many times the text's size before it is
# cut unread.
HTML_MARKUP_FACTOR = 5
# Inline images (data: URIs) are markup, not text: they are taken out before that cut.
_DATA_URI = re.compile(rb"data:[^\"'\s<>()]{256,}+", re.I)
_UUENCODE = frozenset({"x-uuencode", "uuencode", "uue", "x-uue"})
CUT_MARKER = (
    "[text cut at {limit:,} characters (email.max_text_chars): the raw mail keeps all of it; "
    "body sha256 {digest}]"
)


@dataclass(frozen=True)
class MimeContent:
    text: str
    attachments: tuple[Attachment, ...]
    html_only: bool  # the text was rendered from HTML (no usable text/plain)
    cut: bool = False  # there was more text than max_text_chars: ``text`` is its start


def content_type(part: Message) -> str:
    try:
        kind = part.get_content_type()
    except Exception:  # a Content-Type the stdlib cannot read
        return "application/octet-stream"
    return kind if kind.isascii() else "application/octet-stream"


def disposition(part: Message) -> str | None:
    try:
        return part.get_content_disposition()
    except Exception:
        return None


def _lenient_base64(text: str) -> bytes:
    """Base64 as mail clients decode it: stray characters skipped, a cut-off end tolerated."""
    data = text.encode("ascii", "ignore")
    try:
        return binascii.a2b_base64(data)
    except (binascii.Error, ValueError):
        pass
    out = bytearray()
    for chunk in _BASE64_CHUNK.findall(_NOT_BASE64.sub("", text)):
        body = chunk.rstrip("=")
        rest = len(body) % 4
        if rest == 1:
            body = body[:-1]
        elif rest:
            body += "=" * (4 - rest)
        out += base64.b64decode(body)
    return bytes(out)


def payload_bytes(part: Message) -> bytes:
    """The part's body with its Content-Transfer-Encoding undone (unknown CTE: as it came)."""
    raw = stored_payload(part)
    if (
        isinstance(raw, str)
        and str(part.get("Content-Transfer-Encoding", "")).strip().lower() == "base64"
    ):
        return _lenient_base64(raw)
    try:
        payload = part.get_payload(decode=True)
    except Exception:
        payload = None
    if isinstance(payload, bytes):
        return payload
    raw = stored_payload(part)
    if isinstance(raw, str):
        return raw.encode("utf-8", "surrogateescape")
    return b""


def _transfer_encoding(part: Message) -> str:
    return str(part.get("Content-Transfer-Encoding", "")).strip().lower()


def _line_end(text: str, limit: int) -> int:
    """``limit``, moved back to just after a line break when there is one near it."""
    line = text.rfind("\n", max(0, limit - 4096), limit)
    return line + 1 if line >= 0 else limit


def payload_head(part: Message, limit: int) -> tuple[bytes, bool]:
    """The first ``limit`` bytes or so of ``payload_bytes(part)``, and whether it has more.

    Only the start of the transfer-encoded text is decoded: base64 needs 4 characters for
    3 bytes (and its line breaks), quoted-printable at most 3 for one.
    """
    raw = stored_payload(part)
    cte = _transfer_encoding(part)
    if not isinstance(raw, str) or cte in _UUENCODE:
        data = payload_bytes(part)
        return data[:limit], len(data) > limit
    if cte == "base64":
        need = limit * 3 // 2 + 1024
    elif cte == "quoted-printable":
        need = limit * 3 + 1024
    else:
        need = limit + 1
    more = False
    if len(raw) > need:
        end = _line_end(raw, need)
        more = _NOT_SPACE.search(raw, end) is not None
        raw = raw[:end]
    if cte == "base64":
        data = _lenient_base64(raw)
    else:
        try:
            data = raw.encode("ascii", "surrogateescape")
        except UnicodeEncodeError:  # a part built from text (not parsed from bytes)
            data = raw.encode("utf-8", "surrogateescape")
        if cte == "quoted-printable":
            data = quopri.decodestring(data)
    return data[:limit], more or len(data) > limit


def part_charset(part: Message) -> str | None:
    try:
        charset = part.get_param("charset")
    except Exception:
        return None
    if isinstance(charset, tuple):  # RFC 2231 form: (charset, language, value)
        charset = charset[2]
    return str(charset) if charset else None


@dataclass(frozen=True)
class PartText:
    text: str
    cut: bool  # the part has more than max_chars of text: only its start is here


def part_text(part: Message, deadline: Deadline, max_chars: int, max_quote_depth: int) -> PartText:
    """Readable text of a body part (HTML rendered), newlines normalised to \\n, at most
    ``max_chars`` of it, quotes at most ``max_quote_depth`` deep."""
    kind = content_type(part)
    markup = HTML_MARKUP_FACTOR if kind == "text/html" else 1
    with deadline.at("decoding"):
        data, more = payload_head(part, byte_bound(max_chars * markup))
        if markup > 1 and _DATA_URI.search(data):
            data = _DATA_URI.sub(b"data:", data)
        text, cut = decode_head(data, part_charset(part), max_chars * markup, more)
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if kind == "text/html":
        with deadline.at("HTML"):
            text, cut_html = render_html(text, deadline, max_chars, max_quote_depth)
        cut = cut or cut_html
    elif kind in ("text/enriched", "text/richtext"):
        text = _ENRICHED_TAG.sub("", text).replace("<<", "<")
    if kind != "text/html":
        text = flatten_quotes(text, max_quote_depth)
    if len(text) > max_chars:
        return PartText(text[:max_chars], True)
    return PartText(text, cut)


def text_of(part: Message, deadline: Deadline, rules: EmailConfig | None = None) -> str:
    """Readable text of a body part (``part_text`` within ``rules``' limits)."""
    rules = rules or EmailConfig()
    return part_text(part, deadline, rules.max_text_chars, rules.max_quote_depth).text


def filename_of(part: Message) -> str | None:
    """The decoded file name (RFC 2231 and encoded words), without any path, or None."""
    try:
        name = part.get_filename()
    except Exception:
        name = None
    if not name:
        return None
    name = fix_surrogates(str(name))
    if "=?" in name:
        name = decode_encoded_words(name)
    name = _UNSAFE_NAME.sub("", name).replace("\\", "/").rsplit("/", 1)[-1].strip()
    return name[:255] or None


_TEXT_LIKE = (
    "message/delivery-status",
    "message/disposition-notification",
    "text/rfc822-headers",
    "message/rfc822-headers",
)


# Extensions that must not depend on the machine's /etc/mime.types.
_EXTENSIONS = {
    "image/jpeg": ".jpg",
    "image/jpg": ".jpg",
    "image/pjpeg": ".jpg",
    "image/png": ".png",
    "image/gif": ".gif",
    "video/quicktime": ".mov",
    "text/plain": ".txt",
    "text/html": ".html",
    "text/calendar": ".ics",
    "message/rfc822": ".eml",
    "application/pdf": ".pdf",
    "audio/mpeg": ".mp3",
    "application/octet-stream": ".bin",
}


def _extension(kind: str) -> str:
    if kind in _TEXT_LIKE:
        return ".txt"
    if kind in _EXTENSIONS:
        return _EXTENSIONS[kind]
    return mimetypes.guess_extension(kind, strict=False) or (
        ".txt" if kind.startswith("text/") else ".bin"
    )


_TYPE_NAMES = {
    "text/html": "document",
    "text/plain": "text",
    "text/calendar": "invite",
    "message/delivery-status": "delivery-status",
}


def fallback_name(part: Message, kind: str) -> str:
    """A name for a part that has none, the way mail clients and Zammad make one up.

    An Outlook inline image's Content-ID (``image001.jpg@01CD...``), then ``image.jpg``,
    ``video.mov``, ``document.html`` by type, then a short Content-Description
    (``Delivery report.txt``), then the Content-ID, then ``attachment.ext``.
    """
    content_id = header_text(part, "Content-ID").strip().strip("<>")
    cid_local = _UNSAFE_NAME.sub("", content_id.split("@", 1)[0]).replace("/", "_")
    if re.fullmatch(r"[^.\s]+(\.[^.\s]+)*\.[A-Za-z0-9]{2,5}", cid_local):
        return cid_local
    maintype = kind.split("/", 1)[0]
    if maintype in ("image", "video", "audio"):
        return maintype + _extension(kind)
    description = _UNSAFE_NAME.sub("", header_text(part, "Content-Description"))
    description = description.replace("/", "_").strip(" .")
    if description and len(description) <= 80:
        return description + _extension(kind)
    if kind in _TYPE_NAMES:
        return _TYPE_NAMES[kind] + _extension(kind)
    if cid_local:
        return cid_local[:120]
    return "attachment" + _extension(kind)


def _numbered(name: str, taken: set[str]) -> str:
    """``video.mov``, ``video1.mov``, ``video2.mov``... for names we made up."""
    if name not in taken:
        return name
    stem, dot, extension = name.partition(".")
    counter = 1
    while f"{stem}{counter}{dot}{extension}" in taken:
        counter += 1
    return f"{stem}{counter}{dot}{extension}"


class _Walker:
    def __init__(self, rules: EmailConfig, deadline: Deadline, linesep: str) -> None:
        self.rules = rules
        self.deadline = deadline
        self.linesep = linesep
        self.attachments: list[Attachment] = []
        self.used_html = False
        self.used_plain = False
        self._texts: dict[int, PartText] = {}
        self.chars = 0  # of text collected so far
        self.cut = False  # some text was left out (max_text_chars)

    def text(self, part: Message) -> str:
        key = id(part)
        if key not in self._texts:
            self._texts[key] = part_text(
                part, self.deadline, self.rules.max_text_chars, self.rules.max_quote_depth
            )
        return self._texts[key].text

    def collect(self, part: Message, texts: list[str], kind: str) -> None:
        """The body part's text into ``texts`` while there is room; past it, only noted."""
        if self.chars >= self.rules.max_text_chars:
            self.cut = True
            return
        text = self.text(part).strip("\n")
        if not text.strip():
            return
        self.cut = self.cut or self._texts[id(part)].cut
        self.chars += len(text)
        texts.append(text)
        if kind == "text/html":
            self.used_html = True
        else:
            self.used_plain = True

    # texts is None when only attachments are wanted (an alternative that was not chosen).
    def walk(
        self,
        part: Message,
        depth: int,
        texts: list[str] | None,
        root: bool = False,
        in_report: bool = False,
        resource: bool = False,
    ) -> None:
        """Collect the part's text into ``texts`` and its files into the attachments.

        ``texts`` None: only files are wanted (an alternative that was not chosen).
        ``resource``: a non-root part of a multipart/related, a file even when it is text.
        """
        self.deadline.check()
        if depth > MAX_DEPTH:
            raise Unparseable(f"MIME parts nested deeper than {MAX_DEPTH} levels")
        kind = content_type(part)
        if kind == "message/delivery-status" or kind == "message/disposition-notification":
            self.add(part, kind, self._status_bytes(part))
            return
        payload = stored_payload(part)
        if kind.startswith("message/") and isinstance(payload, list) and payload:
            self.attached_message(part, payload[0], depth, texts, in_report)
            return
        if part.is_multipart() and isinstance(payload, list):
            if kind == "multipart/alternative" and not resource:
                self.alternative(payload, depth, texts)
            elif kind == "multipart/related" and not resource:
                root_part = self.related_root(part, payload)
                for sub in payload:
                    is_root = sub is root_part
                    self.walk(sub, depth + 1, texts if is_root else None, resource=not is_root)
            else:
                report = kind == "multipart/report"
                for sub in payload:
                    self.walk(sub, depth + 1, texts, in_report=report, resource=resource)
            return
        if kind.startswith("multipart/"):  # a multipart whose boundary never came: its text
            kind = "text/plain"
        if not resource and self.is_body(part, kind, root):
            if texts is not None:
                self.collect(part, texts, kind)
            return
        self.add(part, kind, payload_bytes(part))

    @staticmethod
    def related_root(part: Message, subs: list[Message]) -> Message:
        """The body of a multipart/related: the part named by ``start``, else the first."""
        start = str(part.get_param("start", "") or "").strip().strip("<>")
        if start:
            for sub in subs:
                if header_text(sub, "Content-ID").strip().strip("<>") == start:
                    return sub
        return subs[0]

    def is_body(self, part: Message, kind: str, root: bool) -> bool:
        if kind not in _BODY_TYPES:
            return False
        where = disposition(part)
        if where == "attachment":
            return False
        return root or filename_of(part) is None

    def alternative(self, subs: list[Message], depth: int, texts: list[str] | None) -> None:
        chosen: Message | None = None
        if texts is not None:
            for sub in subs:
                if (
                    content_type(sub) == "text/plain"
                    and disposition(sub) != "attachment"
                    and self.text(sub).strip()
                ):
                    chosen = sub
                    break
            if chosen is None:
                for sub in reversed(subs):
                    if content_type(sub) == "text/html" or sub.is_multipart():
                        chosen = sub
                        break
        for sub in subs:
            self.walk(sub, depth + 1, texts if sub is chosen else None)

    def attached_message(
        self, part: Message, inner: Message, depth: int, texts: list[str] | None, in_report: bool
    ) -> None:
        """A mail inside the mail. Forwarded inline, its text joins the text under a header
        block; attached as a file (or returned inside a bounce), it is an ``.eml`` only."""
        inline = disposition(part) != "attachment" and not in_report
        if texts is not None and inline:
            inner_texts: list[str] = []
            self.walk(inner, depth + 1, inner_texts, root=True)
            block = header_block(inner)
            body = "\n\n".join(inner_texts)
            texts.append(f"{block}\n\n{body}" if body else block)
        else:
            self.walk(inner, depth + 1, None, root=True)
        name = filename_of(part)
        if not name:
            subject = header_text(inner, "Subject")
            description = header_text(part, "Content-Description")
            name = eml_filename(inner) if subject or not description else f"{description}.eml"
        self.add(
            part,
            "message/rfc822",
            message_bytes(inner, source_linesep(inner, self.linesep)),
            name=name,
        )

    def _status_bytes(self, part: Message) -> bytes:
        payload = stored_payload(part)
        if isinstance(payload, list):
            linesep = self.linesep
            for block in payload:
                linesep = source_linesep(block, linesep)
            data = b"".join(message_bytes(block, linesep) for block in payload)
            ending = linesep.encode()
            return data[: -len(ending)] if data.endswith(ending * 2) else data
        return payload_bytes(part)

    def add(self, part: Message, kind: str, data: bytes, name: str | None = None) -> None:
        limit = self.rules.max_attachments
        if len(self.attachments) >= limit:
            raise LimitExceeded(
                f"more than {limit} attachments; raise email.max_attachments to take it"
            )
        name = name or filename_of(part)
        if not name:
            name = _numbered(fallback_name(part, kind), {a.filename for a in self.attachments})
        content_id = header_text(part, "Content-ID").strip().strip("<>").strip() or None
        where = disposition(part)
        size = len(data)
        dropped = None
        if size > self.rules.max_attachment_bytes:
            dropped = (
                f"{size} bytes is over max_attachment_bytes "
                f"({self.rules.max_attachment_bytes}); metadata kept, bytes not stored"
            )
            data = b""
        self.attachments.append(
            Attachment(
                filename=name,
                content_type=kind,
                data=data,
                content_id=content_id,
                inline=where == "inline" or (where is None and content_id is not None),
                dropped_reason=dropped,
                size=size,
            )
        )


def extract(
    message: Message,
    rules: EmailConfig | None = None,
    deadline: Deadline | None = None,
    linesep: str = "\n",
) -> MimeContent:
    """The readable text and the attachments of a parsed mail."""
    rules = rules or EmailConfig()
    walker = _Walker(rules, deadline or Deadline.none(), linesep)
    texts: list[str] = []
    walker.walk(message, 0, texts, root=True)
    text = "\n\n".join(texts).strip("\n")
    cut = walker.cut or len(text) > rules.max_text_chars
    return MimeContent(
        text=text[: rules.max_text_chars].rstrip() if cut else text,
        attachments=tuple(walker.attachments),
        html_only=walker.used_html and not walker.used_plain,
        cut=cut,
    )


def cut_marker(limit: int, body: bytes | memoryview) -> str:
    """The line that ends a cut text. The body's digest tells two long mails apart that
    differ only after the cut (deduplication compares the stored text)."""
    digest = hashlib.sha256(body).hexdigest()[:16]
    return CUT_MARKER.format(limit=limit, digest=digest)
