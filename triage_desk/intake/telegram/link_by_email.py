"""``/link``: linking a chat to a known requester by a code mailed to their address.

``/link <email>`` asks for a code. When a requester is known at the address, six random
digits go there by mail (an outbox item, sent by the email sender like every reply, in the
requester's language); when none is, nothing is sent. The chat is told the same either
way, and the rate limits count both alike, so the bot tells no one who is a customer.
``/link <code>`` then links the chat exactly as a deep link does (``storage.links``). Only
the command form is read: a bare six-digit message is a message to the desk, as any text.

Limits: ``PER_HOUR`` requests per chat and per address in an hour; a code is valid for
``VALID``, in the chat that asked only, once, and ``CODE_TRIES`` wrong tries make it void.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from triage_desk.desks import Desk
from triage_desk.intake.telegram.texts import LINKED
from triage_desk.responders.outbox import EMAIL_CHANNEL, recipient_key
from triage_desk.responders.render import TemplateRenderer
from triage_desk.responders.telegram_ids import CHANNEL
from triage_desk.storage.links import (
    CODE_DIGITS,
    CODE_TRIES,
    CodeCheck,
    link_requests_since,
    new_link_code,
    redeem_code,
)
from triage_desk.storage.models import OutboxItem, OutboxStatus, Requester, Ticket

KIND = "link_code"  # the mail's template and outbox kind
VALID = dt.timedelta(minutes=15)
PER_HOUR = 3
MAX_ADDRESS = 254  # RFC 5321's longest usable address
_ADDRESS = re.compile(r"[^@\s<>()\[\],;:\"\\]{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z]{2,63}")
_CODE = re.compile(rf"\d{{{CODE_DIGITS}}}")
_RENDERER = TemplateRenderer()

HOW = {
    "lv": "Lai sasaistītu šo sarunu ar Jūsu kontu, nosūtiet /link un e-pasta adresi, no kuras "
    "mums rakstāt, piemēram: /link vards@example.lv. Mēs uz to nosūtīsim kodu; pēc tam "
    "nosūtiet šeit /link un kodu.",
    "en": "To link this chat to your record, send /link and the email address you write to us "
    "from, e.g. /link name@example.com. We will email a code to it; then send /link and "
    "the code here.",
    "ru": "Чтобы связать этот чат с Вашей записью, отправьте /link и адрес электронной почты, "
    "с которого Вы нам пишете, например: /link name@example.com. Мы пришлём на него код; "
    "затем отправьте сюда /link и код.",
}
SENT = {
    "lv": "Ja adrese {address} mums ir zināma, uz to ir nosūtīts {digits} ciparu kods. Tas "
    "derīgs {minutes} minūtes. Nosūtiet to šeit šādi: /link 123456",
    "en": "If we know the address {address}, a {digits}-digit code has been sent to it. It is "
    "valid for {minutes} minutes. Send it here like this: /link 123456",
    "ru": "Если адрес {address} нам известен, на него отправлен код из {digits} цифр. Он "
    "действителен {minutes} минут. Отправьте его сюда так: /link 123456",
}
TOO_MANY = {
    "lv": "Pēdējā stundā ir pieprasīts pārāk daudz kodu. Lūdzu, mēģiniet vēlāk.",
    "en": "Too many codes have been asked for in the last hour. Please try again later.",
    "ru": "За последний час запрошено слишком много кодов. Пожалуйста, попробуйте позже.",
}
WRONG = {
    "lv": "Kods nav pareizs. Atlikušie mēģinājumi: {left}.",
    "en": "That is not the code. Tries left: {left}.",
    "ru": "Код неверный. Осталось попыток: {left}.",
}
VOID = {
    "lv": "Kods nav pareizs, un tas bija pēdējais mēģinājums: kods vairs nav derīgs. "
    "Pieprasiet jaunu: /link <e-pasta adrese>",
    "en": "That is not the code, and it was the last try: the code is void. Ask for a new one: "
    "/link <email address>",
    "ru": "Код неверный, и это была последняя попытка: код больше не действует. Запросите "
    "новый: /link <адрес эл. почты>",
}
NO_CODE = {
    "lv": "Šai sarunai nav derīga koda (tas ir izmantots, tam beidzies termiņš vai tas vairs "
    "nav derīgs). Pieprasiet jaunu: /link <e-pasta adrese>",
    "en": "This chat has no valid code (it has been used, has expired or is void). Ask for a "
    "new one: /link <email address>",
    "ru": "Для этого чата нет действующего кода (он использован, истёк или больше не "
    "действует). Запросите новый: /link <адрес эл. почты>",
}


def link_command(
    session: Session, desk: Desk, chat: str, rest: str, language: str, now: dt.datetime
) -> str:
    """What ``/link <rest>`` does (in the caller's transaction), and the answer's text."""
    word = "".join(rest.split())  # "123 456" is the code as well
    if _CODE.fullmatch(word):
        return _redeem(session, chat, word, language, now)
    address = rest.strip().lower()
    if len(address) > MAX_ADDRESS or not _ADDRESS.fullmatch(address):
        return HOW[language]
    return _request(session, desk, chat, address, language, now)


def _request(
    session: Session, desk: Desk, chat: str, address: str, language: str, now: dt.datetime
) -> str:
    by_chat, by_address = link_requests_since(
        session, CHANNEL, chat, address, now - dt.timedelta(hours=1)
    )
    if by_chat >= PER_HOUR or by_address >= PER_HOUR:
        return TOO_MANY[language]
    issued = new_link_code(session, CHANNEL, chat, address, now, VALID)
    if issued is not None:
        code, requester_id = issued
        _queue_mail(session, desk, address, code, requester_id, language, now)
    minutes = int(VALID.total_seconds() // 60)
    return SENT[language].format(address=address, digits=CODE_DIGITS, minutes=minutes)


def _redeem(session: Session, chat: str, code: str, language: str, now: dt.datetime) -> str:
    outcome = redeem_code(session, CHANNEL, chat, code, now)
    if outcome.check is CodeCheck.LINKED:
        return LINKED[language]
    if outcome.check is CodeCheck.WRONG:
        return WRONG[language].format(left=outcome.tries_left)
    if outcome.check is CodeCheck.VOID:
        return VOID[language]
    return NO_CODE[language]


def requester_language(session: Session, requester_id: int, fallback: str) -> str:
    """The language the requester last wrote to us in, else their own, else ``fallback``."""
    latest = session.scalar(
        select(Ticket.language)
        .where(Ticket.requester_id == requester_id)
        .order_by(Ticket.id.desc())
        .limit(1)
    )
    if latest in HOW:
        return str(latest)
    requester = session.get(Requester, requester_id)
    if requester is not None and requester.language in HOW:
        return str(requester.language)
    return fallback


def _queue_mail(
    session: Session,
    desk: Desk,
    address: str,
    code: str,
    requester_id: int,
    chat_language: str,
    now: dt.datetime,
) -> None:
    """The code's mail in the outbox. Its key is random, not the code's row id: requests are
    pruned, and SQLite may give a pruned row's id to a new one."""
    language = requester_language(session, requester_id, chat_language)
    settings = desk.config.telegram
    context = {
        "desk_name": desk.config.name,
        "code": code,
        "valid_minutes": int(VALID.total_seconds() // 60),
        "tries": CODE_TRIES,
        "bot": f"@{settings.username.lstrip('@')}" if settings and settings.username else None,
    }
    rendered = _RENDERER.render(KIND, desk.name, language, context)
    domain = desk.address.split("@", 1)[1]
    session.add(
        OutboxItem(
            dedupe_key=f"link-code:{uuid.uuid4().hex}",
            kind=KIND,
            ticket_id=None,
            channel=EMAIL_CHANNEL,
            sender=desk.address,
            recipient=address,
            recipient_key=recipient_key(EMAIL_CHANNEL, address),
            subject=rendered.subject,
            body_text=rendered.text,
            headers={
                "reference": f"{uuid.uuid4().hex}.link@{domain}",
                "in_reply_to": None,
                "references": [],
                "automatic": True,
                "sender_name": desk.config.name,
            },
            status=OutboxStatus.PENDING,
            next_attempt_at=now,
            created_at=now,
        )
    )
