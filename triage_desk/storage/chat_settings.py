"""A chat's settings (channel-neutral): the language a person chose for the desk's replies."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from triage_desk.storage.models import ChatSetting, Ticket, TicketStatus
from triage_desk.storage.repositories import find_requester

_WORKING = (TicketStatus.QUEUED, TicketStatus.OPEN, TicketStatus.ANSWERED)


def chosen_language(session: Session, channel: str, desk: str, chat: str) -> str | None:
    """The language the person chose in this chat with ``desk``; None: not chosen."""
    setting = session.get(ChatSetting, (channel, desk, chat))
    return setting.language if setting else None


def choose_language(
    session: Session, channel: str, desk: str, chat: str, language: str, now: dt.datetime
) -> None:
    """Every later reply in this chat in ``language``: the setting, and the tickets this
    chat's person has open on the desk over this channel (staff replies and notices to
    them render in the ticket's language)."""
    setting = session.get(ChatSetting, (channel, desk, chat))
    if setting is None:
        setting = ChatSetting(channel=channel, desk=desk, chat=chat)
        session.add(setting)
    setting.language, setting.updated_at = language, now
    requester = find_requester(session, channel, chat)
    if requester is None:
        return
    for ticket in session.scalars(
        select(Ticket).where(
            Ticket.requester_id == requester.id,
            Ticket.desk == desk,
            Ticket.channel == channel,
            Ticket.status.in_(_WORKING),
        )
    ):
        ticket.language = language
