"""Small builders shared by tests."""

from __future__ import annotations

import datetime as dt
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid


def make_mail(
    subject: str = "Nevaru izveidot atskaiti",
    body: str = "Labdien! Atskaišu modulī poga 'Izveidot' nestrādā, cita ceļa nav.",
    sender: str = "Ilze Kalniņa <ilze@novads.example.lv>",
    to: str = "atbalsts@example.lv",
    message_id: str | None = None,
    date: dt.datetime | None = None,
    extra_headers: dict[str, str] | None = None,
) -> bytes:
    mail = EmailMessage()
    mail["From"] = sender
    mail["To"] = to
    mail["Subject"] = subject
    mail["Date"] = format_datetime(date or dt.datetime(2026, 11, 30, 8, 0, tzinfo=dt.UTC))
    mail["Message-ID"] = message_id or make_msgid(domain="novads.example.lv")
    for key, value in (extra_headers or {}).items():
        mail[key] = value
    mail.set_content(body)
    # CRLF as on the wire: smtplib sends bytes unchanged.
    return mail.as_bytes(policy=policy.SMTP)
