"""The console's ticket and list actions over real HTTP (uvicorn on a loopback port, httpx)
on SQLite and PostgreSQL: bulk confirm, notes, assignment, attachment download, quarantine
release and discard, outbox retry and address clear. Each asserts its effect in the
database and its audit row, and that a request without the role is refused and changes
nothing."""

from __future__ import annotations

import datetime as dt
from email.message import EmailMessage

from sqlalchemy import select, update

from tests.console_support import NOW, ConsoleWorld, mail
from tests.test_console_http import audit, client, sign_in, ticket
from triage_desk.storage.models import (
    OutboxItem,
    OutboxStatus,
    QuarantinedMail,
    QuarantineStatus,
    RequesterAddress,
    StoredAttachment,
    TicketNote,
)


def two_tickets(world: ConsoleWorld) -> tuple[str, str]:
    first = world.mail(mail("Nevaru pieslēgties", "Labdien! Parole neder, kas jādara?"))
    second = world.mail(
        mail("Kļūda atskaitē", "Labdien! Atskaite nerāda datus.", sender="janis@ogre.lv")
    )
    return first, second


def anonymous_refused(base: str, path: str, data: dict[str, object]) -> None:
    """No session: a page redirects to sign-in, anything else is 401."""
    answer = client(base).post(path, data=data)
    assert answer.status_code == 401, answer.text[:200]


def test_bulk_confirm_confirms_each_and_reports_a_refusal_per_ticket(world, base):
    first, second = two_tickets(world)
    anonymous_refused(base, "/tickets/confirm", {"number": [first, second]})
    assert not ticket(world, first).category_confirmed
    browser, token = sign_in(base, "agnese")
    answer = browser.post(
        "/tickets/confirm",
        data={"number": [first, second, "MUN-2026-999999"], "csrf_token": token},
    )
    assert answer.status_code == 200
    assert ticket(world, first).category_confirmed and ticket(world, second).category_confirmed
    assert 'class="problem"' in answer.text and "Not found: ticket MUN-2026-999999" in answer.text
    confirmed = audit(world, "category_confirmed")
    assert sorted((e.actor, e.ticket_id) for e in confirmed) == sorted(
        [("agnese", ticket(world, first).id), ("agnese", ticket(world, second).id)]
    )


def test_a_note_is_stored_with_its_author_and_never_queued(world, base):
    number, _ = two_tickets(world)
    anonymous_refused(base, f"/tickets/{number}/notes", {"text": "x"})
    with world.app.sessions() as session:
        outbox_before = len(list(session.scalars(select(OutboxItem.id))))
    browser, token = sign_in(base, "agnese")
    answer = browser.post(
        f"/tickets/{number}/notes", data={"text": "Piezvanīt rīt", "csrf_token": token}
    )
    assert answer.status_code == 303 and answer.headers["location"].endswith("#notes")
    with world.app.sessions() as session:
        notes = list(session.scalars(select(TicketNote)))
        assert [(n.author, n.text, n.ticket_id) for n in notes] == [
            ("agnese", "Piezvanīt rīt", ticket(world, number).id)
        ]
        assert len(list(session.scalars(select(OutboxItem.id)))) == outbox_before
    assert [e.actor for e in audit(world, "note_added")] == ["agnese"]
    assert "Piezvanīt rīt" in browser.get(f"/tickets/{number}").text
    empty = browser.post(f"/tickets/{number}/notes", data={"text": " ", "csrf_token": token})
    assert empty.status_code == 400


def test_assignment_names_an_active_user_only(world, base):
    number, _ = two_tickets(world)
    anonymous_refused(base, f"/tickets/{number}/assign", {"assignee": "sandra"})
    browser, token = sign_in(base, "agnese")
    done = browser.post(
        f"/tickets/{number}/assign", data={"assignee": "sandra", "csrf_token": token}
    )
    assert done.status_code == 303
    assert ticket(world, number).assignee == "sandra"
    unknown = browser.post(
        f"/tickets/{number}/assign", data={"assignee": "mallory", "csrf_token": token}
    )
    assert unknown.status_code == 400 and ticket(world, number).assignee == "sandra"
    cleared = browser.post(f"/tickets/{number}/assign", data={"assignee": "", "csrf_token": token})
    assert cleared.status_code == 303 and ticket(world, number).assignee is None
    events = audit(world, "assigned")
    assert [(e.actor, e.details.get("new")) for e in events] == [
        ("agnese", "sandra"),
        ("agnese", None),
    ]


def test_an_attachment_is_offered_for_saving_under_a_safe_name(world, base):
    message = EmailMessage()
    message["From"] = "ilze@novads.example.lv"
    message["To"] = "atbalsts@example.lv"
    message["Subject"] = "Kļūdas ekrānuzņēmums"
    message["Date"] = "Mon, 30 Nov 2026 09:55:00 +0200"
    message["Message-ID"] = "<attachment-1@novads.example.lv>"
    message.set_content("Labdien! Pielikumā kļūda, sistēma nestrādā.")
    payload = b"<html><script>alert(1)</script></html>"
    message.add_attachment(
        payload, maintype="text", subtype="html", filename='../../etc/"evil" name.html'
    )
    number = world.mail(bytes(message))
    with world.app.sessions() as session:
        attachment_id = session.scalar(select(StoredAttachment.id))
    path = f"/tickets/{number}/attachments/{attachment_id}"
    assert client(base).get(path).status_code == 303  # to sign-in
    browser, _ = sign_in(base, "agnese")
    answer = browser.get(path)
    assert answer.status_code == 200 and answer.content == payload
    disposition = answer.headers["content-disposition"]
    assert disposition == 'attachment; filename="evilname.html"'  # no path, quote or space
    assert answer.headers["content-type"] == "application/octet-stream"
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in answer.headers["content-security-policy"]
    viewed = [e for e in audit(world, "console_viewed") if "attachments" in e.details["path"]]
    assert [(e.actor, e.ticket_id) for e in viewed] == [("agnese", ticket(world, number).id)]
    assert browser.get(f"/tickets/{number}/attachments/999999").status_code == 404


def held(world: ConsoleWorld, raw: bytes) -> int:
    with world.app.sessions.begin() as session:
        item = QuarantinedMail(
            channel="email",
            source="smtp",
            desk="municipal",
            envelope_sender="ilze@novads.example.lv",
            recipients=["atbalsts@example.lv"],
            raw=raw,
            reason="timeout",
            detail="took too long",
            status=QuarantineStatus.HELD,
            attempts=1,
            received_at=NOW - dt.timedelta(minutes=5),
        )
        session.add(item)
        session.flush()
        return item.id


def quarantined(world: ConsoleWorld, item_id: int) -> QuarantinedMail:
    with world.app.sessions() as session:
        found = session.get(QuarantinedMail, item_id)
        assert found is not None
        return found


def test_quarantine_release_and_discard_are_a_supervisors(world, base):
    release_id = held(world, mail("Nestrādā", "Labdien! Sistēma nestrādā, kļūda."))
    discard_id = held(world, b"\x00not a mail")
    agent, agent_token = sign_in(base, "agnese")
    headers = {"X-CSRF-Token": agent_token}
    assert agent.post(f"/quarantine/{release_id}/release", headers=headers).status_code == 403
    assert agent.post(f"/quarantine/{discard_id}/discard", headers=headers).status_code == 403
    assert quarantined(world, release_id).status == QuarantineStatus.HELD
    boss, token = sign_in(base, "sandra")
    released = boss.post(f"/quarantine/{release_id}/release", data={"csrf_token": token})
    assert released.status_code == 303
    item = quarantined(world, release_id)
    assert item.status == QuarantineStatus.RELEASED and item.ticket_id is not None
    [event] = audit(world, "quarantine_released")
    assert event.actor == "sandra" and event.ticket_id == item.ticket_id
    discarded = boss.post(
        f"/quarantine/{discard_id}/discard", data={"reason": "Mēstule", "csrf_token": token}
    )
    assert discarded.status_code == 303
    item = quarantined(world, discard_id)
    assert (item.status, item.discarded_by, item.discard_reason) == (
        QuarantineStatus.DISCARDED,
        "sandra",
        "Mēstule",
    )
    assert [e.actor for e in audit(world, "quarantine_discarded")] == ["sandra"]
    again = boss.post(f"/quarantine/{discard_id}/discard", data={"csrf_token": token})
    assert again.status_code == 409


def test_a_dead_outbox_item_is_retried_by_a_supervisor(world, base):
    two_tickets(world)
    with world.app.sessions.begin() as session:
        item_id = session.scalar(select(OutboxItem.id).order_by(OutboxItem.id))
        session.execute(
            update(OutboxItem)
            .where(OutboxItem.id == item_id)
            .values(status=OutboxStatus.DEAD, attempts=8, last_error="550 no such user")
        )
    agent, agent_token = sign_in(base, "agnese")
    refused = agent.post(f"/outbox/{item_id}/retry", data={"csrf_token": agent_token})
    assert refused.status_code == 403
    boss, token = sign_in(base, "sandra")
    assert boss.post(f"/outbox/{item_id}/retry", data={"csrf_token": token}).status_code == 303
    with world.app.sessions() as session:
        item = session.get(OutboxItem, item_id)
        assert (item.status, item.attempts) == (OutboxStatus.PENDING, 0)
    [event] = audit(world, "outbox_requeued")
    assert event.actor == "sandra" and event.details["outbox_id"] == item_id
    again = boss.post(f"/outbox/{item_id}/retry", data={"csrf_token": token})
    assert again.status_code == 409  # not a dead letter any more


def test_an_undeliverable_mark_is_cleared_by_a_supervisor(world, base):
    two_tickets(world)
    with world.app.sessions.begin() as session:
        session.execute(
            update(RequesterAddress)
            .where(RequesterAddress.address == "janis@ogre.lv")
            .values(undeliverable=True, undeliverable_reason="550", undeliverable_at=NOW)
        )
    form = {"address": "janis@ogre.lv", "channel": "email"}
    agent, agent_token = sign_in(base, "agnese")
    assert (
        agent.post("/addresses/clear", data={**form, "csrf_token": agent_token}).status_code == 403
    )
    boss, token = sign_in(base, "sandra")
    assert "janis@ogre.lv" in boss.get("/addresses").text
    assert boss.post("/addresses/clear", data={**form, "csrf_token": token}).status_code == 303
    with world.app.sessions() as session:
        row = session.scalar(
            select(RequesterAddress).where(RequesterAddress.address == "janis@ogre.lv")
        )
        assert not row.undeliverable
    [event] = audit(world, "undeliverable_cleared")
    assert (event.actor, event.details["address"]) == ("sandra", "janis@ogre.lv")
    unknown = boss.post(
        "/addresses/clear", data={"address": "nobody@x.lv", "channel": "email", "csrf_token": token}
    )
    assert unknown.status_code == 404


def test_refusals_in_a_latvian_interface_are_latvian(world, base):
    number, _ = two_tickets(world)
    browser, token = sign_in(base, "agnese")
    browser.post("/language", data={"language": "lv", "next": "/queue", "csrf_token": token})
    page = browser.post(
        "/tickets/confirm", data={"number": [number, "MUN-2026-999999"], "csrf_token": token}
    ).text
    assert "Nav atrasts: pieteikums MUN-2026-999999." in page
    browser.post(f"/tickets/{number}/resolve", data={"csrf_token": token})
    again = browser.post(f"/tickets/{number}/resolve", data={"csrf_token": token})
    assert again.status_code == 409 and "Pieteikums jau ir atrisināts." in again.text
    no_reason = browser.post(
        f"/tickets/{number}/category",
        data={"category": "emergency", "reason": "", "csrf_token": token},
    )
    assert no_reason.status_code == 400 and "vajag iemeslu" in no_reason.text
    assert "needs a reason" not in no_reason.text


def test_the_language_of_a_refusal_follows_the_user():
    """The same refusal: Latvian for one user, English for another, the CLI's message kept."""
    from triage_desk.console.refusals import refusal_text
    from triage_desk.desk_service import Conflict, NotFound

    missing = NotFound("outbox item", 7, "no outbox item #7")
    assert refusal_text("lv", missing) == "Nav atrasts: izejošais sūtījums 7."
    assert refusal_text("en", missing) == "Not found: outbox item 7."
    assert missing.message == "no outbox item #7"
    unknown = Conflict("something new", code="code_without_text")
    assert refusal_text("lv", unknown) == "something new"  # no text yet: the service's words
