"""The public web form over real HTTP (uvicorn on a loopback port, httpx): pages in three
languages under a strict CSP, a submission that becomes a ticket with the right due time
and an acknowledgement by email, the signed status link, honeypot, rate and size limits,
field errors, a double submit, and knowledge-base suggestions with offers and clicks
counted."""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from tests.console_support import NOW, make_world
from tests.web_form_support import fields, site
from triage_desk.clock import FixedClock
from triage_desk.intake.web.limits import RateLimit
from triage_desk.intake.web.tokens import Signer
from triage_desk.responders.localtime import format_local
from triage_desk.storage.models import Message, QueuedInbound, StoredAttachment

RIGA = ZoneInfo("Europe/Riga")
REQUEST = "Nevaru pieslēgties sistēmai, pēc paroles ievadīšanas rāda kļūdu. Lūdzu palīdzēt."


def submit(client, data, files=None):  # type: ignore[no-untyped-def]
    return client.post("/form/municipal", data=data, files=files)


def status_page(client, answer):  # type: ignore[no-untyped-def]
    assert answer.status_code == 303, answer.text[:500]
    location = answer.headers["location"]
    assert location.startswith("/form/municipal/status/")
    return location, client.get(location)


def number_on(page: str) -> str:
    found = re.search(r'id="ticket-number">([^<]+)<', page)
    assert found, page[:800]
    return found.group(1)


def count(world, model) -> int:  # type: ignore[no-untyped-def]
    with world.app.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


# --------------------------------------------------------------------------- the page


@pytest.mark.parametrize(
    ("lang", "title"),
    [
        ("lv", "Pieteikums atbalsta dienestam"),
        ("en", "Request to the support desk"),
        ("ru", "Обращение в службу поддержки"),
    ],
)
def test_the_form_page_in_each_language_under_a_strict_csp(world, lang, title):
    with site(world) as s, s.client() as client:
        page = client.get(f"/form/municipal?lang={lang}")
        assert page.status_code == 200 and title in page.text
        assert f'<html lang="{lang}">' in page.text
        csp = page.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
        # No inline script or style: every <script> has a src, no style attribute anywhere.
        assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", page.text) == []
        assert "style=" not in page.text and "<style" not in page.text
        assert 'class="trap"' in page.text and 'name="website"' in page.text
        assert client.get("/form-static/form.css").status_code == 200
        assert ".trap" in client.get("/form-static/form.css").text
        assert client.get("/form-static/form.js").status_code == 200


def test_accept_language_picks_the_page_language_and_unknown_desks_are_404(world):
    with site(world) as s, s.client() as client:
        page = client.get("/form/municipal", headers={"Accept-Language": "ru-RU,ru;q=0.9"})
        assert "Обращение в службу поддержки" in page.text
        page = client.get("/form/municipal", headers={"Accept-Language": "de, en;q=0.5"})
        assert "Request to the support desk" in page.text
        assert client.get("/form/municipal").text.count("Pieteikums atbalsta dienestam") >= 1
        # eparaksts has no form enabled; nobody has a desk called "nope".
        assert client.get("/form/eparaksts").status_code == 404
        assert client.get("/form/nope").status_code == 404


# --------------------------------------------------------------------------- submitting


def test_a_submission_in_hours_becomes_a_ticket_with_its_due_and_an_email_acknowledgement(
    world,
):
    with site(world) as s, s.client() as client:
        data = fields(
            client, "en", subject="Login error", message=REQUEST, email="Ilze@Novads.Example.LV"
        )
        files = {"files": ("screen.txt", b"error 500 at login", "text/plain")}
        location, page = status_page(client, submit(client, data, files))
        assert "/status/" in location and page.status_code == 200
        [ticket] = s.tickets()
        assert number_on(page.text) == ticket.number
        # Due from the submission (Monday 10:00, in hours): shown in the desk's zone.
        assert ticket.received_at == NOW and ticket.clock_start == NOW
        assert ticket.response_due is not None
        assert format_local(ticket.response_due, RIGA, "en") in page.text
        label = world.app.config.desks["municipal"].categories[ticket.category].label("en")
        assert label in page.text
        assert "Ilze" not in page.text and "pieslēgties" not in page.text  # no personal data
        # Stored as a mail from the given address: the reply channel is email.
        assert ticket.channel == "email"
        with world.app.sessions() as session:
            [message] = session.scalars(select(Message).where(Message.direction == "in")).all()
            assert message.sender == "ilze@novads.example.lv"
            assert message.headers == {"Via": "web form"}
            [attachment] = session.scalars(select(StoredAttachment)).all()
            assert attachment.filename == "screen.txt" and attachment.data == b"error 500 at login"
        [ack] = s.outbox()
        assert (ack.channel, ack.kind, ack.recipient) == (
            "email",
            "acknowledgement",
            "ilze@novads.example.lv",
        )
        assert ticket.number in ack.body_text
        assert ticket.language == "en"  # the language the person chose
        assert count(world, QueuedInbound) == 0


def test_a_submission_out_of_hours_counts_from_the_next_opening(world):
    saturday = dt.datetime(2026, 12, 5, 12, 0, tzinfo=RIGA)
    world.clock.set(saturday)
    with site(world) as s, s.client() as client:
        data = fields(client, "lv", message=REQUEST, email="janis@example.com")
        _location, page = status_page(client, submit(client, data))
        [ticket] = s.tickets()
        assert ticket.status == "queued"
        assert ticket.clock_start == dt.datetime(2026, 12, 7, 9, 0, tzinfo=RIGA)
        assert ticket.received_at == saturday
        assert format_local(ticket.response_due, RIGA, "lv") in page.text
        assert "darba laikā" in page.text  # "handled in working hours"
        assert [item.kind for item in s.outbox()] == ["acknowledgement"]


def test_the_same_form_posted_twice_is_one_ticket(world):
    with site(world) as s, s.client() as client:
        data = fields(client, message=REQUEST, email="ilze@novads.example.lv")
        _first, page = status_page(client, submit(client, data))
        _second, again = status_page(client, submit(client, data))
        assert number_on(page.text) == number_on(again.text)
        assert len(s.tickets()) == 1 and len(s.outbox()) == 1


def test_the_page_says_the_number_follows_when_the_runner_is_slow(world):
    with site(world, store_at_once=False, wait_seconds=0) as s, s.client() as client:
        data = fields(client, message=REQUEST, email="ilze@novads.example.lv")
        location, page = status_page(client, submit(client, data))
        assert 'id="pending"' in page.text and s.tickets() == []
        assert count(world, QueuedInbound) == 1  # committed before the answer
        assert s.runner.drain() == 1
        moved = client.get(location)
        assert moved.status_code == 303
        final = client.get(moved.headers["location"])
        assert number_on(final.text) == s.tickets()[0].number


def test_a_tampered_or_made_up_status_link_is_404(world):
    with site(world) as s, s.client() as client:
        data = fields(client, message=REQUEST, email="ilze@novads.example.lv")
        location, _page = status_page(client, submit(client, data))
        token = location.split("/status/")[1].split("?")[0]
        value, mac = token.split(".")
        forged = [
            f"{value}.{mac[:-1]}{'A' if mac[-1] != 'A' else 'B'}",  # the signature altered
            f"MTIz.{mac}",  # another ticket id ("123") under the same signature
            "MQ.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",  # ticket 1 signed by nobody
            "nonsense",
        ]
        for bad in forged:
            assert client.get(f"/form/municipal/status/{bad}").status_code == 404, bad
        assert client.get(f"/form/eparaksts/status/{token}").status_code == 404
        assert client.get(f"/form/municipal/status/{token}").status_code == 200


def test_a_filled_honeypot_looks_accepted_but_nothing_is_stored(world):
    with site(world) as s, s.client() as client:
        data = fields(client, message=REQUEST, email="bot@spam.example", website="http://x")
        _location, page = status_page(client, submit(client, data))
        assert page.status_code == 200 and 'id="pending"' in page.text
        assert count(world, QueuedInbound) == 0 and s.tickets() == [] and s.outbox() == []


def test_a_bad_address_or_an_empty_message_is_400_naming_the_field(world):
    with site(world) as s, s.client() as client:
        answer = submit(client, fields(client, "en", message=REQUEST, email="not an address"))
        assert answer.status_code == 400
        assert 'data-field="email"' in answer.text and "valid email address" in answer.text
        assert REQUEST in answer.text  # what the person wrote is kept
        answer = submit(client, fields(client, "en", message="   ", email="ilze@example.com"))
        assert answer.status_code == 400 and 'data-field="message"' in answer.text
        assert count(world, QueuedInbound) == 0 and s.tickets() == []


def test_an_expired_or_missing_form_token_is_refused(world):
    with site(world, token_minutes=30) as s, s.client() as client:
        data = fields(client, message=REQUEST, email="ilze@novads.example.lv")
        world.clock.advance(minutes=31)
        answer = submit(client, data)
        assert answer.status_code == 400 and 'data-field="token"' in answer.text
        answer = submit(client, {**data, "token": "made.up"})
        assert answer.status_code == 400
        assert count(world, QueuedInbound) == 0 and s.tickets() == []


def test_rate_limits_per_address_and_per_client_address_answer_429(world):
    rules = {"submissions_per_address_per_hour": 2, "submissions_per_ip_per_hour": 3}
    with site(world, **rules) as s, s.client() as client:
        for text in ("Pirmā ziņa par kļūdu portālā.", "Otrā ziņa par kļūdu portālā."):
            data = fields(client, message=text, email="ilze@novads.example.lv")
            assert submit(client, data).status_code == 303
        refused = submit(
            client, fields(client, "ru", message="Третье", email="ilze@novads.example.lv")
        )
        assert refused.status_code == 429 and "Слишком много обращений" in refused.text
        # Another address from the same client: the third from this client address passes...
        data = fields(client, message="Cita persona, cita kļūda.", email="janis@example.com")
        assert submit(client, data).status_code == 303
        # ...the fourth does not.
        data = fields(client, "en", message="Yet another one.", email="anna@example.com")
        refused = submit(client, data)
        assert refused.status_code == 429 and "Too many requests" in refused.text
        assert len(s.tickets()) == 3
        world.clock.advance(hours=1, seconds=1)  # the window moves on
        data = fields(client, message="Stundu vēlāk.", email="ilze@novads.example.lv")
        assert submit(client, data).status_code == 303


def test_size_limits_answer_413(world):
    rules = {"max_files": 2, "max_file_bytes": 1000, "email_max_attachment_bytes": 1500}
    with site(world, **rules) as s, s.client() as client:
        data = fields(client, "en", message=REQUEST, email="ilze@novads.example.lv")
        one_big = {"files": ("big.bin", b"x" * 1001, "application/octet-stream")}
        answer = submit(client, data, one_big)
        assert answer.status_code == 413 and "too large or too many" in answer.text
        together = [
            ("files", ("a.bin", b"a" * 900, "application/octet-stream")),
            ("files", ("b.bin", b"b" * 900, "application/octet-stream")),
        ]
        assert submit(client, data, together).status_code == 413  # 1800 > 1500 in all
        three = [("files", (f"{n}.txt", b"n", "text/plain")) for n in "abc"]
        assert submit(client, data, three).status_code == 413
        huge = {"files": ("huge.bin", b"y" * 400_000, "application/octet-stream")}
        assert submit(client, data, huge).status_code == 413  # the body itself is too long
        assert count(world, QueuedInbound) == 0 and s.tickets() == []
        fine = {"files": ("ok.txt", b"ok" * 100, "text/plain")}
        assert submit(client, data, fine).status_code == 303


# --------------------------------------------------------------------------- suggestions


def test_suggestions_come_from_the_desks_knowledge_base_and_offers_and_clicks_count(world):
    kb = world.app.pipeline.triage.assistant.kb
    article = kb.for_desk("municipal", "lv")[0]
    question = article.questions[0] if article.questions else article.title
    with site(world) as s, s.client() as client:
        answer = client.get("/form/municipal/suggest", params={"q": question, "lang": "lv"})
        assert answer.status_code == 200
        assert "unsafe-inline" not in answer.headers["content-security-policy"]
        articles = answer.json()["articles"]
        assert 1 <= len(articles) <= 3
        assert article.slug in [a["slug"] for a in articles]
        opened = client.get(next(a["url"] for a in articles if a["slug"] == article.slug))
        assert opened.status_code == 200 and article.title in opened.text
        assert client.get("/form/municipal/suggest", params={"q": "ab"}).json() == {"articles": []}
        assert client.get("/form/municipal/article/no-such-article").status_code == 404
    day = NOW.astimezone(RIGA).date()
    figures = world.service.form_suggestions("municipal", day, day)
    counted = {a.slug: (a.offers, a.clicks) for a in figures.articles}
    assert counted[article.slug] == (1, 1)
    assert figures.offers == len(articles) and figures.clicks == 1
    assert (
        world.service.form_suggestions("municipal", day.replace(day=1), day.replace(day=29)).offers
        == 0
    )


def test_suggestions_are_rate_limited_per_client_address(world):
    with site(world, suggestions_per_ip_per_minute=2) as s, s.client() as client:
        for _ in range(2):
            assert client.get("/form/municipal/suggest", params={"q": "parole"}).status_code == 200
        assert client.get("/form/municipal/suggest", params={"q": "parole"}).status_code == 429
        world.clock.advance(minutes=1, seconds=1)
        assert client.get("/form/municipal/suggest", params={"q": "parole"}).status_code == 200
        assert s.form.suggesting["municipal"].limit == 2


def test_a_staff_address_typed_into_the_form_is_a_person_not_staff(
    database_url, example_config, classifier, tmp_path
):
    """A form proves nothing (like a mail without a trusted check): the trust rules hold."""
    email = example_config.email.model_copy(update={"staff_addresses": ["janis@example.lv"]})
    config = example_config.model_copy(update={"email": email})
    world = make_world(config, database_url, classifier, tmp_path)
    try:
        with site(world) as s, s.client() as client:
            data = fields(client, message=REQUEST, email="janis@example.lv")
            status_page(client, submit(client, data))
            [ticket] = s.tickets()
            with world.app.sessions() as session:
                [message] = session.scalars(select(Message).where(Message.direction == "in")).all()
            assert message.author_kind == "person" and ticket.status == "open"
            assert [item.kind for item in s.outbox()] == ["acknowledgement"]
    finally:
        world.app.engine.dispose()


# --------------------------------------------------------------------------- the parts


def test_rate_limits_keep_bounded_memory_on_the_injected_clock():
    clock = FixedClock(NOW)
    limit = RateLimit(clock, 2, dt.timedelta(hours=1), max_keys=3)
    for n in range(10):
        assert limit.allow(f"203.0.113.{n}")
    assert len(limit) == 3  # the least recently seen keys are forgotten
    assert limit.allow("a") and limit.allow("a") and not limit.allow("a")
    assert not limit.allows("a")  # looking counts nothing...
    clock.advance(hours=1)
    assert limit.allows("a")  # ...and the window moves with the clock


def test_form_tokens_are_bound_to_their_desk_purpose_and_time():
    signer = Signer(b"k" * 32)
    token = signer.form_token("municipal", NOW)
    hour = dt.timedelta(hours=1)
    submission = signer.form_submission(token, "municipal", NOW, hour)
    assert submission and len(submission) == 32
    assert signer.form_submission(token, "eparaksts", NOW, hour) is None  # another desk
    assert signer.form_submission(token, "municipal", NOW + 2 * hour, hour) is None  # expired
    assert signer.verify("ticket", token) is None  # another purpose
    assert Signer(b"x" * 32).form_submission(token, "municipal", NOW, hour) is None  # key
    assert signer.verify("ticket", signer.sign("ticket", "42")) == "42"
