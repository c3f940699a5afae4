"""Where reply templates live and which exist, without loading Jinja2.

``render`` renders them; configuration validation asks only whether a template exists
(a ``reply_template`` that names none would fail at the first mail that needs it), and
should not pay for importing the template engine at every start.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

PACKAGE_TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
DEFAULT_DESK = "default"
SUFFIX = ".txt.j2"
NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_-]*$")  # desk and kind: never a path


def template_languages(kind: str, desk: str, directories: Iterable[Path]) -> set[str]:
    """Languages that have their own ``kind`` template for ``desk`` (its own or default)."""
    found: set[str] = set()
    for directory in directories:
        for folder in dict.fromkeys([desk, DEFAULT_DESK]):
            for path in (Path(directory) / folder).glob(f"{kind}.*{SUFFIX}"):
                language = path.name[len(kind) + 1 : -len(SUFFIX)]
                if NAME_RE.match(language):
                    found.add(language)
    return found
