"""Linking a chat by a code mailed to a known address (``/link <email>``, ``/link <code>``),
and the deep link an email acknowledgement offers (``offer_link_in_email``). End to end:
the real python-telegram-bot against the Bot API stand-in, the real queue runner, intake
steps, dispatcher and email sender (mail written as .eml files), both databases; the clock
is the app's FixedClock."""

from __future__ import annotations

import re
import tomllib
from email import policy
from email.parser import BytesParser
from pathlib import Path

import pytest
from sqlalchemy import select

from tests import telegram_channel
from tests.conftest import EXAMPLE_CONFIG
from tests.helpers import make_mail
from tests.telegram_channel import CHAT, Channel
from triage_desk.app import build_app
from triage_desk.config import ConfigError, parse_config
from triage_desk.intake.telegram.link_by_email import HOW, NO_CODE, SENT, TOO_MANY, VOID, WRONG
from triage_desk.intake.telegram.texts import LINKED
from triage_desk.storage.clients import ClientRecord, upsert_clients
from triage_desk.storage.links import CODE_TRIES, code_hash, is_linked, token_hash
from triage_desk.storage.models import (
    Direction,
    LinkCode,
    LinkToken,
    Message,
    OutboxItem,
    Ticket,
    TicketStatus,
)
from triage_desk.storage.repositories import find_requester

channel = telegram_channel.channel  # the fixture

OTHER_CHAT, THIRD_CHAT, FOURTH_CHAT = 515151, 616161, 717171
REPRESENTATIVE = "it.vaditajs@ogre.example.lv"
UNKNOWN = "nobody@ogre.example.lv"
CONSULTATION = "Kā izveidot atskaiti?"  # representative-only on the municipal desk
BOT = "pasvaldiba_atbalsts_bot"


def _clients(channel: Channel) -> None:
    record = ClientRecord(
        "Ogres novada pašvaldība",
        "municipal",
        ("ogre.example.lv",),
        ((REPRESENTATIVE, "Jānis Vadītājs", True),),
    )
    with channel.app.sessions.begin() as session:
        upsert_clients(session, [record])


def _say(channel: Channel, text: str, chat: int = CHAT, **fields: object) -> str:
    channel.api.push_message(chat, text, **fields)  # type: ignore[arg-type]
    channel.round()
    return channel.bot_says(chat)[-1]


def _mails(channel: Channel) -> list:
    """Every mail the email sender wrote, oldest first, parsed."""
    folder = Path(channel.app.config.outbound.file_dir)
    parser = BytesParser(policy=policy.default)
    return [parser.parsebytes(p.read_bytes()) for p in sorted(folder.glob("*.eml"))]


def _codes(channel: Channel, address: str = REPRESENTATIVE) -> list[str]:
    """The codes mailed to ``address``, oldest first."""
    found = []
    for mail in _mails(channel):
        if mail["To"] == address:
            match = re.search(r"^/link (\d{6})$", mail.get_content(), re.MULTILINE)
            if match:
                found.append(match.group(1))
    return found


def _sent(language: str, address: str) -> str:
    return SENT[language].format(address=address, digits=6, minutes=15)


def _linked_to(channel: Channel, chat: int, address: str) -> bool:
    with channel.app.sessions() as session:
        chat_person = find_requester(session, "telegram", str(chat))
        person = find_requester(session, "email", address)
        return (
            is_linked(session, "telegram", str(chat))
            and chat_person is not None
            and person is not None
            and chat_person.id == person.id
        )


# ------------------------------------------------------------------ /link <email>


def test_a_mailed_code_links_the_chat_and_a_linked_representative_is_not_refused(channel):
    _clients(channel)
    assert _say(channel, f"/link {REPRESENTATIVE.upper()}") == _sent("lv", REPRESENTATIVE)
    channel.work()
    [mail] = _mails(channel)
    assert mail["To"] == REPRESENTATIVE and mail["Auto-Submitted"] == "auto-replied"
    assert mail["Subject"].endswith("] Kods Telegram sarunas sasaistei")  # the chat's language
    [code] = _codes(channel)
    assert "15 minūtes" in mail.get_content()
    assert _say(channel, f"/link {code[:3]} {code[3:]}") == LINKED["lv"]
    assert _linked_to(channel, CHAT, REPRESENTATIVE)
    answer = _say(channel, CONSULTATION)
    [ticket] = channel.tickets()
    assert ticket.category == "consultation" and ticket.status == TicketStatus.OPEN
    assert "Atteikuma" not in answer
    assert _say(channel, f"/link {code}") == NO_CODE["lv"]  # single use


def test_an_unknown_address_gets_the_same_answer_and_no_mail(channel):
    _clients(channel)
    known = _say(channel, f"/link {REPRESENTATIVE}", language_code="en")
    unknown = _say(channel, f"/link {UNKNOWN}", chat=OTHER_CHAT, language_code="en")
    assert known.replace(REPRESENTATIVE, "X") == unknown.replace(UNKNOWN, "X")
    assert unknown == _sent("en", UNKNOWN)
    channel.work()
    assert [m["To"] for m in _mails(channel)] == [REPRESENTATIVE]
    # Its limit is counted alike too: the fourth request in the hour is refused for both.
    for _ in range(2):
        _say(channel, f"/link {REPRESENTATIVE}", language_code="en")
        _say(channel, f"/link {UNKNOWN}", chat=OTHER_CHAT, language_code="en")
    assert _say(channel, f"/link {REPRESENTATIVE}", language_code="en") == TOO_MANY["en"]
    assert _say(channel, f"/link {UNKNOWN}", chat=OTHER_CHAT, language_code="en") == TOO_MANY["en"]


def test_codes_are_limited_per_chat_and_per_address_each_hour(channel):
    _clients(channel)
    for _ in range(3):
        assert _say(channel, f"/link {REPRESENTATIVE}") == _sent("lv", REPRESENTATIVE)
    assert _say(channel, f"/link {REPRESENTATIVE}") == TOO_MANY["lv"]
    assert _say(channel, f"/link {UNKNOWN}") == TOO_MANY["lv"]  # the chat's, any address
    # Other chats asking for the same address: its own limit is used up already.
    assert _say(channel, f"/link {REPRESENTATIVE}", chat=OTHER_CHAT) == TOO_MANY["lv"]
    channel.work()
    assert len(_codes(channel)) == 3
    channel.clock.advance(minutes=61)
    assert _say(channel, f"/link {REPRESENTATIVE}", chat=OTHER_CHAT) == _sent("lv", REPRESENTATIVE)
    channel.work()
    assert len(_codes(channel)) == 4


def test_wrong_codes_use_up_the_tries_then_the_code_is_void(channel):
    _clients(channel)
    _say(channel, f"/link {REPRESENTATIVE}")
    channel.work()
    [code] = _codes(channel)
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    for left in range(CODE_TRIES - 1, 0, -1):
        assert _say(channel, f"/link {wrong}") == WRONG["lv"].format(left=left)
    assert _say(channel, f"/link {wrong}") == VOID["lv"]
    assert _say(channel, f"/link {code}") == NO_CODE["lv"]  # the right one, too late
    assert not _linked_to(channel, CHAT, REPRESENTATIVE)


def test_a_code_works_only_in_the_chat_that_asked_and_only_until_it_expires(channel):
    _clients(channel)
    _say(channel, f"/link {REPRESENTATIVE}")
    channel.work()
    [code] = _codes(channel)
    assert _say(channel, f"/link {code}", chat=OTHER_CHAT) == NO_CODE["lv"]
    assert not _linked_to(channel, OTHER_CHAT, REPRESENTATIVE)
    channel.clock.advance(minutes=15, seconds=1)
    assert _say(channel, f"/link {code}") == NO_CODE["lv"]
    assert not _linked_to(channel, CHAT, REPRESENTATIVE)


def test_a_new_code_voids_the_chats_earlier_one(channel):
    _clients(channel)
    _say(channel, f"/link {REPRESENTATIVE}")
    channel.work()
    _say(channel, f"/link {REPRESENTATIVE}")
    channel.work()
    _first, second = _codes(channel)
    with channel.app.sessions() as session:
        earlier, newer = session.scalars(select(LinkCode).order_by(LinkCode.id)).all()
        assert earlier.expires_at == channel.clock() < newer.expires_at  # void at once
    assert _say(channel, f"/link {second}") == LINKED["lv"]


def test_requests_are_forgotten_after_a_week_and_later_codes_still_go_out(channel):
    """The addresses chats asked for are kept KEEP_REQUESTS (7 days), then pruned by the
    next request; on SQLite the new request may get the pruned row's id, and its mail is
    queued all the same."""
    _clients(channel)
    _say(channel, f"/link {REPRESENTATIVE}")
    _say(channel, f"/link {UNKNOWN}", chat=OTHER_CHAT)
    channel.work()
    channel.clock.advance(days=6, hours=23)
    _say(channel, f"/link {REPRESENTATIVE}", chat=THIRD_CHAT)
    with channel.app.sessions() as session:
        assert len(session.scalars(select(LinkCode)).all()) == 3  # all within the week

    channel.clock.advance(days=7, hours=1)
    assert _say(channel, f"/link {REPRESENTATIVE}") == _sent("lv", REPRESENTATIVE)
    channel.work()

    with channel.app.sessions() as session:
        kept = session.scalars(select(LinkCode)).all()
    assert [(row.chat, row.created_at) for row in kept] == [(str(CHAT), channel.clock())]
    first, _second, latest = _codes(channel)
    assert _say(channel, f"/link {first}") == WRONG["lv"].format(left=CODE_TRIES - 1)
    assert _say(channel, f"/link {latest}") == LINKED["lv"]


def test_a_code_is_stored_only_salted_and_hashed(channel):
    _clients(channel)
    _say(channel, f"/link {REPRESENTATIVE}")
    _say(channel, f"/link {UNKNOWN}", chat=OTHER_CHAT)
    channel.work()
    [code] = _codes(channel)
    with channel.app.sessions() as session:
        known, unknown = session.scalars(select(LinkCode).order_by(LinkCode.id)).all()
        assert known.code_hash == code_hash(known.salt, str(CHAT), code)
        assert code not in (known.code_hash, known.salt)
        assert (unknown.code_hash, unknown.requester_id) == (None, None)


def test_a_link_command_delivered_twice_mails_one_code(channel):
    _clients(channel)
    update = channel.api.push_message(CHAT, f"/link {REPRESENTATIVE}")
    channel.api.push_update({"message": update["message"]})  # the same message again
    channel.round()
    assert channel.bot_says() == [_sent("lv", REPRESENTATIVE)]
    assert len(_codes(channel)) == 1


def test_the_mail_is_in_the_requesters_language_and_the_answer_in_the_chats(channel):
    _clients(channel)
    channel.app.email_intake.ingest(
        make_mail(
            subject="Report export",
            body="Hello, the report export button does nothing when I press it. Please help.",
            sender=f"Janis <{REPRESENTATIVE}>",
        ),
        "municipal",
        "smtp",
        received_at=channel.clock(),
    )
    assert _say(channel, "/lang ru").startswith("Теперь")
    assert _say(channel, f"/link {REPRESENTATIVE}") == _sent("ru", REPRESENTATIVE)
    channel.work()
    mail = _mails(channel)[-1]
    assert mail["Subject"].endswith("] Your code to link a Telegram chat")
    assert "valid for 15 minutes" in mail.get_content()


@pytest.mark.parametrize("rest", ["", "nav-adrese", "a@b", "x" * 250 + "@ogre.example.lv"])
def test_link_without_an_address_or_code_says_how(channel, rest):
    assert _say(channel, f"/link {rest}".strip()) == HOW["lv"]
    with channel.app.sessions() as session:
        assert session.scalars(select(LinkCode)).all() == []
    assert channel.tickets() == []


# ------------------------------------------------------------------ the offer in an email ack


def _offering(channel: Channel, **telegram: object) -> None:
    """The channel's app again, its desk's bot configured with ``telegram`` too."""
    raw = tomllib.loads(EXAMPLE_CONFIG.read_text(encoding="utf-8"))
    raw["telegram"] = {"api_base_url": channel.api.base_url}
    raw["desks"]["municipal"]["telegram"] = {"token_env": "TRIAGE_TEST_BOT", **telegram}
    raw.setdefault("outbound", {})["file_dir"] = channel.app.config.outbound.file_dir
    old = channel.app
    channel.app = build_app(
        parse_config(raw),
        migrate=False,
        classifier=old.classifier,
        database_url=channel.url,
        clock=channel.clock,
    )
    old.dispatcher.transports["telegram"].close()
    old.engine.dispose()
    channel.poller = channel.new_poller()


def _mail_in(channel: Channel, body: str, sender: str = REPRESENTATIVE) -> None:
    channel.app.email_intake.ingest(
        make_mail(subject="Atskaites", body=body, sender=sender),
        "municipal",
        "smtp",
        received_at=channel.clock(),
    )
    channel.work()


def _offer(text: str) -> str | None:
    found = re.search(r"https://t\.me/(\w+)\?start=(\S+)", text)
    return found.group(2) if found and found.group(1) == BOT else None


def test_an_email_acknowledgement_offers_a_deep_link_that_links_the_chat(channel):
    _offering(channel, username=f"@{BOT}", offer_link_in_email=True)
    _clients(channel)
    _mail_in(channel, "Labdien! Atskaišu modulī poga 'Izveidot' nestrādā, cita ceļa nav.")
    [ack] = _mails(channel)
    body = ack.get_content()
    token = _offer(body)
    assert token and "Saziņu varat turpināt arī Telegram" in body and "7 dienu" in body
    with channel.app.sessions() as session:
        [row] = session.scalars(select(LinkToken)).all()
        assert row.token_hash == token_hash(token)  # stored hashed, for this requester
        thread = session.scalars(
            select(Message.text).where(Message.direction == Direction.OUTBOUND)
        ).all()
        assert all(token not in text for text in thread)  # staff's copy: no live token
        assert f"https://t.me/{BOT}?start=…" in thread[0]
    assert _say(channel, f"/start {token}") == LINKED["lv"]
    assert _linked_to(channel, CHAT, REPRESENTATIVE)
    # Linked now: the next acknowledgement offers no link.
    _mail_in(channel, "Labdien! Vēl viens jautājums: eksports uz Excel nestrādā vispār.")
    assert _offer(_mails(channel)[-1].get_content()) is None


def test_each_acknowledgement_offers_a_fresh_token(channel):
    _offering(channel, username=BOT, offer_link_in_email=True)
    _mail_in(channel, "Labdien! Atskaišu modulī poga 'Izveidot' nestrādā, cita ceļa nav.")
    _mail_in(channel, "Labdien! Arī rēķinu sarakstā filtrs nestrādā.", sender="anna@x.example")
    first, second = (_offer(m.get_content()) for m in _mails(channel))
    assert first and second and first != second


def test_without_the_key_acknowledgements_are_as_before(channel):
    _offering(channel, username=BOT)  # a username alone offers nothing
    _mail_in(channel, "Labdien! Atskaišu modulī poga 'Izveidot' nestrādā, cita ceļa nav.")
    [ack] = _mails(channel)
    assert "t.me" not in ack.get_content() and "Telegram" not in ack.get_content()
    with channel.app.sessions() as session:
        assert session.scalars(select(LinkToken)).all() == []
        assert session.scalars(select(OutboxItem.kind)).all() == ["acknowledgement"]


def test_a_chat_acknowledgement_offers_no_link(channel):
    _offering(channel, username=BOT, offer_link_in_email=True)
    answer = _say(channel, "Nevaru pieslēgties pašvaldības portālam, parole netiek pieņemta.")
    assert "t.me" not in answer
    [ticket] = channel.tickets()
    assert isinstance(ticket, Ticket) and ticket.channel == "telegram"


def test_the_offer_needs_the_bots_username(monkeypatch):
    monkeypatch.setenv("TRIAGE_TEST_BOT", "123456:TEST-token-of-the-desk-bot")
    raw = tomllib.loads(EXAMPLE_CONFIG.read_text(encoding="utf-8"))
    raw["desks"]["municipal"]["telegram"] = {
        "token_env": "TRIAGE_TEST_BOT",
        "offer_link_in_email": True,
    }
    with pytest.raises(ConfigError, match="offer_link_in_email = true needs username"):
        parse_config(raw)


@pytest.mark.parametrize("language", ["lv", "en", "ru"])
@pytest.mark.parametrize("desk", ["municipal", "eparaksts"])
def test_the_code_mail_renders_in_each_language(desk, language):
    from triage_desk.responders.render import TemplateRenderer

    context = {"desk_name": "Atbalsts", "code": "042917", "valid_minutes": 15, "tries": 5}
    for bot in (None, f"@{BOT}"):
        rendered = TemplateRenderer().render("link_code", desk, language, {**context, "bot": bot})
        assert rendered.subject.startswith("[Atbalsts] ")
        assert "/link 042917\n" in rendered.text and "15" in rendered.text and "5" in rendered.text
        assert (bot or "") in rendered.text and "{{" not in rendered.text


def test_migration_0018_goes_down_and_up_and_matches_the_models(database_url):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlalchemy import inspect

    from triage_desk.storage.db import HEAD_REVISION, current_revision, downgrade, make_engine
    from triage_desk.storage.db import upgrade as upgrade_db
    from triage_desk.storage.models import Base

    assert current_revision(database_url) == HEAD_REVISION  # 0018 or a later head
    downgrade(database_url, "0017_chat_identity")
    engine = make_engine(database_url)
    assert "link_codes" not in inspect(engine).get_table_names()
    engine.dispose()
    upgrade_db(database_url)
    engine = make_engine(database_url)
    with engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
    engine.dispose()
