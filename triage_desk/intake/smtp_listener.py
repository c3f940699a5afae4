"""SMTP intake on aiosmtpd: accepts mail for desk addresses only and answers 250 only after
the raw message is committed to the database (a crash before that makes the sender retry);
``intake.spool`` stores it as a ticket right after."""

from __future__ import annotations

import datetime as dt
import logging
import socket
import ssl
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from triage_desk.desks import Desks
from triage_desk.intake.email_intake import RawMail

log = logging.getLogger(__name__)

# Commits one raw mail and returns its reference for the 250 ("queued as"); usually
# SpooledSmtpIntake.submit, which shares one commit between the sessions that wait.
SubmitFn = Callable[[RawMail], Awaitable[Any]]


class SmtpIntakeHandler:
    def __init__(self, desks: Desks, submit: SubmitFn):
        self.desks = desks
        self.submit = submit

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if self.desks.for_address(address) is None:
            # We are an intake, never a relay.
            return f"550 5.1.1 <{address}>: not a desk address here; relaying denied"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        if isinstance(raw, str):
            raw = raw.encode("utf-8", errors="surrogateescape")
        desk = self.desks.for_address(envelope.rcpt_tos[0])
        assert desk is not None  # handle_RCPT only lets desk addresses through
        mail = RawMail(
            raw,
            desk.name,
            "smtp",
            dt.datetime.now(dt.UTC),
            envelope.mail_from,
            tuple(envelope.rcpt_tos),
        )
        try:
            # Even a mail that turns out unparseable gets 250: it is safely ours now, and
            # intake quarantines it. Only a storage failure raises; the sender then retries.
            reference = await self.submit(mail)
        except Exception:
            log.exception("intake failed; the sender will retry")
            return "451 4.3.0 Temporary failure storing the message; please retry"
        return f"250 2.0.0 OK queued as {reference}"


def _free_port(host: str) -> int:
    """A free port for "port = 0" (tests, benchmarks); aiosmtpd needs the number up front."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


class SmtpListener:
    """The aiosmtpd controller in its own thread, started and stopped with the service."""

    def __init__(
        self,
        handler: SmtpIntakeHandler,
        host: str,
        port: int,
        max_message_bytes: int,
        tls_cert_file: Path | None = None,
        tls_key_file: Path | None = None,
    ) -> None:
        if port == 0:
            port = _free_port(host)
        tls_context = None
        if tls_cert_file and tls_key_file:
            # Offered as STARTTLS, not required: MTAs on the internet fall back to plain.
            tls_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            tls_context.load_cert_chain(tls_cert_file, tls_key_file)
        self.controller = Controller(
            handler,
            hostname=host,
            port=port,
            data_size_limit=max_message_bytes,
            server_hostname="triage-desk",
            tls_context=tls_context,
            require_starttls=False,
        )

    @property
    def port(self) -> int:
        return self.controller.port

    def start(self) -> None:
        self.controller.start()

    def stop(self) -> None:
        self.controller.stop()
