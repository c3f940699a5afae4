"""`triage run`: the listeners and every runner (``runners``) in one process."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

from triage_desk.app import App
from triage_desk.intake.email.imap_listener import start_imap_listeners, stop_imap_listeners
from triage_desk.intake.email.smtp_listener import SmtpIntakeHandler, SmtpListener
from triage_desk.intake.email.spool import SpooledSmtpIntake
from triage_desk.intake.email.workers import default_processes
from triage_desk.refiner import Refiner
from triage_desk.runners import Runner, drive
from triage_desk.runners.dispatch import DispatchRunner
from triage_desk.scheduler import Scheduler

log = logging.getLogger(__name__)


def runners(app: App) -> list[Runner]:
    """Every runner ``triage run`` starts (see ``triage_desk/runners/``)."""
    found: list[Runner] = [
        DispatchRunner(app.dispatcher, app.config.outbound.poll_seconds),
        Scheduler(app.sessions, app.desks),
    ]
    if app.config.service.semantic_stage == "deferred" and app.classifier.semantic:
        found.append(Refiner(app.sessions, app.desks, app.classifier))
    return found


async def serve(app: App, stop: asyncio.Event | None = None, workers: int | None = None) -> None:
    """Until ``stop``: the listeners, the SMTP spool and the runners (``runners``).

    ``workers``: prepare worker processes for intake (``intake.email.workers``); default one with
    two or more cores.
    """
    stop = stop or asyncio.Event()
    # Forked first: before any thread starts and before the language models load (their
    # threads would be missing in the child).
    app.email_intake.start_workers(
        default_processes() if workers is None else workers, list(app.desks.by_name)
    )
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    app.classifier.warm_up()  # language models and the embedder, before the first mail
    listener = None
    cfg = app.config.smtp_listener
    if cfg.enabled:
        spooled = SpooledSmtpIntake(app.sessions, app.email_intake, clock=app.clock)
        spooled.start()  # first what a previous run accepted and did not store
        handler = SmtpIntakeHandler(app.desks, spooled.submit, app.clock)
        listener = SmtpListener(
            handler,
            cfg.host,
            cfg.port,
            cfg.max_message_bytes,
            cfg.tls_cert_file,
            cfg.tls_key_file,
            max_sessions=cfg.max_sessions,
            data_timeout_seconds=cfg.data_timeout_seconds,
        )
        listener.start()
        log.info("SMTP intake listening on %s:%s", cfg.host, listener.port)
    # IMAP intake: one thread per configured mailbox (IDLE or polling, reconnects itself).
    imap_listeners = start_imap_listeners(app)
    tasks = [asyncio.create_task(drive(runner, app.clock, stop)) for runner in runners(app)]
    try:
        await stop.wait()
    finally:
        stop.set()  # the runners end after the run in hand
        await asyncio.to_thread(stop_imap_listeners, imap_listeners)
        if listener is not None:
            listener.stop()
            await asyncio.to_thread(spooled.close)
        await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.to_thread(app.email_intake.close)
        log.info("stopped")
