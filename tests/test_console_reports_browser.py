"""The reports page in a real headless Chromium: the late-share chart is drawn (its bars
have the widths the figures give) and the strict CSP blocks nothing on the page (no
inline style or script to refuse); the CSV link downloads the file. Screenshot kept."""

from __future__ import annotations

from tests.browser_support import chromium, require_chromium, screenshot
from tests.console_server import serving
from tests.console_support import PASSWORD, make_world
from tests.sla_world import REPORT_AT, make_sla_world, seed_year
from tests.test_sla_reports import LATE_SHARE_CSV

require_chromium()


def test_the_report_page_in_a_browser(sqlite_url, example_config, classifier, tmp_path):
    world = make_world(example_config, sqlite_url, classifier, tmp_path)
    seed_year(make_sla_world(world.app.sessions, example_config))
    world.clock.set(REPORT_AT)
    try:
        with serving(world.web) as base, chromium() as browser:
            page = browser.new_context(accept_downloads=True).new_page()
            problems: list[str] = []
            # Refusals by the CSP and script errors; a missing favicon is no problem of ours.
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            missing: list[str] = []
            page.on("response", lambda r: missing.append(r.url) if r.status >= 400 else None)
            page.goto(f"{base}/login?next=/reports")
            page.fill('input[name="username"]', "sandra")
            page.fill('input[name="password"]', PASSWORD)
            page.click("#sign-in")
            page.wait_for_url(f"{base}/reports")
            page.goto(f"{base}/reports?desk=municipal&year=2026")
            bar = page.locator("svg.chart rect.bar").nth(2)  # error: 40 % of 400 units
            assert bar.get_attribute("class") == "bar over"
            box = bar.bounding_box()
            assert box is not None and round(box["width"]) == 160
            # The colour comes from the style sheet (an inline style would be refused).
            fill = bar.evaluate("e => getComputedStyle(e).fill")
            assert fill == "rgb(197, 48, 48)"
            screenshot(page, "reports")
            with page.expect_download() as download:
                page.click('a[href^="/reports/sla.csv"]')
            saved = tmp_path / "sla.csv"
            download.value.save_as(saved)
            assert download.value.suggested_filename == "sla-municipal-2026.csv"
            assert saved.read_bytes().decode("utf-8") == LATE_SHARE_CSV
            assert [u for u in missing if not u.endswith("/favicon.ico")] == []
            assert [p for p in problems if "Failed to load resource" not in p] == []
    finally:
        world.app.engine.dispose()
