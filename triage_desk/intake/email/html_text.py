"""HTML mail → readable plain text, fast, bounded and with a time limit.

One job: render an HTML body as the text a person would read. Parsing is done by Lexbor
(through ``selectolax``), a C HTML5 parser that handles whatever browsers handle and parses
megabytes in milliseconds; the rendering walk is our own, iterative (10,000 nested ``<div>``s
cannot overflow a stack) and checks the cooperative ``Deadline`` as it goes.

Bounded: Lexbor's time grows with the square of the nesting of block elements (it walks its
stack of open elements for each one) and cannot be interrupted, so tags nested deeper than
``MAX_NESTING`` are taken out before it parses (their text stays). The walk stops once the
text is ``max_chars`` long (a node counts as one character at least, so markup without text
is bounded too), and quotes deeper than ``max_quote_depth`` keep that depth's prefix:
the output is linear in the input.

Readable means: paragraphs and line breaks kept, links kept as ``text <url>``, list items as
``- item``, table cells joined by `` | ``, quoted HTML replies (``<blockquote>``) prefixed with
``> `` so quote splitting recognises them, images as ``[image: alt]``; scripts, styles and
comments dropped.
"""

from __future__ import annotations

import re

from selectolax.lexbor import LexborHTMLParser, LexborNode

from triage_desk.intake.errors import Deadline

_SKIP = frozenset(
    {
        "script",
        "style",
        "head",
        "title",
        "template",
        "noscript",
        "svg",
        "object",
        "iframe",
        "select",
        "option",
        "-comment",
        "-doctype",
        "meta",
        "link",
    }
)
_BLOCK = frozenset(
    {
        "address",
        "article",
        "aside",
        "center",
        "dd",
        "details",
        "dialog",
        "dir",
        "div",
        "dl",
        "dt",
        "fieldset",
        "figcaption",
        "figure",
        "footer",
        "form",
        "header",
        "hgroup",
        "main",
        "menu",
        "nav",
        "section",
        "summary",
        "tbody",
        "thead",
        "tfoot",
        "caption",
        "legend",
    }
)
_PARAGRAPH = frozenset(
    {"p", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "table", "pre", "blockquote"}
)
_CHECK_EVERY = 256
_CHECK_TAGS_EVERY = 4096
MAX_NESTING = 500  # far deeper than any mail client nests; Lexbor is quick up to here
DEFAULT_QUOTE_DEPTH = 20
# A tag that opens or closes, its name ("/div" when it closes): `*+` (possessive) so text
# that never closes a tag costs one scan, not one per character.
_TAG = re.compile(r"<(/?[A-Za-z][A-Za-z0-9-]*+)[^<>]*+>")
# Elements that do not nest: void, or closed by the next one of their kind.
_FLAT = frozenset(
    {
        "area",
        "base",
        "br",
        "col",
        "embed",
        "hr",
        "img",
        "input",
        "link",
        "meta",
        "param",
        "source",
        "track",
        "wbr",
        "p",
        "li",
        "dt",
        "dd",
        "tr",
        "td",
        "th",
        "option",
        "optgroup",
        "thead",
        "tbody",
        "tfoot",
        "colgroup",
        "caption",
        "rb",
        "rt",
        "rp",
    }
)
_SPACES = re.compile(r"[ \t\r\n\f\u200b\u200c\u200d\u2060\ufeff]+")
_ZERO_WIDTH = re.compile(r"[\u200b\u200c\u200d\u2060\ufeff\u00ad]")
_LINK_SCHEMES = ("http://", "https://", "ftp://", "mailto:", "tel:")


class _Full(Exception):
    """The text has reached its limit: the walk stops there."""


class _Writer:
    """Collects text into lines; a line remembers the blockquote depth it was written at.

    ``size`` counts what was written (a line break as one character): past ``max_chars``
    the writer raises ``_Full``.
    """

    def __init__(self, max_chars: int | None, max_quote_depth: int) -> None:
        self.lines: list[str] = []
        self.current: list[str] = []
        self.depth = 0
        self.line_depth = 0
        self.pending_blank = False
        self.size = 0
        self.max_chars = max_chars
        # One prefix string per depth, made once: deeper quotes keep the deepest prefix.
        self.prefixes = ["> " * depth for depth in range(max_quote_depth + 1)]

    def prefix(self, depth: int) -> str:
        return self.prefixes[min(depth, len(self.prefixes) - 1)]

    def grow(self, chars: int) -> None:
        self.size += chars
        if self.max_chars is not None and self.size > self.max_chars:
            raise _Full

    def text(self, value: str, keep_spaces: bool = False) -> None:
        if not value:
            return
        if not self.current:
            if not keep_spaces:
                value = value.lstrip(" ")
            if not value.strip():
                return
            if self.pending_blank and self.lines and self.lines[-1] != "":
                self.lines.append("")
                self.grow(1)
            self.pending_blank = False
            self.line_depth = self.depth
        self.current.append(value)
        self.grow(len(value))

    def newline(self) -> None:
        if self.current:
            line = "".join(self.current).rstrip()
            prefix = self.prefix(self.line_depth)
            self.lines.append(prefix + line)
            self.current = []
            self.grow(len(prefix) + 1)

    def paragraph(self) -> None:
        self.newline()
        self.pending_blank = True

    def hard_break(self) -> None:
        if self.current:
            self.newline()
        else:
            prefix = self.prefix(self.depth)
            self.lines.append(prefix)
            self.grow(len(prefix) + 1)

    def result(self) -> str:
        self.newline()
        out: list[str] = []
        blank = 0
        for line in self.lines:
            if "\t" in line:
                cells = [c.strip() for c in line.split("\t")]
                line = " | ".join(c for c in cells if c)
            if not line.strip(" >"):
                blank += 1
                if blank > 1:
                    continue
                line = ""
            else:
                blank = 0
            out.append(line)
        return "\n".join(out).strip("\n")


def _same_target(label: str, href: str) -> bool:
    def bare(value: str) -> str:
        value = value.strip().lower()
        for prefix in ("mailto:", "https://", "http://", "www."):
            if value.startswith(prefix):
                value = value[len(prefix) :]
        return value.rstrip("/")

    return bare(label) == bare(href) or not bare(href)


class _Renderer:
    def __init__(self, deadline: Deadline, max_chars: int | None, max_quote_depth: int) -> None:
        self.deadline = deadline
        self.out = _Writer(max_chars, max_quote_depth)
        self.cut = False  # the walk stopped at max_chars
        self.pre = 0
        self.links: list[tuple[str, int]] = []  # href, position in output when opened
        self.ordered: list[int] = []  # counters of open <ol>s (0 for <ul>)

    def enter(self, node: LexborNode, tag: str) -> bool:
        """Write what comes before the node's children; False to skip its children."""
        if tag == "-text":
            value = node.text_content or ""
            if self.pre:
                lines = value.split("\n")
                for index, line in enumerate(lines):
                    if index:
                        self.out.hard_break()
                    self.out.text(line.replace("\t", "    "), keep_spaces=True)
            else:
                self.out.text(_SPACES.sub(" ", value))
            return False
        if tag in _SKIP:
            return False
        out = self.out
        if tag == "br":
            out.hard_break()
        elif tag in _PARAGRAPH:
            out.paragraph()
            if tag == "blockquote":
                out.depth += 1
            elif tag == "pre":
                self.pre += 1
            elif tag == "ol":
                self.ordered.append(1)
            elif tag == "ul":
                self.ordered.append(0)
        elif tag in _BLOCK:
            out.newline()
        elif tag == "li":
            out.newline()
            number = self.ordered[-1] if self.ordered else 0
            if number:
                self.ordered[-1] += 1
                out.text(f"{number}. ")
            else:
                out.text("- ")
        elif tag == "tr":
            out.newline()
        elif tag == "hr":
            out.paragraph()
        elif tag == "img":
            alt = (node.attributes.get("alt") or "").strip()
            if alt:
                out.text(f"[image: {_SPACES.sub(' ', alt)}]")
        elif tag == "a":
            href = (node.attributes.get("href") or "").strip()
            self.links.append((href, len(out.current)))
        return True

    def leave(self, tag: str) -> None:
        out = self.out
        if tag in _PARAGRAPH:
            if tag == "blockquote":
                out.newline()
                out.depth = max(0, out.depth - 1)
            elif tag == "pre":
                self.pre = max(0, self.pre - 1)
            elif tag in ("ol", "ul") and self.ordered:
                self.ordered.pop()
            out.paragraph()
        elif tag in _BLOCK or tag in ("li", "tr"):
            out.newline()
        elif tag in ("td", "th"):
            out.text("\t")
        elif tag == "a" and self.links:
            href, start = self.links.pop()
            if href.lower().startswith(_LINK_SCHEMES):
                label = "".join(out.current[start:]) if start <= len(out.current) else ""
                if not _same_target(label, href):
                    target = href[7:] if href.lower().startswith("mailto:") else href
                    out.text(f" <{target}>" if label.strip() else target)

    def render(self, root: LexborNode) -> str:
        """The text, up to max_chars (then ``cut`` is set)."""
        try:
            self.walk(root)
        except _Full:
            self.cut = True
            self.out.max_chars = None  # what was written is kept as it is
        return self.out.result()

    def walk(self, root: LexborNode) -> None:
        """Depth-first walk over sibling/child/parent links: no recursion, any depth."""
        root_id = root.mem_id
        node: LexborNode | None = root.child
        count = 0
        while node is not None:
            count += 1
            if count % _CHECK_EVERY == 0:
                self.deadline.check()
                self.out.grow(_CHECK_EVERY)  # markup without text counts too
            tag = node.tag or ""
            descend = self.enter(node, tag)
            child = node.child if descend else None
            if child is not None:
                node = child
                continue
            if descend:
                self.leave(tag)
            while node is not None:
                following = node.next
                if following is not None:
                    node = following
                    break
                node = node.parent
                if node is None or node.mem_id == root_id:
                    node = None
                    break
                self.leave(node.tag or "")


def _tag_kind(tag: str) -> tuple[bool, bool]:
    """(whether the tag nests, whether it closes) for a name as ``_TAG`` finds it."""
    closing = tag.startswith("/")
    return tag.lstrip("/").lower() not in _FLAT, closing


def _nested_deeper(markup: str, limit: int, deadline: Deadline) -> bool:
    """Whether tags nest deeper than ``limit``: the names found at C speed, then counted."""
    kinds: dict[str, tuple[bool, bool]] = {}
    depth = 0
    for count, tag in enumerate(_TAG.findall(markup)):
        if count % _CHECK_TAGS_EVERY == 0:
            deadline.check()
        kind = kinds.get(tag)
        if kind is None:
            kind = kinds[tag] = _tag_kind(tag)
        if not kind[0]:
            continue
        if kind[1]:
            depth -= 1 if depth else 0
        else:
            depth += 1
            if depth > limit:
                return True
    return False


def flatten_nesting(markup: str, limit: int = MAX_NESTING, deadline: Deadline | None = None) -> str:
    """``markup`` with the tags nested deeper than ``limit`` taken out, their text kept.

    The nesting is counted from the tags as written (elements that do not nest left out),
    which is what Lexbor's cost follows; none of it when the tags do not nest that deep.
    """
    deadline = deadline or Deadline.none()
    if markup.count("<") <= limit or not _nested_deeper(markup, limit, deadline):
        return markup
    pieces: list[str] = []
    position = depth = 0
    for count, match in enumerate(_TAG.finditer(markup)):
        if count % _CHECK_TAGS_EVERY == 0:
            deadline.check()
        nests, closing = _tag_kind(match.group(1))
        if not nests:
            continue
        if not closing:
            depth += 1
        if depth > limit:
            pieces.append(markup[position : match.start()])
            position = match.end()
        if closing:
            depth -= 1 if depth else 0
    pieces.append(markup[position:])
    return "".join(pieces)


def render_html(
    markup: str,
    deadline: Deadline | None = None,
    max_chars: int | None = None,
    max_quote_depth: int = DEFAULT_QUOTE_DEPTH,
) -> tuple[str, bool]:
    """Readable text of an HTML document or fragment, and whether it was cut at
    ``max_chars`` (raises ProcessingTimeout when late)."""
    deadline = deadline or Deadline.none()
    if not markup.strip():
        return "", False
    tree = LexborHTMLParser(flatten_nesting(markup, MAX_NESTING, deadline))
    deadline.check()
    root = tree.body or tree.root
    if root is None:
        return "", False
    renderer = _Renderer(deadline, max_chars, max_quote_depth)
    text = renderer.render(root)
    return _ZERO_WIDTH.sub("", text.replace("\xa0", " ")), renderer.cut


def html_to_text(
    markup: str,
    deadline: Deadline | None = None,
    max_chars: int | None = None,
    max_quote_depth: int = DEFAULT_QUOTE_DEPTH,
) -> str:
    """Readable text of an HTML document or fragment (``render_html`` without the flag)."""
    return render_html(markup, deadline, max_chars, max_quote_depth)[0]
