"""SMTP intake on aiosmtpd: accepts mail for desk addresses only and answers 250 only after
the raw message is committed to the database (a crash before that makes the sender retry);
the queue runner (``runners/queue.py``) stores it as a ticket right after."""

from __future__ import annotations

import asyncio
import logging
import re
import socket
import ssl
import traceback
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from triage_desk.clock import Clock, system_clock
from triage_desk.desks import Desks
from triage_desk.intake.email.ingest import RawMail
from triage_desk.storage.models import QuarantinedMail

log = logging.getLogger(__name__)
# The longest envelope sender a quarantine entry keeps (RFC 5321 allows 256 octets with the <>).
MAX_SENDER_CHARS: int = QuarantinedMail.__table__.c.envelope_sender.type.length

# Commits one raw mail and returns its reference for the 250 ("queued as"); usually
# SmtpQueue.submit, which shares one commit between the sessions that wait.
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


class SessionLimit:
    """How many SMTP sessions are open, against the most allowed at once.

    Used only from the controller's event loop thread, so a plain counter suffices.
    """

    def __init__(self, maximum: int) -> None:
        self.maximum = maximum
        self.open = 0

    def take(self) -> bool:
        if self.open >= self.maximum:
            return False
        self.open += 1
        return True

    def give_back(self) -> None:
        self.open -= 1


_TOO_MANY = b"421 4.3.2 Too many open sessions; try again later\r\n"
_DATA_TOO_SLOW = b"421 4.4.2 DATA took too long; closing the session\r\n"


class DeskSMTP(SMTP):
    """aiosmtpd's SMTP session with a limit on open sessions, an overall DATA deadline and
    a quicker MAIL FROM / RCPT TO address parse.

    * Over ``limit`` open sessions a new connection gets 421 at once and is closed: each
      session may buffer a whole message, so their number bounds the memory they can take.
    * A DATA transfer must end within ``data_timeout`` seconds, however it trickles in
      (aiosmtpd's idle timer restarts only at commands); after that the session is closed
      and what it had received is freed at once, not at the next full garbage collection.
    * aiosmtpd parses every envelope address with the stdlib's RFC 5322 header parser and
      declares a ``Protocol`` class on each call; that was a fifth of its CPU a mail in the
      SMTP benchmark. A plain ``<local@domain>`` is read with one regular expression, to the
      same result (``tests/test_smtp_listener.py`` compares the two); anything else (quoted
      local parts, address literals, comments, source routes) still goes through
      aiosmtpd's parser.
    """

    def __init__(
        self,
        handler: Any,
        *,
        limit: SessionLimit | None = None,
        data_timeout: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(handler, **kwargs)
        self._limit = limit
        self._data_timeout = data_timeout
        self._counted = False
        self._refused = False
        self._receiving = False  # inside a DATA transfer, under its deadline

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # Called again with the TLS transport after STARTTLS: that is the same session.
        if self.transport is None and self._limit is not None:
            if not self._limit.take():
                self._refused = True
                log.warning("SMTP connection refused: %d sessions open", self._limit.open)
                assert isinstance(transport, asyncio.WriteTransport)
                transport.write(_TOO_MANY)
                transport.close()
                return
            self._counted = True
        super().connection_made(transport)

    def connection_lost(self, error: Exception | None) -> None:
        if self._refused:
            return  # aiosmtpd never saw this connection
        if self._counted and self._limit is not None:
            self._counted = False
            self._limit.give_back()
        super().connection_lost(error)

    async def smtp_DATA(self, arg: str) -> None:
        if self._data_timeout is not None:
            # The idle timer becomes the deadline of the whole transfer.
            self._reset_timeout(self._data_timeout)
            self._receiving = True
        try:
            await super().smtp_DATA(arg)
        except asyncio.CancelledError as exc:
            # Cut off (deadline, or the client went away) mid-DATA: aiosmtpd's frame keeps
            # the lines received so far, and this exception's traceback, which the task
            # keeps, keeps that frame: clear it, so the buffer goes now.
            traceback.clear_frames(exc.__traceback__)
            raise
        finally:
            self._receiving = False
            if self.transport is not None:
                self._reset_timeout()

    async def _call_handler_hook(self, command: str, *args: Any) -> Any:
        if command == "DATA":  # received in full; committing it is no part of the deadline
            self._receiving = False
            self._reset_timeout()
        return await super()._call_handler_hook(command, *args)

    def _timeout_cb(self) -> None:
        if self._receiving and isinstance(self.transport, asyncio.WriteTransport):
            peer = self.session.peer if self.session else None
            log.warning("SMTP DATA from %s took over %s s; closing", peer, self._data_timeout)
            self.transport.write(_DATA_TOO_SLOW)
        super()._timeout_cb()

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

    def __init__(
        self,
        handler: Any,
        *,
        max_sessions: int | None = None,
        data_timeout: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(handler, **kwargs)
        self.limit = SessionLimit(max_sessions) if max_sessions else None
        self.data_timeout = data_timeout

    def factory(self) -> SMTP:
        return DeskSMTP(
            self.handler, limit=self.limit, data_timeout=self.data_timeout, **self.SMTP_kwargs
        )


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
        max_sessions: int | None = 100,
        data_timeout_seconds: float | None = 600.0,
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
            max_sessions=max_sessions,
            data_timeout=data_timeout_seconds,
        )

    @property
    def port(self) -> int:
        return self.controller.port

    def start(self) -> None:
        self.controller.start()

    def stop(self) -> None:
        self.controller.stop()
