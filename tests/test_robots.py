"""Robot checks (no acknowledgement to machines) and bounce recognition, header side."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import make_mail
from triage_desk.intake.email.parse import inbound_from_email, parse_bytes
from triage_desk.intake.email.robots import ROBOT_CHECKS, robot_reason

MAIL = Path(__file__).parent / "mail"


def reason(extra: dict[str, str] | None = None, envelope_sender: str | None = None, **kwargs):
    return robot_reason(parse_bytes(make_mail(extra_headers=extra, **kwargs)), envelope_sender)


def test_a_person_is_no_robot():
    assert reason() is None
    assert reason(envelope_sender="ilze@novads.example.lv") is None


@pytest.mark.parametrize(
    "headers",
    [
        {"Auto-Submitted": "auto-replied"},
        {"Auto-Submitted": "auto-generated; owner-email=x@example.lv"},
        {"Precedence": "bulk"},
        {"Precedence": "junk"},
        {"Precedence": "list"},
        {"Precedence": "auto_reply"},
        {"List-Id": "<announce.example.lv>"},
        {"List-Unsubscribe": "<mailto:leave@example.lv>"},
        {"X-Autoreply": "yes"},
        {"X-Autorespond": "Out of office"},
        {"X-Auto-Response-Suppress": "All"},
        {"X-Auto-Response-Suppress": "OOF, AutoReply"},
        {"Return-Path": "<>"},
        {"X-Failed-Recipients": "nobody@example.lv"},
    ],
)
def test_robot_headers(headers):
    assert reason(headers)


@pytest.mark.parametrize(
    "headers",
    [
        {"Auto-Submitted": "no"},
        {"Precedence": "normal"},
        {"X-Auto-Response-Suppress": "RN, NRN"},  # declines read receipts only
        {"Return-Path": "<ilze@novads.example.lv>"},
    ],
)
def test_headers_that_do_not_make_a_robot(headers):
    assert reason(headers) is None


@pytest.mark.parametrize("envelope", ["", "<>"])
def test_a_null_envelope_sender_is_a_robot(envelope):
    assert reason(envelope_sender=envelope)


@pytest.mark.parametrize(
    "sender",
    [
        "MAILER-DAEMON@mx.example.lv",
        "postmaster@example.lv",
        "noreply@vid.gov.lv",
        "no-reply@example.com",
        "do-not-reply@example.com",
        "bounces+123@lists.example.lv",
        "Mail Delivery System <mx@example.lv>",
    ],
)
def test_robot_senders(sender):
    assert reason(sender=sender)


@pytest.mark.parametrize(
    "subject",
    [
        "Automatic reply: Atskaite",
        "Auto reply",
        "Autoreply: x",
        "Out of Office: Re: x",
        "Automātiskā atbilde: Nevaru izveidot atskaiti",
        "Автоматический ответ: Отчёт",
        "Abwesenheitsnotiz: Anfrage",
        # The six of issue 16 (item 3), acknowledged before: no robot header at all.
        "Re: Automatic reply: Atskaite",
        "Abwesend: Anfrage",
        "Auto: Atskaite",
        "[Auto-Reply] Atskaite",
        "Отсутствую: Отчёт",
        "Prombūtnes paziņojums: Atskaite",
    ],
)
def test_out_of_office_subjects(subject):
    assert reason(subject=subject)


@pytest.mark.parametrize(
    "subject",
    [
        "Out of office hours question",
        "Re: automatic reply did not arrive",
        "Par automātisko atbildi",
        "Вопрос про автоответ",
    ],
)
def test_subjects_a_person_writes_are_not_robots(subject):
    assert reason(subject=subject) is None


def test_the_chain_is_a_list_of_small_checks():
    assert len(ROBOT_CHECKS) >= 7
    assert all(callable(check) for check in ROBOT_CHECKS)


def test_a_dsn_bounce_is_recognised_with_failed_address_and_original_message_id():
    inbound = inbound_from_email((MAIL / "dsn-postfix.eml").read_bytes(), "municipal")
    assert inbound.no_reply_reason
    assert inbound.bounce is not None and inbound.bounce.permanent
    assert inbound.bounce.failed_addresses == ("nobody@novads.example.lv",)
    assert inbound.bounce.original_message_ids == ("ack-123@example.lv",)


def test_a_delay_warning_is_a_temporary_bounce():
    raw = (
        (MAIL / "dsn-postfix.eml")
        .read_bytes()
        .replace(b"Action: failed", b"Action: delayed")
        .replace(b"Status: 5.1.1", b"Status: 4.4.1")
    )
    bounce = inbound_from_email(raw, "municipal").bounce
    assert bounce is not None and not bounce.permanent
    assert bounce.failed_addresses == ("nobody@novads.example.lv",)


def test_a_person_forwarding_a_bounce_is_not_a_bounce():
    dsn = (MAIL / "dsn-postfix.eml").read_bytes()
    raw = (
        b"From: Ilze <ilze@novads.example.lv>\r\nTo: atbalsts@example.lv\r\n"
        b"Subject: Fwd: Undelivered Mail Returned to Sender\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: multipart/mixed; boundary=f\r\n\r\n--f\r\n"
        b"Content-Type: text/plain\r\n\r\nWhy did my mail bounce?\r\n--f\r\n"
        b"Content-Type: message/rfc822\r\n\r\n" + dsn + b"\r\n--f--\r\n"
    )
    inbound = inbound_from_email(raw, "municipal")
    assert inbound.bounce is None and inbound.no_reply_reason is None


def test_a_person_writing_about_undelivered_mail_is_not_a_bounce():
    inbound = inbound_from_email(
        make_mail(
            subject="Undelivered mail", body="My mail to nobody@example.lv could not be delivered."
        ),
        "municipal",
    )
    assert inbound.bounce is None and inbound.no_reply_reason is None
