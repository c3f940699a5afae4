"""Where the acknowledgement goes: the sender's real address, never a fragment of a name.

``=?utf-8?Q?Support:_info@firma.lv?= <real@firma.lv>`` was read as ``_info@firma.lv?=`` (the
encoded word, which holds a colon and an @, was split as if it were header syntax), and
``From: Nobody`` as the address ``nobody``; both got an acknowledgement there.
"""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from tests.helpers import make_mail
from tests.test_responders import outbox, world  # noqa: F401  (world is a fixture)
from triage_desk.clock import FixedClock
from triage_desk.desk_service.actions import StaffActions
from triage_desk.desk_service.errors import NotAllowed
from triage_desk.intake.email.parse import inbound_from_email
from triage_desk.responders.render import TemplateRenderer
from triage_desk.storage.models import AuditEvent

WHEN = dt.datetime(2026, 11, 30, 9, 0, tzinfo=dt.UTC)


def _mail(headers: str) -> bytes:
    return (
        headers.encode()
        + b"To: atbalsts@example.lv\r\nSubject: Atskaite\r\nMessage-ID: <m1@firma.lv>\r\n"
        b"Date: Mon, 30 Nov 2026 09:00:00 +0000\r\n\r\nAtskaite neveidojas.\r\n"
    )


@pytest.mark.parametrize(
    ("from_header", "name"),
    [
        ("=?utf-8?Q?Support:_info@firma.lv?= <real@firma.lv>", "Support: info@firma.lv"),
        ('"=?utf-8?B?SW5mbzogYUBiLmx2?=" <real@firma.lv>', "Info: a@b.lv"),
        ("=?utf-8?Q?J=C4=81nis,_IT?= <real@firma.lv>", "Jānis, IT"),
    ],
)
def test_an_encoded_display_name_is_a_name_whatever_it_holds(from_header, name):
    inbound = inbound_from_email(_mail(f"From: {from_header}\r\n"), "municipal", WHEN)
    assert inbound.sender == "real@firma.lv" and inbound.sender_name == name


@pytest.mark.parametrize(
    ("headers", "envelope", "expected"),
    [
        (
            "From: Nobody\r\nReply-To: Ilze <ilze@novads.example.lv>\r\n",
            None,
            "ilze@novads.example.lv",
        ),
        ("From: Nobody\r\nSender: ilze@novads.example.lv\r\n", None, "ilze@novads.example.lv"),
        ("From: Nobody\r\n", "bounce-to@novads.example.lv", "bounce-to@novads.example.lv"),
        # Read over IMAP there is no envelope, but the last server recorded it:
        (
            "Return-Path: <ilze@novads.example.lv>\r\nFrom: Nobody\r\n",
            None,
            "ilze@novads.example.lv",
        ),
        # A real From address is kept, whatever Reply-To says.
        ("From: anna@novads.example.lv\r\nReply-To: x@y.lv\r\n", None, "anna@novads.example.lv"),
    ],
)
def test_a_from_without_an_address_falls_back_to_reply_to_then_the_envelope(
    headers, envelope, expected
):
    inbound = inbound_from_email(_mail(headers), "municipal", WHEN, envelope_sender=envelope)
    assert inbound.sender == expected


def test_the_acknowledgement_goes_to_the_real_address(world):  # noqa: F811
    sessions, _, pipeline = world
    raw = _mail("From: =?utf-8?Q?Support:_info@firma.lv?= <real@firma.lv>\r\n")
    result = pipeline("error", WHEN).process(inbound_from_email(raw, "municipal", WHEN))
    assert result.acknowledged
    assert [item.recipient for item in outbox(sessions)] == ["real@firma.lv"]


def test_a_mail_with_no_address_anywhere_is_kept_and_not_answered(world):  # noqa: F811
    sessions, desks, pipeline = world
    raw = make_mail(sender="Nobody", subject="Atskaite")
    inbound = inbound_from_email(raw, "municipal", WHEN)
    assert inbound.sender == "nobody"  # what the mail said, for staff to see
    result = pipeline("error", WHEN).process(inbound)
    assert result.created_ticket and not result.acknowledged
    assert result.no_ack_reason == "no address to reply to"
    assert outbox(sessions) == []
    with sessions() as session:
        reasons = session.scalars(
            select(AuditEvent.details).where(AuditEvent.action == "no_acknowledgement")
        ).all()
        assert reasons == [{"reason": "no address to reply to"}]
    with pytest.raises(NotAllowed, match="no address to write to"):
        StaffActions(sessions, desks, TemplateRenderer(), clock=FixedClock(WHEN)).reply(
            result.ticket_number, "Labdien!", "janis"
        )
