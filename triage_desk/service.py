"""`triage run`: the listeners, the dispatcher and the scheduler in one process."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

from triage_desk.app import App
from triage_desk.intake.imap_listener import start_imap_listeners, stop_imap_listeners
from triage_desk.intake.smtp_listener import SmtpIntakeHandler, SmtpListener
from triage_desk.intake.spool import SpooledSmtpIntake
from triage_desk.intake.workers import default_processes
from triage_desk.refiner import refine_pending
from triage_desk.scheduler import release_queued

log = logging.getLogger(__name__)


async def _every(seconds: float, job, stop: asyncio.Event) -> None:  # type: ignore[no-untyped-def]
    while not stop.is_set():
        try:
            await asyncio.to_thread(job)
        except Exception:
            log.exception("background job %s failed; it will run again", job)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=seconds)


async def _drain(job, idle_seconds: float, stop: asyncio.Event) -> None:  # type: ignore[no-untyped-def]
    """Run ``job`` back to back while it finds work, then every ``idle_seconds``."""
    while not stop.is_set():
        found = False
        try:
            found = bool(await asyncio.to_thread(job))
        except Exception:
            log.exception("background job %s failed; it will run again", job)
        if not found:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=idle_seconds)


async def serve(app: App, stop: asyncio.Event | None = None, workers: int | None = None) -> None:
    """Until ``stop``: the listeners, the dispatcher, the scheduler and the refiner.

    ``workers``: prepare worker processes for intake (``intake.workers``); default one with
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
    tasks = [
        asyncio.create_task(
            _every(app.config.outbound.poll_seconds, app.dispatcher.run_once, stop)
        ),
        asyncio.create_task(
            _every(30.0, lambda: release_queued(app.sessions, app.desks, app.clock()), stop)
        ),
    ]
    if app.config.service.semantic_stage == "deferred" and app.classifier.semantic:
        tasks.append(
            asyncio.create_task(
                _drain(
                    lambda: refine_pending(
                        app.sessions, app.desks, app.classifier, now=app.clock()
                    ),
                    2.0,
                    stop,
                )
            )
        )
    try:
        await stop.wait()
    finally:
        await asyncio.to_thread(stop_imap_listeners, imap_listeners)
        if listener is not None:
            listener.stop()
            await asyncio.to_thread(spooled.close)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.to_thread(app.email_intake.close)
        log.info("stopped")
