"""SMTP intake on aiosmtpd: accepts mail for desk addresses only and answers 250 only after
the raw message is committed to the database (a crash before that makes the sender retry);
``intake.spool`` stores it as a ticket right after."""

from __future__ import annotations

import logging
import re
import socket
import ssl
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from triage_desk.clock import Clock, system_clock
from triage_desk.desks import Desks
from triage_desk.intake.email_intake import RawMail
from triage_desk.storage.models import SpooledMail

log = logging.getLogger(__name__)
# The longest envelope sender the spool stores (RFC 5321 allows 256 octets with the <>).
MAX_SENDER_CHARS: int = SpooledMail.__table__.c.envelope_sender.type.length

# Commits one raw mail and returns its reference for the 250 ("queued as"); usually
# SpooledSmtpIntake.submit, which shares one commit between the sessions that wait.
SubmitFn = Callable[[RawMail], Awaitable[Any]]


class SmtpIntakeHandler:
    def __init__(self, desks: Desks, submit: SubmitFn, clock: Clock = system_clock):
        self.desks = desks
        self.submit = submit
        self.clock = clock

    async def handle_MAIL(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        mail_options: list[str],
    ) -> str:
        if len(address) > MAX_SENDER_CHARS:
            # No mail system has such an address: refused for good, not "try again later".
            return f"553 5.1.7 sender address longer than {MAX_SENDER_CHARS} characters"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

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
            self.clock(),
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


# ``<local@domain>`` as nearly every client writes it: a dot-atom local part and a host name.
_PLAIN_ANGLE_ADDRESS = re.compile(
    r"[ \t]*<([A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*)>[ \t]*"
)


class DeskSMTP(SMTP):
    """aiosmtpd's SMTP session with a quicker MAIL FROM / RCPT TO address parse.

    aiosmtpd parses every envelope address with the stdlib's RFC 5322 header parser and
    declares a ``Protocol`` class on each call; that was a fifth of its CPU a mail in the SMTP
    benchmark. A plain ``<local@domain>`` is read with one regular expression, to the same
    result (``tests/test_smtp_listener.py`` compares the two); anything else (quoted local
    parts, address literals, comments, source routes) still goes through aiosmtpd's parser.
    """

    def _getaddr(self, arg: str) -> tuple[str | None, str | None]:
        match = _PLAIN_ANGLE_ADDRESS.match(arg) if arg else None
        if match is None or arg[match.end() : match.end() + 1] == "(":
            return super()._getaddr(arg)
        address = match.group(1)
        if self.local_part_limit and len(address.rpartition("@")[0]) > self.local_part_limit:
            return None, None
        return address, arg[match.end() :]


class DeskController(Controller):
    """aiosmtpd's threaded controller, serving ``DeskSMTP`` sessions."""

    def factory(self) -> SMTP:
        return DeskSMTP(self.handler, **self.SMTP_kwargs)


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
        self.controller = DeskController(
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
