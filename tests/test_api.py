"""The JSON API (/api/v1) over real HTTP (uvicorn on a loopback port, httpx) and its bearer
tokens (`triage token ...`): what a token may read and do, that only its hash is stored,
that a revoked or expired token or a disabled user is refused, that a session cookie is no
token, and that every request is audited. The fuzzing of the API from its own OpenAPI
description is in test_api_fuzz.py."""

from __future__ import annotations

import hashlib

import httpx
import pytest
from click.testing import CliRunner
from sqlalchemy import select

from tests.console_support import PASSWORD, mail
from triage_desk.cli import main
from triage_desk.cli.tickets import ticket_json
from triage_desk.desk_service.tokens import ApiTokens
from triage_desk.storage.models import ApiToken, AuditEvent

QUESTION = mail("Nevaru pieslēgties", "Labdien! Parole neder, kas jādara?")


def api(base: str, token: str | None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(base_url=f"{base}/api/v1", headers=headers, timeout=30)


def token_for(world, username: str, **options) -> str:
    return ApiTokens(world.app.sessions, world.clock).create(username, **options)[0]


def audit(world, action: str) -> list[AuditEvent]:
    with world.app.sessions() as session:
        return list(
            session.scalars(
                select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
            )
        )


def test_a_token_reads_the_queue_and_a_ticket_with_the_keys_of_ticket_show_json(world, base):
    number = world.mail(QUESTION)
    agent = api(base, token_for(world, "agnese"))
    listed = agent.get("/tickets", params={"desk": "municipal", "limit": 10})
    assert listed.status_code == 200, listed.text
    assert [t["number"] for t in listed.json()] == [number]
    status = listed.json()[0]["status"]
    either = agent.get("/tickets", params={"statuses": [status, "resolved"]})
    assert [t["number"] for t in either.json()] == [number]
    assert agent.get("/tickets", params={"statuses": ["resolved"]}).json() == []
    shown = agent.get(f"/tickets/{number}")
    assert shown.status_code == 200
    body = shown.json()
    cli = ticket_json(world.service.ticket(number))
    promised = [
        "number",
        "desk",
        "status",
        "category",
        "feedback_type",
        "response_due",
        "resolution_due",
        "messages",
    ]
    for key in promised[:5]:
        assert body[key] == cli[key], key
    # The same instants, in the desk's zone with its offset.
    assert body["response_due"] == cli["response_due"]
    keys = ("direction", "channel", "sender", "text", "received_at")
    assert [{k: m[k] for k in keys} for m in body["messages"]] == [
        {k: m[k] for k in keys} for m in cli["messages"]
    ]
    assert body["messages"][0]["text"].startswith("Labdien! Parole neder")
    assert body["messages"][0]["received_at"].endswith("+02:00")  # Riga in winter
    messages = agent.get(f"/tickets/{number}/messages").json()
    assert [m["direction"] for m in messages] == ["in", "out"]  # the acknowledgement
    assert agent.get(f"/tickets/{number}/decisions").json() == []
    viewed = audit(world, "api_viewed")
    assert [e.actor for e in viewed] == ["agnese"] * 6
    assert viewed[3].details["path"] == f"/api/v1/tickets/{number}"
    assert viewed[3].ticket_id is not None and viewed[0].ticket_id is None


def test_staff_actions_through_the_api_are_the_desk_service_s_and_audited(world, base):
    number = world.mail(QUESTION)
    agent = api(base, token_for(world, "agnese"))
    before = world.service.ticket(number).summary.category
    target = "error" if before == "consultation" else "consultation"
    changed = agent.post(
        f"/tickets/{number}/category",
        json={"category": target, "reason": "A question about using the system"},
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["outbox_kind"] == "recategorisation"
    decisions = agent.get(f"/tickets/{number}/decisions").json()
    assert decisions and decisions[-1]["staff"] == "agnese"
    confirmed = agent.post(f"/tickets/{number}/confirm")
    assert confirmed.status_code == 200, confirmed.text
    replied = agent.post(f"/tickets/{number}/reply", json={"text": "Lūdzu, mēģiniet vēlreiz."})
    assert replied.status_code == 200 and replied.json()["outbox_kind"] == "staff_reply"
    # The same reply again at the same instant (a repeated request): refused, not sent twice.
    repeat = agent.post(f"/tickets/{number}/reply", json={"text": "Lūdzu, mēģiniet vēlreiz."})
    assert repeat.status_code == 409 and repeat.json()["error"] == "same_reply"
    resolved = agent.post(f"/tickets/{number}/resolve", json={"note": "answered"})
    assert resolved.json()["status"] == "resolved"
    again = agent.post(f"/tickets/{number}/resolve", json={})
    assert again.status_code == 409 and again.json()["error"] == "already_resolved"
    assert [e.actor for e in audit(world, "replied")] == ["agnese"]
    assert [e.actor for e in audit(world, "resolved")] == ["agnese"]
    assert len(audit(world, "api_called")) == 6
    # Refusals are JSON with a code a script can test.
    missing = agent.get("/tickets/MUN-2026-999999")
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"
    empty = agent.post(f"/tickets/{number}/reply", json={"text": ""})
    assert empty.status_code == 422
    unknown = agent.get("/tickets", params={"status": "nonsense"})
    assert unknown.status_code == 400 and unknown.json()["error"] == "invalid_input"


def test_roles_a_supervisor_s_report_and_an_override(world, base):
    agent = api(base, token_for(world, "agnese"))
    supervisor = api(base, token_for(world, "sandra"))
    query = {"desk": "municipal", "start": "2026-11-01", "end": "2026-11-30"}
    refused = agent.get("/reports/assistant", params=query)
    assert refused.status_code == 403 and refused.json()["error"] == "forbidden"
    assert [e.actor for e in audit(world, "api_refused")] == ["agnese"]
    report = supervisor.get("/reports/assistant", params=query)
    assert report.status_code == 200
    assert report.json()["desk"] == "municipal" and report.json()["offers"] == 0
    too_long = supervisor.get(
        "/reports/assistant", params={**query, "start": "2020-01-01", "end": "2026-01-01"}
    )
    assert too_long.status_code == 400
    year = {"desk": "municipal", "year": 2026}
    assert agent.get("/reports/sla", params=year).status_code == 403
    late_share = supervisor.get("/reports/sla", params=year)
    assert late_share.status_code == 200, late_share.text
    rows = {row["category"]: row for row in late_share.json()["rows"]}
    assert rows["emergency"]["allowed_percent"] == 5.0 and rows["error"]["allowed_percent"] == 10.0
    assert supervisor.get("/reports/sla", params={**year, "desk": "nowhere"}).status_code in (
        400,
        404,
    )


def test_without_a_valid_token_the_api_answers_401_and_cookies_do_not_count(world, base):
    number = world.mail(QUESTION)
    assert api(base, None).get("/tickets").status_code == 401
    answer = api(base, "td_" + "A" * 43).get("/tickets")
    assert answer.status_code == 401 and answer.headers["www-authenticate"].startswith("Bearer")
    assert api(base, "not-even-ours").get("/tickets").status_code == 401
    # A signed-in browser: its session cookie does not authenticate the API (no CSRF risk).
    browser = httpx.Client(base_url=base, timeout=30)
    form = browser.get("/login").text
    token = form.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    signed = browser.post(
        "/login", data={"username": "agnese", "password": PASSWORD, "csrf_token": token}
    )
    assert signed.status_code == 303 and "triage_session" in browser.cookies
    assert browser.get("/api/v1/tickets").status_code == 401
    assert browser.post(f"/api/v1/tickets/{number}/confirm").status_code == 401
    assert not audit(world, "category_confirmed")


def test_revoked_expired_and_disabled_users_tokens_stop_working(world, base):
    tokens = ApiTokens(world.app.sessions, world.clock)
    kept, made = tokens.create("agnese", name="script")
    short, _ = tokens.create("agnese", expires_days=1)
    assert api(base, kept).get("/tickets").status_code == 200
    assert api(base, short).get("/tickets").status_code == 200
    world.clock.advance(hours=25)
    assert api(base, short).get("/tickets").status_code == 401
    assert api(base, kept).get("/tickets").status_code == 200
    tokens.revoke(made.id, "arturs")
    assert api(base, kept).get("/tickets").status_code == 401
    other, _ = tokens.create("sandra")
    assert api(base, other).get("/tickets").status_code == 200
    world.accounts.set_active("sandra", False, "arturs")
    assert api(base, other).get("/tickets").status_code == 401
    assert len(audit(world, "api_token_refused")) == 3


def test_refused_tokens_are_limited_per_address_and_the_flood_is_not_audited(world, base):
    """After login_attempts (5) refused tokens within login_window_minutes (15), a bad token
    from that address gets 429 with Retry-After and no audit row, while a valid token still
    works; a request without a token guesses nothing and is not counted. The window passes on
    the test's clock."""
    valid = token_for(world, "agnese")
    for _ in range(10):
        assert api(base, None).get("/tickets").status_code == 401  # not counted
    assert api(base, valid).get("/tickets").status_code == 200
    for attempt in range(5):
        refused = api(base, f"td_guess{attempt:040d}").get("/tickets")
        assert refused.status_code == 401, attempt

    for token in ("td_" + "B" * 43, "not-even-ours"):
        limited = api(base, token).get("/tickets")
        assert limited.status_code == 429, limited.text
        assert limited.json()["error"] == "too_many_refusals"
        assert int(limited.headers["retry-after"]) == 15 * 60
    assert api(base, valid).get("/tickets").status_code == 200
    assert len(audit(world, "api_token_refused")) == 5
    documented = api(base, None).get("/openapi.json").json()
    assert "429" in documented["paths"]["/api/v1/tickets"]["get"]["responses"]

    world.clock.advance(minutes=15, seconds=1)
    assert api(base, "td_" + "C" * 43).get("/tickets").status_code == 401
    assert len(audit(world, "api_token_refused")) == 6


def test_only_the_hash_of_a_token_is_stored(world):
    token, made = ApiTokens(world.app.sessions, world.clock).create("agnese")
    assert token.startswith("td_") and len(token) >= 40
    with world.app.sessions() as session:
        row = session.get(ApiToken, made.id)
        assert row is not None
        assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
        assert token not in repr(
            [(r.token_hash, r.name) for r in session.scalars(select(ApiToken))]
        )


def test_the_openapi_description_is_public_and_the_console_keeps_no_docs(world, base):
    world.mail(QUESTION)
    described = httpx.get(f"{base}/api/v1/openapi.json", timeout=30)
    assert described.status_code == 200
    paths = described.json()["paths"]
    assert "/api/v1/tickets/{number}" in paths and "/api/v1/reports/assistant" in paths
    assert all(p.startswith("/api/v1/") for p in paths)  # the HTML console is not described
    assert "Nevaru" not in described.text  # no data in it
    schemes = described.json()["components"]["securitySchemes"]
    assert schemes["token"]["scheme"].lower() == "bearer"
    for path in ("/docs", "/redoc", "/openapi.json"):
        assert httpx.get(f"{base}{path}", timeout=30).status_code in (303, 404), path


def test_triage_token_create_list_and_revoke(world, base, database_url, monkeypatch):
    monkeypatch.setenv("TRIAGE_DATABASE_URL", database_url)
    made = CliRunner().invoke(main, ["token", "create", "sandra", "--name", "reports"])
    assert made.exit_code == 0, made.output
    token = made.stdout.strip().splitlines()[0]
    assert token.startswith("td_")
    assert api(base, token).get("/tickets").status_code == 200
    listed = CliRunner().invoke(main, ["token", "list"])
    assert "sandra" in listed.output and "reports" in listed.output and "active" in listed.output
    assert token not in listed.output
    token_id = listed.output.split("#", 1)[1].split()[0]
    revoked = CliRunner().invoke(main, ["token", "revoke", token_id])
    assert revoked.exit_code == 0, revoked.output
    assert api(base, token).get("/tickets").status_code == 401
    unknown = CliRunner().invoke(main, ["token", "create", "nobody"])
    assert unknown.exit_code == 1 and "nobody" in unknown.output


def test_tokens_are_refused_for_unknown_or_disabled_users_and_odd_expiry(world):
    from triage_desk.desk_service import Conflict, InvalidInput, NotFound

    tokens = ApiTokens(world.app.sessions, world.clock)
    with pytest.raises(NotFound):
        tokens.create("nobody")
    with pytest.raises(InvalidInput):
        tokens.create("agnese", expires_days=0)
    world.accounts.set_active("agnese", False, "arturs")
    with pytest.raises(Conflict):
        tokens.create("agnese")
    _, made = tokens.create("sandra")
    tokens.revoke(made.id, "arturs")
    with pytest.raises(Conflict):
        tokens.revoke(made.id, "arturs")
    assert [e.details["token_id"] for e in audit(world, "api_token_revoked")] == [made.id]
