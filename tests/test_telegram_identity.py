"""Who is writing in a chat, and in which language to answer: ``/lang``, deep-link linking
(``triage telegram link``, ``/start <token>``), ``/unlink``. End to end: the real
python-telegram-bot against the Bot API stand-in, the real queue runner, intake steps and
classifier, both databases; the clock is the app's FixedClock."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import select

from tests import telegram_channel
from tests.conftest import EXAMPLE_CONFIG
from tests.telegram_channel import CHAT, QUESTION, Channel
from triage_desk.cli import main
from triage_desk.intake.telegram.links import bot_username, new_deep_link
from triage_desk.storage.clients import ClientRecord, upsert_clients
from triage_desk.storage.links import is_linked, token_hash
from triage_desk.storage.models import LinkToken, Ticket, TicketStatus
from triage_desk.storage.repositories import find_requester

channel = telegram_channel.channel  # the fixture

OTHER_CHAT = 515151
REPRESENTATIVE = "it.vaditajs@ogre.example.lv"
MEMBER = "peteris@ogre.example.lv"
# A consultation (representative-only on the municipal desk) the model is sure of.
CONSULTATION = "Kā izveidot atskaiti?"
GROUNDS = "28. punkts"


def _clients(channel: Channel) -> None:
    record = ClientRecord(
        "Ogres novada pašvaldība",
        "municipal",
        ("ogre.example.lv",),
        ((REPRESENTATIVE, "Jānis Vadītājs", True), (MEMBER, None, False)),
    )
    with channel.app.sessions.begin() as session:
        upsert_clients(session, [record])


def _link(channel: Channel, address: str, valid: dt.timedelta = dt.timedelta(hours=24)) -> str:
    """A deep link as ``triage telegram link`` makes it, at the channel's clock."""
    username = bot_username(channel.app.config, "municipal")  # getMe, from the stand-in
    with channel.app.sessions.begin() as session:
        return new_deep_link(session, username, address, channel.clock(), valid)


def _token(url: str) -> str:
    return url.split("?start=", 1)[1]


def _say(channel: Channel, text: str, chat: int = CHAT, **fields: object) -> str:
    """The person writes ``text``; what the bot answers to it (its messages since, one
    text: a question may get the assistant's answer after the acknowledgement)."""
    before = len(channel.bot_says(chat))
    channel.api.push_message(chat, text, **fields)  # type: ignore[arg-type]
    channel.round()
    return "\n".join(channel.bot_says(chat)[before:])


def _refused(ticket: Ticket) -> bool:
    return ticket.status == TicketStatus.REFUSED


# ------------------------------------------------------------------ /lang


def test_a_bare_lang_lists_the_choices_in_the_chats_language(channel):
    answer = _say(channel, "/lang", language_code="ru")
    assert answer.startswith("Выберите язык ответов")
    assert all(f"/lang {code}" in answer for code in ("lv", "en", "ru"))
    assert channel.tickets() == []


def test_lang_switches_every_later_reply_of_the_chat(channel):
    assert _say(channel, "/lang en") == "From now on we will reply in English."
    ack = _say(channel, QUESTION)  # Latvian text, Latvian app: the choice wins
    [ticket] = channel.tickets()
    assert ticket.language == "en" and ack.startswith("Hello")
    assert _say(channel, "/status").startswith("Your open requests:")
    assert _say(channel, "/lang xx").startswith("Choose the language of our replies")


def test_lang_after_a_ticket_switches_that_ticket_too(channel):
    _say(channel, QUESTION)
    [ticket] = channel.tickets()
    assert ticket.language == "lv"  # by default: the message's language
    assert _say(channel, "/lang ru") == "Теперь мы будем отвечать на русском языке."
    [ticket] = channel.tickets()
    assert ticket.language == "ru"  # staff replies and notices to it come in Russian


def test_without_lang_a_command_is_answered_in_the_apps_language(channel):
    assert _say(channel, "/status", language_code="en") == "You have no open requests."


# ------------------------------------------------------------------ who is writing


def test_an_unlinked_chat_asking_a_representative_only_category_is_refused_with_reason_and_grounds(
    channel,
):
    _clients(channel)
    answer = _say(channel, CONSULTATION)
    [ticket] = channel.tickets()
    assert ticket.category == "consultation" and _refused(ticket)
    assert "Atteikuma iemesls" in answer and "šīs sarunas" in answer  # the reason
    assert "Atteikuma pamatojums" in answer and GROUNDS in answer  # the grounds


def test_a_linked_representatives_chat_is_not_refused_and_is_one_person_with_the_email(channel):
    _clients(channel)
    url = _link(channel, REPRESENTATIVE)
    assert url.startswith(f"https://t.me/{channel.api.bots[channel.api.token].username}?start=")
    assert "sasaistīta" in _say(channel, f"/start {_token(url)}")
    answer = _say(channel, CONSULTATION)
    [ticket] = channel.tickets()
    assert ticket.category == "consultation" and ticket.status == TicketStatus.OPEN
    assert "Atteikuma" not in answer and ticket.number in answer
    with channel.app.sessions() as session:
        person = find_requester(session, "email", REPRESENTATIVE)
        assert person is not None and ticket.requester_id == person.id
        assert ticket.client_id is not None  # the requester's client
    assert ticket.number in _say(channel, "/status")


def test_a_linked_member_who_is_no_representative_is_still_refused(channel):
    _clients(channel)
    _say(channel, f"/start {_token(_link(channel, MEMBER))}")
    answer = _say(channel, CONSULTATION)
    [ticket] = channel.tickets()
    assert _refused(ticket) and "Ogres novada pašvaldība" in answer and GROUNDS in answer


def test_a_used_token_links_nothing(channel):
    _clients(channel)
    token = _token(_link(channel, REPRESENTATIVE))
    _say(channel, f"/start {token}")
    answer = _say(channel, f"/start {token}", chat=OTHER_CHAT)
    assert answer.startswith("Šī saite vairs nav derīga")
    with channel.app.sessions() as session:
        assert is_linked(session, "telegram", str(CHAT))
        assert not is_linked(session, "telegram", str(OTHER_CHAT))
    _say(channel, CONSULTATION, chat=OTHER_CHAT)
    [ticket] = channel.tickets()
    assert _refused(ticket)


def test_an_expired_token_links_nothing(channel):
    _clients(channel)
    token = _token(_link(channel, REPRESENTATIVE, valid=dt.timedelta(hours=1)))
    channel.clock.advance(seconds=3601)
    assert _say(channel, f"/start {token}").startswith("Šī saite vairs nav derīga")
    with channel.app.sessions() as session:
        assert not is_linked(session, "telegram", str(CHAT))


def test_a_token_is_stored_only_hashed(channel):
    _clients(channel)
    token = _token(_link(channel, REPRESENTATIVE))
    with channel.app.sessions() as session:
        [row] = session.scalars(select(LinkToken)).all()
        assert row.token_hash == token_hash(token) and token not in row.token_hash


def test_unlink_makes_the_chat_an_unverified_contact_again(channel):
    _clients(channel)
    _say(channel, f"/start {_token(_link(channel, REPRESENTATIVE))}")
    _say(channel, CONSULTATION)
    [linked_ticket] = channel.tickets()
    assert linked_ticket.status == TicketStatus.OPEN
    assert _say(channel, "/unlink") == "Šī saruna vairs nav sasaistīta ar Jūsu kontu."
    status = _say(channel, "/status")
    assert linked_ticket.number not in status  # the representative's, not this chat's now
    _say(channel, "/new " + CONSULTATION)
    refused = [t for t in channel.tickets() if t.id != linked_ticket.id]
    assert len(refused) == 1 and _refused(refused[0])
    assert _say(channel, "/unlink") == "Šī saruna nav sasaistīta ne ar vienu kontu."


def test_triage_telegram_link_prints_a_deep_link_that_links(channel, tmp_path, monkeypatch):
    _clients(channel)
    config = Path(tmp_path / "config.toml")
    config.write_text(
        EXAMPLE_CONFIG.read_text(encoding="utf-8")
        + f'\n[telegram]\napi_base_url = "{channel.api.base_url}"\n'
        + '\n[desks.municipal.telegram]\ntoken_env = "TRIAGE_TEST_BOT"\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("TRIAGE_DATABASE_URL", channel.url)
    result = CliRunner().invoke(
        main, ["--config", str(config), "telegram", "link", REPRESENTATIVE.upper()]
    )
    assert result.exit_code == 0, result.output
    url = result.stdout.strip().splitlines()[-1]
    assert "sasaistīta" in _say(channel, f"/start {_token(url)}")
    unknown = CliRunner().invoke(
        main, ["--config", str(config), "telegram", "link", "nobody@example.org"]
    )
    assert unknown.exit_code == 1 and "no requester is known" in unknown.output
