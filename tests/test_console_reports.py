"""The reports page and its CSV downloads over real HTTP, on the year of tickets of
``tests/sla_world.py`` stored through the real intake in the console's own database."""

from __future__ import annotations

import re

import pytest

from tests.console_support import make_world
from tests.sla_world import REPORT_AT, make_sla_world, seed_year
from tests.test_console_http import sign_in
from tests.test_sla_reports import LATE_SHARE_CSV
from triage_desk.storage.models import AuditEvent


@pytest.fixture
def world(database_url, example_config, classifier, tmp_path):
    built = make_world(example_config, database_url, classifier, tmp_path)
    seed_year(make_sla_world(built.app.sessions, example_config))
    built.clock.set(REPORT_AT)
    yield built
    built.app.engine.dispose()


def _row(page: str, category: str) -> list[str]:
    found = re.search(rf'<tr class="sla-row" data-category="{category}">(.*?)</tr>', page)
    assert found, page[:2000]
    return [re.sub(r"<[^>]+>", "", cell) for cell in re.findall(r"<td>(.*?)</td>", found.group(1))]


def test_the_reports_page_shows_the_late_share_and_its_chart(world, base):
    browser, _token = sign_in(base, "sandra")  # a supervisor
    page = browser.get("/reports", params={"desk": "municipal", "year": "2026"})
    assert page.status_code == 200
    text = page.text
    assert _row(text, "error") == ["Error", "5", "2", "0", "2", "40", "10", "over"]
    assert _row(text, "serious_error") == ["Serious error", "1", "0", "0", "0", "0", "7", "within"]
    assert _row(text, "data_processing") == ["Data processing", "1", "1", "0", "1", "100", "-", ""]
    # The chart: server-drawn SVG, no script, no inline style (the CSP forbids both).
    svg = re.search(r"<svg class=\"chart\".*?</svg>", text, re.S).group(0)
    assert svg.count('class="bar over"') == 3 and svg.count('class="bar within"') == 1
    assert '<rect class="bar over" x="170" y="52" width="160.0"' in svg  # error: 40 % of 400
    assert "style=" not in text and "<script>" not in text
    assert "'unsafe-inline'" not in page.headers["content-security-policy"]
    # The other three reports, and a link to each CSV.
    assert "Feedback by type per month" in text and "Triage quality" in text
    assert "The virtual assistant in the year" in text
    for name in ("sla", "feedback", "quality", "assistant"):
        assert f'href="/reports/{name}.csv?desk=municipal&amp;year=2026"' in text
    with world.app.sessions() as session:
        viewed = session.query(AuditEvent).filter(AuditEvent.action == "console_viewed").all()
    assert any(e.details.get("path") == "/reports" and e.actor == "sandra" for e in viewed)


def test_the_page_in_latvian_and_the_default_year_is_the_clocks(world, base):
    browser, token = sign_in(base, "arturs")  # an admin may too
    browser.post("/language", data={"language": "lv", "next": "/reports", "csrf_token": token})
    page = browser.get("/reports")
    assert page.status_code == 200
    assert "Pārskati: municipal 2026" in page.text
    assert "Nokavēto gadījumu īpatsvars pa kategorijām" in page.text
    assert _row(page.text, "error")[:2] == ["Kļūda", "5"]


def test_the_csv_downloads(world, base):
    browser, _token = sign_in(base, "sandra")
    sla = browser.get("/reports/sla.csv", params={"desk": "municipal", "year": "2026"})
    assert sla.status_code == 200
    assert sla.headers["content-type"] == "text/csv; charset=utf-8"
    assert sla.headers["content-disposition"] == 'attachment; filename="sla-municipal-2026.csv"'
    assert sla.text == LATE_SHARE_CSV
    feedback = browser.get("/reports/feedback.csv", params={"year": "2026"})
    lines = feedback.text.split("\r\n")
    assert lines[0] == "month,suggestion,praise,complaint_service,complaint_customer_service"
    assert lines[2] == "2026-02,1,0,0,0" and lines[13] == "total,1,1,2,0"
    quality = browser.get("/reports/quality.csv", params={"year": "2026"})
    assert "error,v2,3,2,1,0,66.7,0.0\r\n" in quality.text
    assistant = browser.get("/reports/assistant.csv", params={"year": "2026"})
    assert assistant.text.startswith("desk,from,to,offers,")
    assert "municipal,2026-01-01,2026-12-31," in assistant.text
    assert browser.get("/reports/sla.csv", params={"desk": "nowhere"}).status_code == 404
    assert browser.get("/reports/sla.csv", params={"year": "99"}).status_code == 422


def test_an_agent_may_not_see_the_reports(world, base):
    browser, _token = sign_in(base, "agnese")
    assert browser.get("/reports").status_code == 403
    assert browser.get("/reports/sla.csv").status_code == 403
    assert 'href="/reports"' not in browser.get("/queue").text
