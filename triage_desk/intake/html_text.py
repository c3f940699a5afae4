"""HTML mail → readable plain text, fast and with a time limit.

One job: render an HTML body as the text a person would read. Parsing is done by Lexbor
(through ``selectolax``), a C HTML5 parser that handles whatever browsers handle and parses
megabytes in milliseconds; the rendering walk is our own, iterative (10,000 nested ``<div>``s
cannot overflow a stack) and checks the cooperative ``Deadline`` as it goes.

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
_SPACES = re.compile(r"[ \t\r\n\f\u200b\u200c\u200d\u2060\ufeff]+")
_ZERO_WIDTH = re.compile(r"[\u200b\u200c\u200d\u2060\ufeff\u00ad]")
_LINK_SCHEMES = ("http://", "https://", "ftp://", "mailto:", "tel:")


class _Writer:
    """Collects text into lines; a line remembers the blockquote depth it was written at."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.current: list[str] = []
        self.depth = 0
        self.line_depth = 0
        self.pending_blank = False

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
            self.pending_blank = False
            self.line_depth = self.depth
        self.current.append(value)

    def newline(self) -> None:
        if self.current:
            line = "".join(self.current).rstrip()
            self.lines.append("> " * self.line_depth + line if self.line_depth else line)
            self.current = []

    def paragraph(self) -> None:
        self.newline()
        self.pending_blank = True

    def hard_break(self) -> None:
        if self.current:
            self.newline()
        else:
            self.lines.append("> " * self.depth if self.depth else "")

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
    def __init__(self, deadline: Deadline) -> None:
        self.deadline = deadline
        self.out = _Writer()
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
        """Depth-first walk over sibling/child/parent links: no recursion, any depth."""
        root_id = root.mem_id
        node: LexborNode | None = root.child
        count = 0
        while node is not None:
            count += 1
            if count % _CHECK_EVERY == 0:
                self.deadline.check()
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
        return self.out.result()


def html_to_text(markup: str, deadline: Deadline | None = None) -> str:
    """Readable text of an HTML document or fragment (raises ProcessingTimeout when late)."""
    deadline = deadline or Deadline.none()
    if not markup.strip():
        return ""
    tree = LexborHTMLParser(markup)
    deadline.check()
    root = tree.body or tree.root
    if root is None:
        return ""
    text = _Renderer(deadline).render(root)
    return _ZERO_WIDTH.sub("", text.replace("\xa0", " "))
