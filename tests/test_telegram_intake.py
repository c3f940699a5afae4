"""The Telegram channel end to end: a person writes to the desk's bot, the real
python-telegram-bot polls our Bot API stand-in (tests/telegram_api.py), the updates go
through the inbound queue, the real queue runner and the intake steps, and the dispatcher's
Telegram sender answers in the chat. Both databases; no internet."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select

from tests import telegram_channel
from tests.telegram_channel import CHAT, OUT_OF_HOURS, QUESTION
from triage_desk.service import serve
from triage_desk.storage.models import Direction, Message, OutboxItem, Ticket, TicketStatus

channel = telegram_channel.channel  # the fixture


def test_a_message_in_hours_gets_a_ticket_and_its_acknowledgement_in_the_chat(channel):
    channel.api.push_message(CHAT, QUESTION)
    channel.round()
    [ticket] = channel.tickets()
    assert (ticket.channel, ticket.status) == ("telegram", TicketStatus.OPEN)
    [ack] = channel.api.sent(CHAT)
    assert ticket.number in ack.text and "ārpus darba laika" not in ack.text
    assert "vēstul" not in ack.text and "temata rindā" not in ack.text  # a chat, no letter
    assert ack.reply_to == 1  # threaded under the person's message


def test_a_message_out_of_hours_gets_the_out_of_hours_acknowledgement(channel):
    channel.clock.set(OUT_OF_HOURS)
    channel.api.push_message(CHAT, QUESTION)
    channel.round()
    [ticket] = channel.tickets()
    assert ticket.status == TicketStatus.QUEUED
    ack = channel.bot_says()[0]  # then the assistant's answer (tests/test_telegram_assistant.py)
    assert ticket.number in ack and "ārpus darba laika" in ack


def test_an_update_delivered_twice_is_one_message(channel):
    update = channel.api.push_message(CHAT, QUESTION)
    channel.api.push_update({"message": update["message"]})  # a new update id, same message
    channel.round()
    assert len(channel.tickets()) == 1 and channel.inbound() == 1
    assert len(channel.bot_says()) == 1


def test_a_poller_killed_before_confirming_makes_no_second_ticket_or_acknowledgement(channel):
    channel.api.push_message(CHAT, QUESTION)
    assert channel.poll() == 1  # committed to the queue; killed before the next getUpdates
    channel.work()
    restarted = channel.new_poller()  # no offset: Telegram sends the unconfirmed update again
    channel.clock.advance(seconds=90)  # the dead process's poll lease runs out first
    assert channel.poll(restarted) == 1
    channel.work()
    assert len(channel.tickets()) == 1 and channel.inbound() == 1
    assert len(channel.bot_says()) == 1
    assert channel.poll(restarted) == 0  # now confirmed
    assert channel.api.bots[channel.api.token].updates == []


def test_start_greets_and_makes_no_ticket_once_even_when_delivered_twice(channel):
    update = channel.api.push_message(CHAT, "/start", language_code="en")
    channel.api.push_update({"message": update["message"]})
    channel.round()
    assert channel.tickets() == [] and channel.inbound() == 0
    [greeting] = channel.bot_says()
    assert greeting.startswith("Hello!") and "/status" in greeting


def test_a_chats_messages_join_its_open_ticket_and_new_starts_another(channel):
    channel.api.push_message(CHAT, QUESTION)
    channel.round()
    channel.clock.advance(minutes=5)
    channel.api.push_message(CHAT, "Mēģināju arī citā pārlūkā, tas pats.")
    channel.api.push_message(CHAT, "Un vēl: lietotājvārds ir ilze.k")
    channel.round()
    [first] = channel.tickets()
    channel.api.push_message(CHAT, "/new Vēl jautājums: kur atrast rēķinu par ūdeni?")
    channel.round()
    first_again, second = channel.tickets()
    assert first_again.number == first.number and second.subject.startswith("Vēl jautājums")
    with channel.app.sessions() as session:
        counts = dict(
            session.execute(
                select(Message.ticket_id, func.count())
                .where(Message.direction == Direction.INBOUND)
                .group_by(Message.ticket_id)
            ).all()
        )
    assert counts == {first.id: 3, second.id: 1}
    # Each new ticket acknowledged once; the follow-ups get no second acknowledgement.
    assert len([t for t in channel.bot_says() if first.number in t]) == 1
    channel.api.push_message(CHAT, "/status", language_code="en")
    channel.round()
    status = channel.bot_says()[-1]
    assert status.startswith("Your open requests:")
    assert first.number in status and second.number in status and "answer by" in status


def test_after_a_resolved_ticket_a_message_reopens_it_within_reopen_days_else_opens_one(channel):
    channel.api.push_message(CHAT, QUESTION)
    channel.round()
    [ticket] = channel.tickets()
    with channel.app.sessions.begin() as session:
        stored = session.get(Ticket, ticket.id)
        stored.status, stored.resolved_at = TicketStatus.RESOLVED, channel.clock()
    channel.clock.advance(days=4)
    channel.api.push_message(CHAT, "Atkal nestrādā, tā pati kļūda.")
    channel.round()
    [reopened] = channel.tickets()
    assert reopened.status in (TicketStatus.OPEN, TicketStatus.QUEUED)
    with channel.app.sessions.begin() as session:
        stored = session.get(Ticket, ticket.id)
        stored.status, stored.resolved_at = TicketStatus.RESOLVED, channel.clock()
    channel.clock.advance(days=6)
    channel.api.push_message(CHAT, "Atkal nestrādā, jau trešo reizi.")
    channel.round()
    old, new = channel.tickets()
    assert old.status == TicketStatus.RESOLVED and new.id != old.id


def test_triage_run_polls_the_desks_bot(channel):
    channel.api.push_message(CHAT, QUESTION)

    async def run() -> None:
        stop = asyncio.Event()
        service = asyncio.create_task(serve(channel.app, stop, workers=0))
        for _ in range(600):
            if channel.bot_says():
                break
            await asyncio.sleep(0.05)
        stop.set()
        await asyncio.wait_for(service, 60)

    asyncio.run(run())
    assert len(channel.tickets()) == 1 and len(channel.bot_says()) == 1
    with channel.app.sessions() as session:
        assert session.scalar(select(func.count(OutboxItem.id))) == 1
