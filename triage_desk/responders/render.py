"""Render replies from Jinja2 text templates, per kind, desk and language.

Layout: ``<templates>/<desk>/<kind>.<lang>.txt.j2`` overrides ``<templates>/default/...``.
The first line of a template file is ``Subject: ...``, the second is blank, the rest is the
body; both parts are Jinja2 and are rendered with the same context. Missing context
variables are errors (StrictUndefined), never blanks in a letter sent to a person.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2

from triage_desk.responders.localtime import DEFAULT_LANGUAGE, normalise_language
from triage_desk.responders.template_files import (
    DEFAULT_DESK,
    PACKAGE_TEMPLATES,
    SUFFIX,
    template_languages,
)
from triage_desk.responders.template_files import NAME_RE as _NAME_RE

_SUBJECT_PREFIX = "Subject:"
# Part markers on template names handed to Jinja: "default/acknowledgement.lv.txt.j2#body".
_SUBJECT_PART = "#subject"
_BODY_PART = "#body"
# Reply prefixes people's mail clients put in front of a subject (lv, en, ru and common others).
# "Re:", "RE[2]:", "Fwd:", "AW:", "Atb.:", "Pārs.:", "Отв:", "Ответ:", "Пересл.:", repeated.
_REPLY_PREFIX_RE = re.compile(
    r"^(?:\s*(?:re|fwd?|aw|sv|wg|atb|pārs|отв|ответ|пересл)(?:\[\d+\])?\.?\s*:)+\s*",
    re.IGNORECASE,
)


class RenderError(Exception):
    """A template cannot be rendered: bad format, or the context lacks a variable."""


class TemplateMissingError(RenderError, LookupError):
    """No template for this kind, desk and language (nor the English fallback)."""


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str


def without_reply_prefix(subject: str) -> str:
    """``"Re: AW: Fwd: Printer"`` → ``"Printer"``; so a reply says "Re:" once, not three times."""
    return _REPLY_PREFIX_RE.sub("", subject or "").strip()


def end_sentence(value: str) -> str:
    """Add the full stop that ends a sentence, unless the text already ends with one.

    Russian dates end in "г." ("30 мая 2027 г."), and "г.." would be wrong.
    """
    text = str(value).rstrip()
    return text if text.endswith((".", "!", "?", "…")) else text + "."


def join_words(values: Iterable[object], conjunction: str, left: str = "", right: str = "") -> str:
    """A list inside a sentence: ``["A", "B", "C"] | join_words("un", "„", "”")`` gives
    ``„A”, „B” un „C”``. No comma before the conjunction (Latvian, Russian and British usage);
    ``left`` and ``right`` are the language's quotation marks around each item.
    """
    items = [f"{left}{value}{right}" for value in values]
    if len(items) < 2:
        return "".join(items)
    return f"{', '.join(items[:-1])} {conjunction} {items[-1]}"


def _one_line(value: str) -> str:
    """A Subject is one line, and no control character of any origin reaches it."""
    return " ".join("".join(" " if c < " " or "\x7f" <= c <= "\x9f" else c for c in value).split())


class _SplitLoader(jinja2.BaseLoader):
    """Serves each template file as two templates: its subject line and its body.

    The body keeps the file's line numbers (the subject line becomes an empty line), so
    Jinja errors point at the right line of the real file.
    """

    def __init__(self, directories: Sequence[Path]) -> None:
        self._files = jinja2.FileSystemLoader([str(d) for d in directories], encoding="utf-8")

    def get_source(
        self, environment: jinja2.Environment, template: str
    ) -> tuple[str, str | None, Callable[[], bool] | None]:
        name, part = template.rsplit("#", 1)
        source, filename, uptodate = self._files.get_source(environment, name)
        source = source.removeprefix("\ufeff")  # an editor's byte-order mark is not text
        first, newline, rest = source.partition("\n")
        if not first.startswith(_SUBJECT_PREFIX):
            raise RenderError(
                f"{filename}: the first line must be 'Subject: ...', found {first[:60]!r}"
            )
        if rest.split("\n", 1)[0].strip():
            raise RenderError(f"{filename}: the second line must be blank (it ends the subject)")
        if "#" + part == _SUBJECT_PART:
            return first.removeprefix(_SUBJECT_PREFIX), filename, uptodate
        return newline + rest, filename, uptodate


def _autoescape(name: str | None) -> bool:
    # Plain text is never escaped; an HTML or XML variant, if one is added, always is.
    return bool(name) and any(f".{ext}." in name for ext in ("html", "htm", "xml"))


def _clean(text: str) -> str:
    """Trailing spaces off every line; no blank lines at the ends nor two in a row; one
    final newline. Conditional blocks can then be written readably without leaving gaps."""
    lines = [line.rstrip() for line in text.split("\n")]
    kept: list[str] = []
    for line in lines:
        if not line and (not kept or not kept[-1]):
            continue
        kept.append(line)
    while kept and not kept[-1]:
        kept.pop()
    return "\n".join(kept) + "\n"


class TemplateRenderer:
    """Finds and renders reply templates.

    ``template_dirs`` are searched first, in order, then the package's own templates, so a
    deployment overrides any file by putting one with the same relative path in its dir.
    Templates are read once per process (a changed or added file takes effect at the next
    start): intake renders one per mail, and checking the files each time cost more than
    rendering.
    """

    def __init__(self, template_dirs: Sequence[Path] | None = None) -> None:
        self.directories: tuple[Path, ...] = (
            *(Path(d) for d in template_dirs or ()),
            PACKAGE_TEMPLATES,
        )
        self._env = jinja2.Environment(
            loader=_SplitLoader(self.directories),
            undefined=jinja2.StrictUndefined,
            autoescape=_autoescape,
            trim_blocks=True,
            lstrip_blocks=True,
            auto_reload=False,
        )
        self._found: dict[tuple[str, str, str], str] = {}
        self._env.filters["without_reply_prefix"] = without_reply_prefix
        self._env.filters["end_sentence"] = end_sentence
        self._env.filters["join_words"] = join_words

    def candidates(self, kind: str, desk: str, language: str) -> list[str]:
        """Template names tried, best first: desk then default, the language then English.

        The language is normalised ("lv-LV" → "lv"; unknown → "en"), so it never reaches a
        path; ``kind`` and ``desk`` must be plain names.
        """
        for label, value in (("kind", kind), ("desk", desk)):
            if not _NAME_RE.match(value or ""):
                raise ValueError(
                    f"{label} {value!r} is not a plain name (letters, digits, '_' and '-')"
                )
        languages = dict.fromkeys([normalise_language(language), DEFAULT_LANGUAGE])
        desks = dict.fromkeys([desk, DEFAULT_DESK])
        return [f"{d}/{kind}.{lang}{SUFFIX}" for lang in languages for d in desks]

    def preload(self) -> int:
        """Compile every template now, so the first reply after a start does not wait for it
        (Jinja compiles a template at its first use); how many were compiled."""
        names = sorted(
            {
                path.relative_to(directory).as_posix()
                for directory in self.directories
                for path in directory.rglob("*" + SUFFIX)
            }
        )
        for name in names:
            for part in (_SUBJECT_PART, _BODY_PART):
                self._env.get_template(name + part)
        return len(names)

    def _find(self, kind: str, desk: str, language: str) -> str:
        key = (kind, desk, language)
        if key in self._found:
            return self._found[key]
        tried = self.candidates(kind, desk, language)
        for name in tried:
            if any((directory / name).is_file() for directory in self.directories):
                self._found[key] = name
                return name
        places = ", ".join(str(d) for d in self.directories)
        raise TemplateMissingError(
            f"no template for kind {kind!r}, desk {desk!r}, language {language!r}; "
            f"tried {', '.join(tried)} in {places}"
        )

    def render(self, kind: str, desk: str, language: str, context: Mapping[str, Any]) -> Rendered:
        """Render ``kind`` for ``desk`` in ``language`` (falling back to English)."""
        name = self._find(kind, desk, language)
        try:
            subject = self._env.get_template(name + _SUBJECT_PART).render(context)
            body = self._env.get_template(name + _BODY_PART).render(context)
        except jinja2.UndefinedError as exc:
            raise RenderError(f"{name}: {exc} (add it to the context)") from exc
        except jinja2.TemplateSyntaxError as exc:
            raise RenderError(f"{exc.filename or name}:{exc.lineno}: {exc.message}") from exc
        return Rendered(subject=_one_line(subject), text=_clean(body))

    def languages(self, kind: str, desk: str) -> set[str]:
        """Languages that have their own ``kind`` template for ``desk`` (its own or default)."""
        self.candidates(kind, desk, DEFAULT_LANGUAGE)  # validates the names
        return template_languages(kind, desk, self.directories)
