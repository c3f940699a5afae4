"""How an outbox item leaves the building: as an .eml file, or through an SMTP relay.

Transports know nothing about tickets; they turn one item into one sent message (for mail,
``email_sender.build_email``).
"""

from __future__ import annotations

import os
import smtplib
import ssl
from pathlib import Path
from typing import Protocol

from triage_desk.config import SmtpRelayConfig
from triage_desk.responders.email_sender import build_email
from triage_desk.storage.models import OutboxItem


class TransportError(Exception):
    """Sending failed; ``permanent`` means retrying cannot help (e.g. 550 user unknown).

    ``retry_after``: the channel said when to try again (Telegram's 429 flood control); the
    item waits exactly that long, and the attempt does not count against max_attempts.
    """

    def __init__(
        self, message: str, permanent: bool = False, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.retry_after = retry_after


class Transport(Protocol):
    """A channel's sender: the dispatcher hands it each outbox item of its channel."""

    def send(self, item: OutboxItem) -> None: ...


class FileTransport:
    """Writes each email as ``<outbox id>-<kind>.eml``; a resend overwrites the same file."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    def path_for(self, item: OutboxItem) -> Path:
        return self.directory / f"{item.id:08d}-{item.kind}.eml"

    def send(self, item: OutboxItem) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        final = self.path_for(item)
        temp = final.with_suffix(".tmp")
        temp.write_bytes(bytes(build_email(item)))
        os.replace(temp, final)  # atomic: a reader never sees half a mail


class SmtpTransport:
    """Sends through the configured relay with STARTTLS and login when configured."""

    def __init__(self, relay: SmtpRelayConfig) -> None:
        self.relay = relay

    def send(self, item: OutboxItem) -> None:
        relay = self.relay
        try:
            with smtplib.SMTP(relay.host, relay.port, timeout=relay.timeout_seconds) as smtp:
                if relay.starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if relay.username:
                    smtp.login(relay.username, relay.password() or "")
                smtp.send_message(
                    build_email(item), from_addr=item.sender, to_addrs=[item.recipient]
                )
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _msg in exc.recipients.values()]
            raise TransportError(
                f"recipient refused: {exc.recipients}", permanent=all(500 <= c < 600 for c in codes)
            ) from exc
        except smtplib.SMTPResponseException as exc:
            raise TransportError(
                f"SMTP {exc.smtp_code}: {exc.smtp_error!r}", permanent=500 <= exc.smtp_code < 600
            ) from exc
        except (OSError, smtplib.SMTPException) as exc:
            raise TransportError(f"relay {relay.host}:{relay.port}: {exc}") from exc
