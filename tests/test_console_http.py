"""The staff console over real HTTP (uvicorn on a loopback port, httpx): sign-in, sessions
and their expiry, CSRF, the security headers, login rate limits, roles route by route from
the app's own route list, the audit log, and mail content made inert."""

from __future__ import annotations

import datetime as dt
import re

import httpx
from fastapi.routing import APIRoute
from sqlalchemy import select
from starlette.routing import Mount

from tests.console_support import PASSWORD, ConsoleWorld, mail
from triage_desk.clock import FixedClock
from triage_desk.console.security import LoginThrottle
from triage_desk.desk_service.staff import ROLES
from triage_desk.desk_service.tokens import ApiTokens
from triage_desk.storage.models import AuditEvent, ConsoleSession, OutboxItem, Ticket

# Every route of the console and the least role it needs ("public": no sign-in). A route
# the app has and this table lacks fails the walk below, so no route goes untested.
ROUTES: dict[tuple[str, str], str] = {
    ("GET", "/login"): "public",
    ("POST", "/login"): "public",
    ("POST", "/logout"): "agent",
    ("POST", "/language"): "agent",
    ("GET", "/"): "agent",
    ("GET", "/queue"): "agent",
    ("POST", "/tickets/{number}/confirm"): "agent",
    ("POST", "/tickets/{number}/override"): "supervisor",
    ("POST", "/tickets/confirm"): "agent",
    ("POST", "/tickets/{number}/category"): "agent",
    ("POST", "/tickets/{number}/assign"): "agent",
    ("GET", "/tickets/{number}"): "agent",
    ("GET", "/tickets/{number}/messages/{message_id}/raw"): "agent",
    ("GET", "/tickets/{number}/messages/{message_id}/html"): "agent",
    ("GET", "/tickets/{number}/attachments/{attachment_id}"): "agent",
    ("POST", "/tickets/{number}/reply"): "agent",
    ("POST", "/tickets/{number}/resolve"): "agent",
    ("POST", "/tickets/{number}/reopen"): "agent",
    ("POST", "/tickets/{number}/notes"): "agent",
    ("GET", "/robots"): "agent",
    ("GET", "/quarantine"): "agent",
    ("POST", "/quarantine/{item_id}/release"): "supervisor",
    ("POST", "/quarantine/{item_id}/discard"): "supervisor",
    ("GET", "/outbox"): "agent",
    ("POST", "/outbox/{item_id}/retry"): "supervisor",
    ("GET", "/addresses"): "agent",
    ("POST", "/addresses/clear"): "supervisor",
    ("GET", "/admin/users"): "admin",
    ("POST", "/admin/users"): "admin",
    ("POST", "/admin/users/{username}/active"): "admin",
    # H4: clients, representatives, requesters, notices
    ("GET", "/clients"): "agent",
    ("POST", "/clients"): "supervisor",
    ("POST", "/clients/import"): "supervisor",
    ("GET", "/clients/{client_id}"): "agent",
    ("POST", "/clients/{client_id}/domains"): "supervisor",
    ("POST", "/clients/{client_id}/members"): "supervisor",
    ("POST", "/clients/{client_id}/members/{requester_id}/representative"): "supervisor",
    ("GET", "/requesters"): "agent",
    ("GET", "/requesters/{requester_id}"): "agent",
    ("POST", "/requesters/{requester_id}/clients"): "supervisor",
    ("GET", "/notices"): "agent",
    ("POST", "/notices"): "supervisor",
    ("GET", "/notices/{notice_id}"): "agent",
    ("GET", "/reports"): "supervisor",
    ("GET", "/reports/sla.csv"): "supervisor",
    ("GET", "/reports/feedback.csv"): "supervisor",
    ("GET", "/reports/quality.csv"): "supervisor",
    ("GET", "/reports/assistant.csv"): "supervisor",
    ("GET", "/tickets/new"): "agent",
    ("POST", "/tickets/new"): "agent",
    # The JSON API (console/api.py): bearer tokens, never the session cookie.
    ("GET", "/api/v1/openapi.json"): "public",
    ("GET", "/api/v1/tickets"): "agent",
    ("GET", "/api/v1/tickets/{number}"): "agent",
    ("GET", "/api/v1/tickets/{number}/messages"): "agent",
    ("GET", "/api/v1/tickets/{number}/decisions"): "agent",
    ("POST", "/api/v1/tickets/{number}/confirm"): "agent",
    ("POST", "/api/v1/tickets/{number}/override"): "supervisor",
    ("POST", "/api/v1/tickets/{number}/category"): "agent",
    ("POST", "/api/v1/tickets/{number}/reply"): "agent",
    ("POST", "/api/v1/tickets/{number}/resolve"): "agent",
    ("GET", "/api/v1/reports/assistant"): "supervisor",
    ("GET", "/api/v1/reports/sla"): "supervisor",
}
LOWER = {"supervisor": "agnese", "admin": "sandra"}  # a user one role too low
PARAMS = {"number": "MUN-2026-000001", "message_id": "1", "attachment_id": "1"}
PARAMS |= {"item_id": "1", "username": "agnese"}
PARAMS |= {"client_id": "1", "requester_id": "1", "notice_id": "1"}


def client(base: str) -> httpx.Client:
    return httpx.Client(base_url=base, follow_redirects=False, timeout=30)


def csrf_of(page: str) -> str:
    found = re.search(r'<meta name="csrf-token" content="([^"]*)"', page)
    assert found, page[:500]
    return found.group(1)


def sign_in(base: str, username: str, password: str = PASSWORD) -> tuple[httpx.Client, str]:
    """A client signed in as ``username`` and its CSRF token."""
    browser = client(base)
    form = browser.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text).group(1)
    answer = browser.post(
        "/login", data={"username": username, "password": password, "csrf_token": token}
    )
    assert answer.status_code == 303, answer.text[:300]
    return browser, csrf_of(browser.get("/queue").text)


def login_attempt(browser: httpx.Client, username: str, password: str) -> httpx.Response:
    token = re.search(r'name="csrf_token" value="([^"]+)"', browser.get("/login").text).group(1)
    return browser.post(
        "/login", data={"username": username, "password": password, "csrf_token": token}
    )


def ticket(world: ConsoleWorld, number: str) -> Ticket:
    with world.app.sessions() as session:
        found = session.scalar(select(Ticket).where(Ticket.number == number))
        assert found is not None
        return found


def audit(world: ConsoleWorld, action: str) -> list[AuditEvent]:
    with world.app.sessions() as session:
        return list(
            session.scalars(
                select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
            )
        )


# --------------------------------------------------------------------------- sign-in


def test_sign_in_sets_a_strict_http_only_session_cookie_kept_only_as_a_hash(world, base):
    browser = client(base)
    page = browser.get("/login")
    assert page.status_code == 200
    assert 'name="username"' in page.text and 'name="password"' in page.text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    answer = browser.post(
        "/login",
        data={"username": "agnese", "password": PASSWORD, "csrf_token": token, "next": "/queue"},
    )
    assert answer.status_code == 303 and answer.headers["location"] == "/queue"
    cookie = next(
        c for c in answer.headers.get_list("set-cookie") if c.startswith("triage_session=")
    )
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
    assert "Secure" not in cookie  # plain http on loopback; https adds it
    value = browser.cookies.get("triage_session")
    with world.app.sessions() as session:
        stored = [row.id_hash for row in session.scalars(select(ConsoleSession))]
    assert len(stored) == 1 and value not in stored
    assert browser.get("/queue").status_code == 200
    assert [e.actor for e in audit(world, "login")] == ["agnese"]


def test_wrong_password_unknown_user_and_a_missing_form_token_are_refused(world, base):
    browser = client(base)
    assert login_attempt(browser, "agnese", "wrong password!").status_code == 401
    assert login_attempt(browser, "nobody", PASSWORD).status_code == 401
    no_token = browser.post("/login", data={"username": "agnese", "password": PASSWORD})
    assert no_token.status_code == 400
    assert "triage_session" not in browser.cookies
    assert [e.actor for e in audit(world, "login_failed")] == ["agnese", "nobody"]


def test_an_open_redirect_after_sign_in_goes_home_instead(world, base):
    browser = client(base)
    token = re.search(r'name="csrf_token" value="([^"]+)"', browser.get("/login").text).group(1)
    answer = browser.post(
        "/login",
        data={
            "username": "agnese",
            "password": PASSWORD,
            "csrf_token": token,
            "next": "//evil.example/x",
        },
    )
    assert answer.headers["location"] == "/queue"


def test_sign_in_attempts_are_limited_per_username_and_per_address(world, base):
    browser = client(base)
    for _ in range(5):
        assert login_attempt(browser, "agnese", "not the password").status_code == 401
    # Now even the right password is refused, for a while.
    assert login_attempt(browser, "agnese", PASSWORD).status_code == 429
    # The address is limited too: another name from it is refused as well.
    assert login_attempt(browser, "sandra", PASSWORD).status_code == 429
    world.clock.advance(minutes=16)
    assert login_attempt(browser, "agnese", PASSWORD).status_code == 303
    assert audit(world, "login_throttled")


def test_the_login_throttle_keeps_bounded_memory():
    clock = FixedClock(dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    throttle = LoginThrottle(clock, limit=3, window=dt.timedelta(minutes=15), max_keys=100)
    for i in range(1000):
        throttle.failed(f"user:{i}", "ip:203.0.113.9")
    assert len(throttle) <= 100
    assert throttle.blocked("ip:203.0.113.9")
    clock.advance(minutes=16)
    assert not throttle.blocked("ip:203.0.113.9")


def test_sessions_end_when_idle_after_their_absolute_limit_and_at_logout(world, base):
    browser, token = sign_in(base, "agnese")
    world.clock.advance(minutes=29)
    assert browser.get("/queue").status_code == 200
    world.clock.advance(minutes=31)  # idle for longer than 30 minutes
    assert browser.get("/queue").status_code == 303
    browser, token = sign_in(base, "agnese")
    for _ in range(36):  # busy all day: a request every 20 minutes, 12 hours
        world.clock.advance(minutes=20)
        browser.get("/outbox")
    gone = browser.get("/queue")
    assert gone.status_code == 303 and gone.headers["location"].startswith("/login")
    browser, token = sign_in(base, "agnese")
    assert browser.post("/logout", headers={"X-CSRF-Token": token}).status_code == 303
    assert browser.get("/queue").status_code == 303


# --------------------------------------------------------------------------- headers, CSRF


def test_every_page_has_a_strict_csp_and_no_sniffing(world, base):
    browser, _ = sign_in(base, "agnese")
    for path in ("/login", "/queue", "/static/console.js"):
        headers = browser.get(path).headers
        csp = headers["content-security-policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"] == "no-referrer"


def test_a_state_change_without_the_csrf_token_is_refused(world, base):
    number = world.mail(mail("Nevaru pieslēgties", "Labdien! Parole neder, kas jādara?"))
    browser, token = sign_in(base, "agnese")
    refused = browser.post(f"/tickets/{number}/confirm")
    assert refused.status_code == 403
    forged = browser.post(f"/tickets/{number}/confirm", data={"csrf_token": "forged"})
    assert forged.status_code == 403
    assert audit(world, "csrf_refused")
    assert ticket(world, number).category_confirmed is False or ticket(world, number).status
    decisions_before = len(world.service.ticket(number).decisions)
    assert decisions_before == 0
    done = browser.post(f"/tickets/{number}/confirm", headers={"X-CSRF-Token": token})
    assert done.status_code == 303
    assert ticket(world, number).category_confirmed is True
    assert [e.actor for e in audit(world, "category_confirmed")] == ["agnese"]


# --------------------------------------------------------------------------- roles


def _concrete(path: str) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: PARAMS[m.group(1)], path)


def test_every_route_refuses_anonymous_requests_and_too_low_roles(world, base):
    world.mail(mail("Nevaru pieslēgties", "Labdien! Parole neder, kas jādara?"))
    found: set[tuple[str, str]] = set()
    for route in world.web.routes:
        if isinstance(route, Mount):
            assert route.path == "/static"  # files only; no data behind it
            continue
        assert isinstance(route, APIRoute), route
        for method in route.methods:
            found.add((method, route.path))
    assert found - set(ROUTES) == set(), "a route without an entry in ROUTES"
    assert set(ROUTES) - found == set(), "ROUTES names a route the app does not have"
    anonymous = client(base)
    signed = {name: sign_in(base, name) for name in ("agnese", "sandra")}
    made = ApiTokens(world.app.sessions, world.clock)
    tokens = {role: made.create(name)[0] for role, name in API_USERS.items()}
    for (method, path), role in sorted(ROUTES.items()):
        url = _concrete(path)
        if role == "public":
            continue
        if path.startswith("/api/"):
            _walk_api(tokens, anonymous, signed["agnese"], method, url, role)
            continue
        answer = anonymous.request(method, url)
        if method == "GET":
            assert answer.status_code == 303, (method, path)
            assert answer.headers["location"].startswith("/login"), (method, path)
        else:
            assert answer.status_code == 401, (method, path)
        if role in LOWER:
            browser, token = signed[LOWER[role]]
            low = browser.request(method, url, headers={"X-CSRF-Token": token})
            assert low.status_code == 403, (method, path, low.status_code)
    assert audit(world, "console_refused")
    assert audit(world, "api_refused") and audit(world, "api_token_refused")


API_USERS = {"agent": "agnese", "supervisor": "sandra", "admin": "arturs"}


def _walk_api(tokens, anonymous, signed, method, url, role) -> None:
    """An API route: 401 without a token, with a bad one and with only a signed-in
    browser's cookie (and its CSRF token); 403 for each role below ``role``; past the
    guard (whatever the ticket's state answers) for each role at or above it."""
    where = (method, url)
    assert anonymous.request(method, url).status_code == 401, where
    bad = {"Authorization": "Bearer td_" + "x" * 43}
    # 429 once this address has sent login_attempts bad tokens (test_api.py tests the limit).
    assert anonymous.request(method, url, headers=bad).status_code in (401, 429), where
    browser, csrf = signed
    cookie = browser.request(method, url, headers={"X-CSRF-Token": csrf})
    assert cookie.status_code == 401, (where, cookie.status_code)
    for each in ROLES:
        answer = anonymous.request(method, url, headers={"Authorization": f"Bearer {tokens[each]}"})
        if ROLES.index(each) < ROLES.index(role):
            assert answer.status_code == 403, (where, each, answer.status_code)
            assert answer.json()["error"] == "forbidden"
        else:
            assert answer.status_code not in (401, 403), (where, each, answer.status_code)
            assert answer.status_code < 500, (where, each, answer.text[:300])


def test_quarantine_and_outbox_actions_work_for_a_supervisor(world, base):
    browser, token = sign_in(base, "sandra")
    # No such item: refused as not found, not as a role (the role passed).
    assert browser.post("/outbox/999/retry", headers={"X-CSRF-Token": token}).status_code == 404


def test_an_admin_adds_a_user_who_can_sign_in(world, base):
    browser, token = sign_in(base, "arturs")
    answer = browser.post(
        "/admin/users",
        data={"username": "ieva", "password": "a long passphrase", "role": "agent"},
        headers={"X-CSRF-Token": token},
    )
    assert answer.status_code == 303
    sign_in(base, "ieva", "a long passphrase")


# --------------------------------------------------------------------------- work and audit


def test_change_needs_a_reason_and_queues_the_notice(world, base):
    number = world.mail(mail("Nevaru pieslēgties", "Labdien! Parole neder, kas jādara?"))
    browser, token = sign_in(base, "agnese")
    current = ticket(world, number).category
    other = next(c for c in sorted(world.app.config.desks["municipal"].categories) if c != current)
    no_reason = browser.post(
        f"/tickets/{number}/category",
        data={"category": other, "reason": "", "csrf_token": token},
    )
    assert no_reason.status_code == 400
    done = browser.post(
        f"/tickets/{number}/category",
        data={"category": other, "reason": "Tas ir jautājums", "csrf_token": token},
    )
    assert done.status_code == 303
    with world.app.sessions() as session:
        kinds = list(session.scalars(select(OutboxItem.kind).order_by(OutboxItem.id)))
    assert "recategorisation" in kinds
    assert ticket(world, number).category == other


def test_reading_a_ticket_is_in_the_audit_log_with_the_user(world, base):
    number = world.mail(mail("Nevaru pieslēgties", "Labdien! Parole neder, kas jādara?"))
    browser, _ = sign_in(base, "agnese")
    page = browser.get(f"/tickets/{number}")
    assert page.status_code == 200
    legs = re.search(r'<table id="sla-legs">(.*?)</table>', page.text, re.S).group(1)
    assert "Response" in legs and "not met yet" in legs and "late" not in legs
    viewed = [e for e in audit(world, "console_viewed") if e.ticket_id is not None]
    assert [(e.actor, e.ticket_id) for e in viewed] == [("agnese", ticket(world, number).id)]


def test_mail_text_is_escaped_and_html_mail_sanitised_and_framed(world, base):
    number = world.mail(
        mail(
            "<script>alert('subject')</script>",
            "Labdien! <script>alert('text')</script> <img src=x onerror=alert(1)>",
            html="<p>Sveiki<script>alert('html')</script><img src=x onerror=alert(2)>"
            '<a href="javascript:alert(3)">saite</a></p>',
        )
    )
    browser, _ = sign_in(base, "agnese")
    page = browser.get(f"/tickets/{number}").text
    assert "<script>alert" not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(&#39;text&#39;)&lt;/script&gt;" in page
    message_id = re.search(r'/messages/(\d+)/html"', page).group(1)
    assert '<iframe sandbox=""' in page
    framed = browser.get(f"/tickets/{number}/messages/{message_id}/html")
    assert framed.status_code == 200
    assert "<script" not in framed.text and "onerror" not in framed.text
    assert "javascript:" not in framed.text and "Sveiki" in framed.text
    csp = framed.headers["content-security-policy"]
    assert "sandbox" in csp and "default-src 'none'" in csp and "script-src" not in csp
    raw = browser.get(f"/tickets/{number}/messages/{message_id}/raw")
    assert raw.headers["content-disposition"].startswith("attachment;")
    assert raw.headers["content-type"] == "application/octet-stream"
    assert b"<script>alert('html')</script>" in raw.content  # kept as it came
    assert any(e.action == "console_viewed" for e in audit(world, "console_viewed"))


def test_the_interface_language_is_the_users_and_switches(world, base):
    browser, token = sign_in(base, "agnese")
    assert "Work queue" in browser.get("/queue").text
    switched = browser.post(
        "/language", data={"language": "lv", "next": "/queue", "csrf_token": token}
    )
    assert switched.status_code == 303
    assert "Darba rinda" in browser.get("/queue").text
    again, _ = sign_in(base, "agnese")  # stored with the user
    assert "Darba rinda" in again.get("/queue").text


def test_the_queue_puts_overdue_and_breaching_soon_first(world, base):
    late = world.mail(mail("Sistēma nestrādā", "Labdien! Kļūda atverot atskaiti."))
    world.clock.advance(days=3)  # the first is long overdue now
    soon = world.mail(mail("Vēl viena kļūda", "Labdien! Poga nestrādā, kļūda."))
    browser, _ = sign_in(base, "agnese")
    page = browser.get("/queue").text
    overdue_part = page.split('id="part-overdue"')[1].split("</section>")[0]
    assert late in overdue_part and soon not in overdue_part
    assert "late" in overdue_part  # the badge
    assert page.index(late) < page.index(soon)
