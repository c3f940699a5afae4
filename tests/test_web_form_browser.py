"""The public web form in a real headless Chromium (Debian's ``chromium``, driven by
Playwright; no browser is downloaded): typing brings knowledge-base suggestions (form.js
under the page's CSP), sending shows the ticket number and due time. Screenshots are kept in
test-artifacts/screenshots/, like the console's."""

from __future__ import annotations

import pytest

from tests.browser_support import chromium, require_chromium, screenshot
from tests.web_form_support import site

require_chromium()


@pytest.fixture(scope="module")
def browser():
    with chromium() as launched:
        yield launched


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
        screenshot(page, "web-form-suggestions")
        page.fill("#email", "ilze@novads.example.lv")
        page.click("#send")
        page.wait_for_selector("#ticket-number", timeout=30_000)
        [ticket] = s.tickets()
        assert page.locator("#ticket-number").inner_text() == ticket.number
        assert page.locator("#response-due").inner_text() not in ("", "-")
        assert screenshot(page, "web-form-received").stat().st_size > 0
        assert violations == []
        # The status link works on its own, in a fresh context (no cookies needed).
        link = page.locator("#status-link").get_attribute("href")
        other = browser.new_context().new_page()
        other.goto(f"{s.base}{link}")
        assert other.locator("#ticket-number").inner_text() == ticket.number
