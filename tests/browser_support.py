"""What the browser tests share: Debian's Chromium (``/usr/bin/chromium``, or
``$TRIAGE_CHROMIUM``) driven by Playwright for Python, never a downloaded browser; and the
folder their screenshots are kept in for a reader of the run (``test-artifacts/``).

A test module calls ``require_chromium()`` before it imports Playwright: without Chromium it
is skipped with the reason, except with ``CI=true``, where that is an error.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import IN_CI

CHROMIUM = os.environ.get("TRIAGE_CHROMIUM", "/usr/bin/chromium")
ARTEFACTS = Path(__file__).resolve().parent.parent / "test-artifacts" / "screenshots"


def require_chromium() -> None:
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        if IN_CI:
            raise RuntimeError(f"CI=true but {CHROMIUM} is missing; .ci/run installs chromium")
        pytest.skip(
            f"no Chromium at {CHROMIUM} (apt-get install chromium)", allow_module_level=True
        )
    if not IN_CI:
        pytest.importorskip("playwright.sync_api", reason="pip install -e '.[dev]' adds playwright")


@contextmanager
def chromium() -> Iterator[Any]:
    """A headless Chromium for the ``with`` block (Playwright's ``Browser``)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox"]
        )
        try:
            yield browser
        finally:
            browser.close()


def screenshot(page: Any, name: str) -> Path:
    """The whole page as ``test-artifacts/screenshots/<name>.png``; its path."""
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTEFACTS / (re.sub(r"[^A-Za-z0-9_.-]", "_", name) + ".png")
    page.screenshot(path=str(path), full_page=True)
    return path
