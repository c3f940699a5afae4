"""Clients, representatives and notices to representatives over real HTTP (uvicorn on a
loopback port, httpx) on SQLite and PostgreSQL: every change in the database and the audit
log, the roles, the CSV import's report and refusals, the five-business-day rule of terms
clause 23 across a weekend and a Latvian holiday, and a notice sent once."""

from __future__ import annotations

import datetime as dt
import re

import httpx
from sqlalchemy import func, select

from tests.console_support import ConsoleWorld, mail
from tests.test_console_http import audit, sign_in
from triage_desk.storage import links
from triage_desk.storage.models import (
    Client,
    Membership,
    Notice,
    NoticeRecipient,
    OutboxItem,
    RequesterAddress,
)

RIGA = dt.timezone(dt.timedelta(hours=2))  # November and December: EET, no DST
# Friday 13 November 2026, 10:00 in Riga. Five business days on: Mon 16, Tue 17, (Wed 18 is
# Proclamation Day), Thu 19, Fri 20, Mon 23 November at 10:00.
FRIDAY = dt.datetime(2026, 11, 13, 10, 0, tzinfo=RIGA)
EARLIEST = dt.datetime(2026, 11, 23, 10, 0, tzinfo=RIGA)


def new_client(world: ConsoleWorld, name: str = "Ogres novads", desk: str = "municipal") -> int:
    return world.service.add_client(name, desk, ["ogre.lv"], "setup").id


def chat_of(world: ConsoleWorld, requester_id: int, chat: str) -> None:
    """The Telegram chat ``chat`` linked to the requester, as a /start token would."""
    with world.app.sessions.begin() as session:
        links.link(session, "telegram", chat, requester_id)


def requester_at(world: ConsoleWorld, address: str) -> int:
    with world.app.sessions() as session:
        found = session.scalar(
            select(RequesterAddress.requester_id).where(RequesterAddress.address == address)
        )
        assert found is not None
        return found


def outbox_rows(world: ConsoleWorld, kind: str) -> list[tuple[str, str]]:
    with world.app.sessions() as session:
        rows = session.execute(
            select(OutboxItem.channel, OutboxItem.recipient).where(OutboxItem.kind == kind)
        )
        return sorted((channel, recipient) for channel, recipient in rows)


# --------------------------------------------------------------------------- clients


def test_a_supervisor_manages_clients_members_and_representatives_an_agent_reads(world, base):
    agent, agent_token = sign_in(base, "agnese")
    refused = agent.post(
        "/clients", data={"name": "X", "desk": "municipal", "csrf_token": agent_token}
    )
    assert refused.status_code == 403
    boss, token = sign_in(base, "sandra")
    added = boss.post(
        "/clients",
        data={"name": "Ogres novads", "desk": "municipal", "domains": "ogre.lv, @Novads.LV"},
        headers={"X-CSRF-Token": token},
    )
    assert added.status_code == 303
    client_id = int(added.headers["location"].rsplit("/", 1)[1])
    with world.app.sessions() as session:
        stored = session.get(Client, client_id)
        assert (stored.name, stored.desk, stored.domains) == (
            "Ogres novads",
            "municipal",
            ["novads.lv", "ogre.lv"],
        )
    again = boss.post(
        "/clients",
        data={"name": "Ogres novads", "desk": "municipal"},
        headers={"X-CSRF-Token": token},
    )
    assert again.status_code == 409 and "exists already" in again.text
    member = boss.post(
        f"/clients/{client_id}/members",
        data={"address": "Ilze@Ogre.lv", "name": "Ilze Kalniņa", "csrf_token": token},
    )
    assert member.status_code == 303
    requester_id = requester_at(world, "ilze@ogre.lv")
    made = boss.post(
        f"/clients/{client_id}/members/{requester_id}/representative",
        data={"representative": "true", "csrf_token": token},
    )
    assert made.status_code == 303
    with world.app.sessions() as session:
        row = session.get(Membership, (requester_id, client_id))
        assert row.is_representative and row.display_name == "Ilze Kalniņa"
    assert (
        agent.post(
            f"/clients/{client_id}/members/{requester_id}/representative",
            data={"representative": "false", "csrf_token": agent_token},
        ).status_code
        == 403
    )
    page = agent.get(f"/clients/{client_id}").text
    assert "Ilze Kalniņa" in page and "ilze@ogre.lv" in page and "make_representative" not in page
    unmade = boss.post(
        f"/clients/{client_id}/members/{requester_id}/representative",
        data={"representative": "false", "csrf_token": token},
    )
    assert unmade.status_code == 303
    with world.app.sessions() as session:
        assert not session.get(Membership, (requester_id, client_id)).is_representative
    domains = boss.post(
        f"/clients/{client_id}/domains", data={"domains": "ogre.lv", "csrf_token": token}
    )
    assert domains.status_code == 303
    with world.app.sessions() as session:
        assert session.get(Client, client_id).domains == ["ogre.lv"]
    assert [e.actor for e in audit(world, "client_added")] == ["sandra"]
    assert audit(world, "client_member_added")[0].details["address"] == "ilze@ogre.lv"
    assert [e.actor for e in audit(world, "representative_set")] == ["sandra"]
    assert [e.actor for e in audit(world, "representative_unset")] == ["sandra"]
    assert audit(world, "client_domains")[0].details["old"] == ["novads.lv", "ogre.lv"]


def test_names_shown_are_staffs_never_a_mails_display_name(world, base):
    world.mail(mail("Jautājums", "Labdien! Kā pieslēgties?", sender="Direktors <ilze@ogre.lv>"))
    client_id = new_client(world)
    requester_id = requester_at(world, "ilze@ogre.lv")
    boss, token = sign_in(base, "sandra")
    boss.post(
        f"/requesters/{requester_id}/clients",
        data={"client_id": str(client_id), "representative": "true", "csrf_token": token},
    )
    for page in (
        boss.get(f"/clients/{client_id}").text,
        boss.get(f"/requesters/{requester_id}").text,
    ):
        assert "ilze@ogre.lv" in page and "Direktors" not in page
    with world.app.sessions() as session:
        assert session.get(Membership, (requester_id, client_id)).is_representative


def test_requesters_are_found_by_address_with_their_linked_chats(world, base):
    client_id = new_client(world)
    world.service.add_client_member(client_id, "ilze@ogre.lv", "setup", "Ilze", True)
    requester_id = requester_at(world, "ilze@ogre.lv")
    chat_of(world, requester_id, "555001")
    agent, _ = sign_in(base, "agnese")
    found = agent.get("/requesters", params={"q": "ogre"}).text
    assert f"/requesters/{requester_id}" in found and "telegram: 555001" in found
    page = agent.get(f"/requesters/{requester_id}").text
    assert "email: ilze@ogre.lv" in page and "telegram: 555001" in page
    assert "Ogres novads" in page and "add_to_client" not in page
    assert agent.get("/requesters/999999").status_code == 404


CSV = (
    "client,desk,domain,address,name,representative\n"
    "Ogres novads,municipal,ogre.lv,ilze@ogre.lv,Ilze Kalniņa,yes\n"
    "Ogres novads,municipal,,janis@ogre.lv,Jānis Bērziņš,no\n"
    "Cēsu novads,municipal,cesis.lv,,,\n"
)


def upload(browser: httpx.Client, token: str, body: bytes, name: str = "clients.csv"):
    return browser.post(
        "/clients/import",
        files={"file": (name, body, "text/csv")},
        headers={"X-CSRF-Token": token},
    )


def test_csv_import_reports_what_changed_and_refuses_a_bad_row_by_its_line(world, base):
    boss, token = sign_in(base, "sandra")
    first = upload(boss, token, CSV.encode())
    assert first.status_code == 200
    added = re.search(r'id="clients-added">([^<]*)<', first.text).group(1)
    assert added == "Ogres novads, Cēsu novads"
    assert "ilze@ogre.lv" in re.search(r'id="representatives-set">([^<]*)<', first.text).group(1)
    with world.app.sessions() as session:
        ogre = session.scalar(select(Client).where(Client.name == "Ogres novads"))
        assert {(m.display_name, m.is_representative) for m in ogre.memberships} == {
            ("Ilze Kalniņa", True),
            ("Jānis Bērziņš", False),
        }
    same = upload(boss, token, CSV.encode())
    assert 'id="no-changes"' in same.text
    changed = CSV.replace("janis@ogre.lv,Jānis Bērziņš,no", "janis@ogre.lv,Jānis Bērziņš,yes")
    report = upload(boss, token, changed.encode()).text
    assert "janis@ogre.lv" in re.search(r'id="representatives-set">([^<]*)<', report).group(1)
    bad = CSV + "Rīgas novads,municipal,,not-an-address,,yes\n"
    refused = upload(boss, token, bad.encode())
    assert refused.status_code == 400 and "line 5" in refused.text
    other_desk = CSV + "Rīgas novads,nowhere,,a@b.lv,,yes\n"
    assert "line 5" in upload(boss, token, other_desk.encode()).text
    with world.app.sessions() as session:  # a refused file changes nothing
        assert session.scalar(select(Client.id).where(Client.name == "Rīgas novads")) is None
    too_big = upload(boss, token, CSV.encode() + b"#" * 1_000_001)
    assert too_big.status_code == 400 and "1000000" in too_big.text
    assert upload(boss, token, b"\xff\xfe\x00bad").status_code == 400
    imports = audit(world, "clients_imported")
    assert [(e.actor, e.details["clients_added"]) for e in imports][:2] == [
        ("sandra", 2),
        ("sandra", 0),
    ]
    assert len(imports) == 3  # the refused files are not imports
    agent, agent_token = sign_in(base, "agnese")
    assert upload(agent, agent_token, CSV.encode()).status_code == 403


# --------------------------------------------------------------------------- notices


def represented(world: ConsoleWorld) -> dict[str, int]:
    """Ogres novads: Ilze (email only) and Jānis (email and a linked chat) represent it,
    Pēteris is a member only; Cēsu novads has its own representative."""
    ogre = new_client(world)
    cesis = world.service.add_client("Cēsu novads", "municipal", [], "setup").id
    world.service.add_client_member(ogre, "ilze@ogre.lv", "setup", "Ilze", True)
    world.service.add_client_member(ogre, "janis@ogre.lv", "setup", "Jānis", True)
    world.service.add_client_member(ogre, "peteris@ogre.lv", "setup", "Pēteris", False)
    world.service.add_client_member(cesis, "anna@cesis.lv", "setup", "Anna", True)
    chat_of(world, requester_at(world, "janis@ogre.lv"), "777001")
    chat_of(world, requester_at(world, "peteris@ogre.lv"), "777002")
    return {"ogre": ogre, "cesis": cesis}


def notice_form(browser: httpx.Client, desk: str = "municipal") -> dict[str, str]:
    page = browser.get("/notices", params={"desk": desk}).text
    key = re.search(r'name="key" value="([^"]+)"', page).group(1)
    token = re.search(r'<meta name="csrf-token" content="([^"]*)"', page).group(1)
    return {"key": key, "csrf_token": token, "desk": desk}


def post_notice(browser, form, clients, change_at: dt.datetime) -> httpx.Response:
    data = {
        **form,
        "client": [str(c) for c in clients],
        "change_at": change_at.strftime("%Y-%m-%dT%H:%M"),
        "subject": "Sistēmas atjaunināšana",
        "text": "Sistēma nebūs pieejama no 10:00 līdz 12:00.",
    }
    return browser.post("/notices", data=data)


def test_five_business_days_across_a_weekend_and_a_latvian_holiday(world, base):
    clients = represented(world)
    world.clock.set(FRIDAY.astimezone(dt.UTC))
    boss, _ = sign_in(base, "sandra")
    page = boss.get("/notices").text
    assert re.search(r'id="earliest">([^<]*)<', page).group(1) == "2026-11-23 10:00"
    form = notice_form(boss)
    too_soon = post_notice(boss, form, [clients["ogre"]], EARLIEST - dt.timedelta(hours=1))
    assert too_soon.status_code == 409 and "2026-11-23 10:00" in too_soon.text
    with world.app.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Notice)) == 0
    assert outbox_rows(world, "notice") == []
    done = post_notice(boss, form, [clients["ogre"]], EARLIEST)
    assert done.status_code == 303 and done.headers["location"].startswith("/notices/")


def test_the_rule_counts_business_days_not_hours(world):
    """From Monday 30 November 10:00: Mon 7 December 10:00 (a plain week) is the earliest."""
    earliest = world.service.earliest_notice_change("municipal")
    assert earliest == dt.datetime(2026, 12, 7, 10, 0, tzinfo=RIGA)
    world.clock.set(dt.datetime(2026, 12, 19, 12, 0, tzinfo=RIGA))  # a Saturday
    # Mon 21, Tue 22, Wed 23, (24-26 Christmas, 27 Sunday) Mon 28, Tue 29 December.
    later = world.service.earliest_notice_change("municipal")
    assert later == dt.datetime(2026, 12, 29, 12, 0, tzinfo=RIGA)


def test_a_notice_reaches_each_representatives_mail_and_linked_chat_once(world, base):
    clients = represented(world)
    boss, _ = sign_in(base, "sandra")
    form = notice_form(boss)
    change = dt.datetime(2026, 12, 9, 9, 0, tzinfo=RIGA)
    sent = post_notice(boss, form, [clients["ogre"]], change)
    assert sent.status_code == 303
    assert outbox_rows(world, "notice") == [
        ("email", "ilze@ogre.lv"),
        ("email", "janis@ogre.lv"),
        ("telegram", "777001"),
    ]  # not Pēteris (no representative), not Cēsu novads (not picked)
    again = post_notice(boss, form, [clients["ogre"]], change)  # the same form, reposted
    assert again.headers["location"] == sent.headers["location"]
    assert len(outbox_rows(world, "notice")) == 3
    with world.app.sessions() as session:
        notice = session.scalar(select(Notice))
        recipients = list(session.scalars(select(NoticeRecipient)))
        assert notice.created_by == "sandra" and notice.change_at == change
        assert {r.address for r in recipients} == {"ilze@ogre.lv", "janis@ogre.lv", "777001"}
        assert all(r.outbox_id is not None for r in recipients)
        mail_text = session.scalar(
            select(OutboxItem.body_text).where(OutboxItem.recipient == "ilze@ogre.lv")
        )
    assert "Sistēma nebūs pieejama" in mail_text and "2026. gada 9. decembrī" in mail_text
    [event] = audit(world, "notice_sent")
    assert event.actor == "sandra" and event.details["recipients"] == 3
    agent, agent_token = sign_in(base, "agnese")
    listed = agent.get("/notices").text
    assert "Sistēmas atjaunināšana" in listed and "Ogres novads" in listed
    detail = agent.get(sent.headers["location"]).text
    assert detail.count('class="recipient pending"') == 3 and "777001" in detail
    assert "send_notice" not in listed  # no form for an agent
    as_agent = {**notice_form(boss), "csrf_token": agent_token}
    assert post_notice(agent, as_agent, [clients["ogre"]], change).status_code == 403


def test_a_notice_with_a_client_of_another_desk_or_none_is_refused(world, base):
    clients = represented(world)
    other = world.service.add_client("Valsts kase", "eparaksts", [], "setup").id
    boss, _ = sign_in(base, "sandra")
    change = dt.datetime(2026, 12, 9, 9, 0, tzinfo=RIGA)
    assert post_notice(boss, notice_form(boss), [other], change).status_code == 400
    assert post_notice(boss, notice_form(boss), [], change).status_code == 400
    assert post_notice(boss, notice_form(boss), [clients["ogre"], 9999], change).status_code == 404
    assert outbox_rows(world, "notice") == []


def test_a_latvian_speaking_supervisor_reads_the_refusal_in_latvian(world, base):
    clients = represented(world)
    world.accounts.set_language(
        next(u.id for u in world.accounts.users() if u.username == "sandra"), "lv"
    )
    boss, _ = sign_in(base, "sandra")
    refused = post_notice(boss, notice_form(boss), [clients["ogre"]], world.clock())
    assert refused.status_code == 409
    assert "Paziņojums atteikts" in refused.text and "darba dienas" in refused.text
    assert "business days" not in refused.text
    missing = boss.get("/clients/4242")
    assert missing.status_code == 404 and "Nav atrasts: klients 4242." in missing.text
