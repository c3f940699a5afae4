"""The public web form in a real headless Chromium (Debian's ``chromium``, driven by
Playwright; no browser is downloaded): typing brings knowledge-base suggestions (form.js
under the page's CSP), sending shows the ticket number and due time. Screenshots go to
pytest's tmp dir, like the console's."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.conftest import IN_CI
from tests.console_support import make_world
from tests.web_form_support import site

CHROMIUM = os.environ.get("TRIAGE_CHROMIUM", "/usr/bin/chromium")

if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
    if IN_CI:
        raise RuntimeError(f"CI=true but {CHROMIUM} is missing; .ci/run installs chromium")
    pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)", allow_module_level=True)

if not IN_CI:
    pytest.importorskip("playwright.sync_api", reason="pip install -e '.[dev]' adds playwright")
from playwright.sync_api import sync_playwright  # noqa: E402


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox"]
        )
        yield launched
        launched.close()


@pytest.fixture
def world(database_url, example_config, classifier, tmp_path):
    built = make_world(example_config, database_url, classifier, tmp_path)
    yield built
    built.app.engine.dispose()


def test_a_person_submits_the_form_and_sees_the_number(browser, world, tmp_path):
    article = world.app.pipeline.triage.assistant.kb.for_desk("municipal", "en")[0]
    question = article.questions[0] if article.questions else article.title
    with site(world) as s:
        page = browser.new_context(locale="en-GB").new_page()
        violations: list[str] = []
        page.on(
            "console", lambda m: violations.append(m.text) if "Content Security" in m.text else None
        )
        page.goto(f"{s.base}/form/municipal")
        assert page.locator("h1").inner_text() == "Request to the support desk"  # Accept-Language
        trap = page.locator("#website").bounding_box()  # the honeypot: off-screen (form.css)
        assert trap is not None and trap["x"] + trap["width"] <= 0
        page.fill("#subject", "Question")
        page.locator("#message").press_sequentially(question, delay=5)
        page.wait_for_selector("#suggestions:not([hidden]) a.suggestion", timeout=10_000)
        titles = page.locator("a.suggestion").all_inner_texts()
        assert article.title in titles
        page.screenshot(path=str(tmp_path / "web-form-suggestions.png"), full_page=True)
        page.fill("#email", "ilze@novads.example.lv")
        page.click("#send")
        page.wait_for_selector("#ticket-number", timeout=30_000)
        [ticket] = s.tickets()
        assert page.locator("#ticket-number").inner_text() == ticket.number
        assert page.locator("#response-due").inner_text() not in ("", "-")
        page.screenshot(path=str(tmp_path / "web-form-received.png"), full_page=True)
        assert (tmp_path / "web-form-received.png").stat().st_size > 0
        assert violations == []
        # The status link works on its own, in a fresh context (no cookies needed).
        link = page.locator("#status-link").get_attribute("href")
        other = browser.new_context().new_page()
        other.goto(f"{s.base}{link}")
        assert other.locator("#ticket-number").inner_text() == ticket.number
