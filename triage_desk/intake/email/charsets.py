"""Bytes → text for mail whose charset is declared wrongly, unknown or missing.

One job: turn the bytes of a body part or a header into ``str`` without ever failing and
without storing U+FFFD replacement characters when a plausible charset decodes cleanly.
Order: UTF-16/32 when declared or obvious (a byte-order mark, or the NUL bytes such text
has), the declared charset (unless the bytes are clean UTF-8 under a single-byte label),
then UTF-8, then the single-byte charsets our writers really use (Baltic windows-1257,
Cyrillic windows-1251 and KOI8-R, Western windows-1252) chosen by a plausibility score,
then Latin-1, which decodes anything.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import quopri
import re

# Labels seen in real mail that Python does not know, or knows under a narrower codec.
_ALIASES = {
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "ks_c_5601-1987": "cp949",
    "ks_c_5601": "cp949",
    "euc-kr": "cp949",
    "iso-8859-8-i": "iso-8859-8",
    "iso-8859-8-e": "iso-8859-8",
    "x-mac-roman": "mac_roman",
    "macintosh": "mac_roman",
    "windows-874": "cp874",
    "unicode-1-1-utf-7": "utf-7",
    "x-unicode20utf8": "utf-8",
    "utf8": "utf-8",
    "shift-jis": "cp932",
    "shift_jis": "cp932",
    "x-sjis": "cp932",
    "iso-8859-1": "cp1252",  # what every "Latin-1" mailer really writes
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "us-ascii": "ascii",
    "ansi_x3.4-1968": "ascii",
    "iso-8859-13": "iso-8859-13",
    "x-cp1257": "cp1257",
    "x-cp1251": "cp1251",
    "ucs-2": "utf-16",
    "ucs2": "utf-16",
    "unicode": "utf-16",  # what Windows mailers write for UTF-16
    "unicodefffe": "utf-16-be",
}
# Labels that mean "we do not know".
_UNKNOWN = {"", "unknown-8bit", "x-unknown", "unknown", "default", "x-user-defined", "charset"}
# Codecs Python knows that decode no mail text: no encoding at all, escape decoders (they
# would turn the text "\x00" into a NUL), and the domain-name codecs. Bytes-to-bytes codecs
# (zlib, base64, rot13...) are refused by their CodecInfo.
_NOT_TEXT = {"undefined", "unicode-escape", "raw-unicode-escape", "charmap", "idna", "punycode"}
_WIDE = ("utf-16", "utf-32")
# Longest first: the UTF-32 LE mark begins with the UTF-16 LE one.
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_WIDE_SAMPLE = 4096
# Codecs that encode text as pure ASCII bytes: ASCII-only data must still go through them.
_ASCII_SHAPED = ("utf-7", "iso2022", "hz", "utf-16", "utf-32")
_SINGLE_BYTE_GUESSES = ("cp1257", "cp1251", "koi8_r", "cp1252")
# Mislabelled East Asian mail (Shift_JIS under an ISO-2022-JP label, GB2312 undeclared...).
_MULTIBYTE_GUESSES = ("gb18030", "cp932", "big5", "cp949")
# A declared codec that fails strictly is retried as the superset mailers really used.
_SUPERSETS = {
    "iso2022_jp": ("iso2022_jp_2004", "iso2022_jp_3", "iso2022_jp_ext", "iso2022_jp_2"),
    "shift_jis": ("cp932", "shift_jis_2004"),
    "cp932": ("shift_jis_2004",),
    "euc_jp": ("euc_jis_2004",),
    "big5": ("big5hkscs", "cp950"),
    "cp1252": ("latin-1",),
}
_MULTIBYTE = {
    "utf-8",
    "gb18030",
    "big5",
    "big5hkscs",
    "cp932",
    "cp949",
    "euc_jp",
    "shift_jis",
    "euc_kr",
    "cp950",
    "johab",
    "utf-7",
    "iso2022_jp",
    "iso2022_kr",
    "hz",
}

_BALTIC = set("āčēģīķļņšūžĀČĒĢĪĶĻŅŠŪŽąęėįųĄĘĖĮŲõÕäÄöÖüÜ")
# The most frequent Chinese characters (simplified and shared): tells GB from Big5 readings.
_COMMON_HAN = set(
    "的一是不了人我在有他这中大来上国个到说们为子和你地出道也时年得就那要下以生会自"
    "着去之过家学对可她里后小么心多天而能好都然没日于起还发成事只作当想看文无开手十用"
    "主行方又如前所本见经头面公同三已老从动两长知民样现分将外但身些与高意进把法此实回"
    "二理美点月明其种声全工己话儿者向情部正名定女问力机给等几很业最间新什打便位因重被"
    "务服企提升整体水平转"
)
_PUNCT = set("„“”‘’«»–—…€•·№ §©°\xa0")
_CYR_WORD = re.compile(r"[\u0400-\u04ff]+")
_CJK_RUN = re.compile(r"[\u3000-\u30ff\u4e00-\u9fff\uac00-\ud7af\uff01-\uff5e]{2,}")
_KANA = re.compile(r"[\u3040-\u30ff]")
_CJK_MIXED = re.compile(
    r"[A-Za-z\u00c0-\u04ff][\u3040-\u9fff\uac00-\ud7af]"
    r"|[\u3040-\u9fff\uac00-\ud7af][A-Za-z\u00c0-\u04ff]"
)
_MIXED = re.compile(
    r"[A-Za-z][\u0400-\u04ff]|[\u0400-\u04ff][A-Za-z]"
    r"|[\u00c0-\u024f][\u0400-\u04ff]|[\u0400-\u04ff][\u00c0-\u024f]"
)
_CASE_FLIP = re.compile(r"[а-яё][А-ЯЁ]")
_ACCENT_PAIR = re.compile(r"[\u00c0-\u024f]{2}")
_UNLIKELY = re.compile(
    r"[\x80-\x9f\u2500-\u25ff\u2320\u2321\u2219\u221a\u2248\u2264\u2265"
    r"\u00a4\u00a6\u00a8\u00ac\u00af\u00b1-\u00b6\u00b8-\u00ba\u00bc-\u00bf"
    r"\u00d7\u00f7\u00de\u00fe\u00f0\u00d0\uff61-\uff9f\ue000-\uf8ff]"
)
_HIGH_WORD = re.compile(rb"[^\s]*[\x80-\xff][^\s]*")
_SURROGATES = re.compile(r"[\udc80-\udcff]+")


def codec_for(label: str | None) -> str | None:
    """The Python codec for a declared charset label, or None when unknown or absent."""
    if label is None:
        return None
    name = label.strip().strip("\"'").lower()
    if "*" in name:  # RFC 2231 language suffix: utf-8*lv
        name = name.split("*", 1)[0]
    if name in _UNKNOWN or not name.isascii() or not name.isprintable():
        return None  # raw 8-bit bytes or control characters in a label: no real charset
    name = _ALIASES.get(name, name)
    try:
        info = codecs.lookup(name)
    except (LookupError, ValueError):
        return None
    if not getattr(info, "_is_text_encoding", True) or info.name in _NOT_TEXT:
        return None  # zlib, rot13, undefined...: a bogus label, the charset is unknown
    return info.name


def _wide_codec(data: bytes) -> str | None:
    """UTF-16 or UTF-32 that shows itself: a byte-order mark, or NUL bytes where such text has
    them (every other byte of Latin text in UTF-16, three of four in UTF-32) and nowhere else."""
    for bom, codec in _BOMS:
        if data.startswith(bom):
            return codec  # Python's utf-16/utf-32 read the mark and drop it
    sample = data[:_WIDE_SAMPLE]
    sample = sample[: len(sample) - len(sample) % 4]
    if b"\x00" not in sample:
        return None
    units = len(sample) // 4
    nuls = [sample[k::4].count(0) for k in range(4)]
    if nuls[2] == nuls[3] == units and nuls[0] < units:
        return "utf-32-le"
    if nuls[0] == nuls[1] == units and nuls[3] < units:
        return "utf-32-be"
    even, odd = nuls[0] + nuls[2], nuls[1] + nuls[3]
    # A character such as U+0100 (Ā) puts a NUL on the other side now and then.
    if odd * 10 >= 2 * units and even * 8 <= odd:
        return "utf-16-le"
    if even * 10 >= 2 * units and odd * 8 <= even:
        return "utf-16-be"
    return None


def _utf8_under_wide_label(data: bytes) -> bool:
    """Valid UTF-8 without a NUL or a mark: a UTF-16/32 label on it is a mislabel (Latin or
    Cyrillic text in UTF-16 has NUL bytes, if only in its spaces)."""
    if b"\x00" in data[:_WIDE_SAMPLE] or data.startswith(tuple(b for b, _c in _BOMS)):
        return False
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _decode_wide(data: bytes, codec: str) -> str | None:
    """``data`` in a UTF-16/32 codec; None when that reading is mostly broken."""
    if not codec.endswith(("-le", "-be")):
        # No byte order in the label: the mark's, else the NULs', else big-endian (RFC 2781).
        detected = _wide_codec(data)
        if detected is not None and detected.startswith(codec):
            codec = detected
        elif not data.startswith(tuple(bom for bom, _codec in _BOMS)):
            codec += "-be"
    try:
        text = data.decode(codec)
    except UnicodeError:
        text = data.decode(codec, errors="replace")
        if text.count("\ufffd") * 200 > len(data):
            return None
    return text[1:] if text.startswith("\ufeff") else text


def _score(text: str) -> float:
    """How much ``text`` looks like real lv/ru/en/Western/CJK writing (higher is likelier)."""
    score = 0.0
    for ch in text:
        if ch < "\x80":
            continue
        if ch in _BALTIC:
            score += 2
        elif "\u0430" <= ch <= "\u045f":  # lower-case Cyrillic: most of any real text
            score += 1.5
        elif ch in _COMMON_HAN:
            score += 2
        elif "\u0400" <= ch <= "\u04ff" or ch in _PUNCT or ch.isalpha():
            score += 1
    score += sum(len(w) for w in _CYR_WORD.findall(text) if len(w) > 1)
    score += 2 * sum(len(w) for w in _CJK_RUN.findall(text)) + len(_KANA.findall(text))
    score -= 4 * len(_CJK_MIXED.findall(text))
    score -= 4 * len(_MIXED.findall(text))
    score -= 3 * len(_CASE_FLIP.findall(text))
    score -= 1.5 * len(_ACCENT_PAIR.findall(text))
    score -= 6 * len(_UNLIKELY.findall(text))
    return score


def _best(sample: bytes, codecs_: tuple[str, ...]) -> tuple[float, str | None]:
    best: tuple[float, str | None] = (float("-inf"), None)
    for codec in codecs_:
        try:
            score = _score(sample.decode(codec))
        except UnicodeDecodeError:
            continue
        if score > best[0]:
            best = (score, codec)
    return best


def guess_decode(data: bytes) -> str:
    """Bytes of unknown charset: UTF-8 when valid, else the likeliest charset.

    Only the words that hold 8-bit bytes are scored (the ASCII rest says nothing), and the
    East Asian multibyte readings are tried only when no single-byte reading looks right.
    """
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    words = _HIGH_WORD.findall(data, 0, 1_000_000)
    sample = b" ".join(words[:2000])
    score, codec = _best(sample, _SINGLE_BYTE_GUESSES)
    high = sum(1 for byte in sample if byte > 0x7F)
    if codec is None or score < high:
        multi_score, multi_codec = _best(sample, _MULTIBYTE_GUESSES)
        if multi_codec is not None and multi_score > score:
            codec = multi_codec
    for candidate in ((codec,) if codec else ()) + _SINGLE_BYTE_GUESSES:
        try:
            return data.decode(candidate)
        except UnicodeError:
            continue
    return data.decode("latin-1")


def _iso2022jp_microsoft(data: bytes) -> str:
    """ISO-2022-JP as Outlook writes it (CP50220: NEC and IBM extensions such as ①).

    Python's iso2022_jp codecs refuse those rows; the JIS pairs are mapped to Shift_JIS and
    decoded as cp932, which has them. Raises UnicodeDecodeError when that fails too.
    """
    out = bytearray()
    mode = "ascii"
    index = 0
    while index < len(data):
        if data.startswith((b"\x1b$B", b"\x1b$@"), index):
            mode, index = "jis", index + 3
            continue
        if data.startswith((b"\x1b(B", b"\x1b(J"), index):
            mode, index = "ascii", index + 3
            continue
        if data.startswith(b"\x1b(I", index):
            mode, index = "kana", index + 3
            continue
        byte = data[index]
        if mode == "jis" and byte > 0x20 and index + 1 < len(data):
            first, second = byte, data[index + 1]
            if not (0x21 <= first <= 0x7E and 0x21 <= second <= 0x7E):
                raise UnicodeDecodeError("iso2022_jp", data, index, index + 2, "not a JIS pair")
            if first & 1:
                low = second + 0x1F
                low += 1 if low >= 0x7F else 0
            else:
                low = second + 0x7E
            high = ((first - 0x21) >> 1) + 0x81
            high += 0x40 if high > 0x9F else 0
            out += bytes((high, low))
            index += 2
        elif mode == "kana" and 0x21 <= byte <= 0x5F:
            out.append(byte + 0x80)
            index += 1
        else:
            out.append(byte)
            index += 1
    return bytes(out).decode("cp932")


def decode_bytes(data: bytes, declared: str | None = None) -> str:
    """Decode ``data`` labelled ``declared``; never raises, never invents U+FFFD needlessly."""
    codec = codec_for(declared)
    if codec is not None and codec.startswith(_WIDE) and not _utf8_under_wide_label(data):
        text = _decode_wide(data, codec)
        return text if text is not None else guess_decode(data)
    wide = _wide_codec(data)  # NUL bytes or a UTF-16 mark are no text in any other charset
    text = _decode_wide(data, wide) if wide is not None else None
    if text is not None:
        return text
    if data.isascii() and (codec is None or not codec.startswith(_ASCII_SHAPED)):
        return data.decode("ascii")
    if codec is not None:
        if codec != "utf-8" and codec not in _MULTIBYTE:
            # A single-byte label on bytes that are valid UTF-8 is a mislabel: UTF-8 sequences
            # almost never occur by chance in real Latin or Cyrillic single-byte text.
            try:
                return data.decode("utf-8")
            except UnicodeDecodeError:
                pass
            if codec == "ascii":  # 8-bit bytes under an ASCII label: unknown, really
                return guess_decode(data)
        for candidate in (codec, *_SUPERSETS.get(codec, ())):
            try:
                return data.decode(candidate)
            except UnicodeError:  # some codecs raise the base class (punycode, utf-7...)
                pass
        if codec == "iso2022_jp":
            try:
                return _iso2022jp_microsoft(data)
            except UnicodeDecodeError:
                pass
        if codec != "utf-8" and (codec in _MULTIBYTE or codec.startswith(_ASCII_SHAPED)):
            # The mail's own multibyte label with a few broken bytes beats any guess.
            text = data.decode(codec, errors="replace")
            if text.count("\ufffd") * 200 <= len(data):
                return text
    return guess_decode(data)


# No charset we read needs more bytes for a character (UTF-8 and UTF-32 at most four).
MAX_BYTES_PER_CHAR = 4
_LINE_BREAK_WINDOW = 4096


def byte_bound(max_chars: int) -> int:
    """How many bytes of a text part can hold its first ``max_chars`` characters."""
    return max_chars * MAX_BYTES_PER_CHAR


def _head(data: bytes, limit: int, declared: str | None) -> bytes:
    """``data`` cut to at most ``limit`` bytes where a character ends: after a line break
    near the end, else (UTF-16/32) at a whole code unit, else before a cut UTF-8 sequence."""
    head = data[:limit]
    codec = codec_for(declared)
    if (codec is not None and codec.startswith(_WIDE)) or _wide_codec(head) is not None:
        return head[: len(head) - len(head) % 4]
    line = head.rfind(b"\n", max(0, len(head) - _LINE_BREAK_WINDOW))
    if line >= 0:
        return head[: line + 1]
    end = len(head)
    while end > len(head) - 3 and end > 0 and 0x80 <= head[end - 1] <= 0xBF:
        end -= 1
    if end > 0 and head[end - 1] >= 0xC0:  # the lead byte of the cut sequence
        end -= 1
    return head[:end]


def decode_head(
    data: bytes, declared: str | None, max_chars: int, more: bool = False
) -> tuple[str, bool]:
    """The first ``max_chars`` characters of ``data`` (as ``decode_bytes`` reads it), and
    whether anything was left out. Only ``byte_bound(max_chars)`` bytes are decoded; ``more``
    says ``data`` is itself only the start of the part."""
    cut = more
    limit = byte_bound(max_chars)
    if len(data) > limit:
        data = _head(data, limit, declared)
        cut = True
    text = decode_bytes(data, declared)
    if len(text) > max_chars:
        text = text[:max_chars]
        cut = True
    return text, cut


def fix_surrogates(text: str) -> str:
    """Text read with ``surrogateescape`` (raw 8-bit header bytes) → properly decoded text."""
    if not _SURROGATES.search(text):
        return text
    try:
        data = text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # surrogates outside the escape range: cannot be bytes
        return text.encode("utf-8", "replace").decode("utf-8")
    return guess_decode(data)


_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([qQbB])\?([^?]*)\?=")
_BETWEEN_WORDS = re.compile(r"(\?=)[ \t\r\n]+(=\?)")


def _word_bytes(encoding: str, payload: str) -> bytes:
    if encoding in "bB":
        clean = re.sub(r"[^A-Za-z0-9+/]", "", payload)
        clean += "=" * (-len(clean) % 4)
        try:
            return base64.b64decode(clean)
        except (binascii.Error, ValueError):
            return payload.encode("ascii", "replace")
    return quopri.decodestring(payload.replace("_", " ").encode("ascii", "replace"), header=True)


def decode_encoded_words(value: str) -> str:
    """RFC 2047 ``=?charset?Q|B?...?=`` words, with the same charset fallbacks as bodies.

    Adjacent encoded words are joined without the whitespace between them (RFC 2047 §6.2);
    words in one charset are decoded together, so a multibyte character split across two
    words survives.
    """
    if "=?" not in value:
        return value
    value = _BETWEEN_WORDS.sub(r"\1\2", value)
    out: list[str] = []
    pending: list[bytes] = []
    pending_charset: str | None = None
    position = 0

    def flush() -> None:
        nonlocal pending, pending_charset
        if pending:
            out.append(decode_bytes(b"".join(pending), pending_charset))
        pending, pending_charset = [], None

    for match in _ENCODED_WORD.finditer(value):
        if match.start() > position:
            flush()
            out.append(value[position : match.start()])
        charset = match.group(1)
        if pending and charset.lower() != (pending_charset or "").lower():
            flush()
        pending_charset = charset
        pending.append(_word_bytes(match.group(2), match.group(3)))
        position = match.end()
    flush()
    out.append(value[position:])
    return "".join(out)


def unfold(value: str) -> str:
    return re.sub(r"\r?\n[ \t]*", " ", value) if "\n" in value else value


def decode_header_text(raw: str) -> str:
    """A raw header value as read by the parser (8-bit bytes as surrogates) → clean text."""
    return unfold(decode_encoded_words(fix_surrogates(raw))).strip()
