"""`triage run`: the listeners and every runner (``runners``) in one process."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from triage_desk.app import App, build_desk_service, telegram_pollers, telegram_webhooks
from triage_desk.intake.email.imap_listener import start_imap_listeners, stop_imap_listeners
from triage_desk.intake.email.smtp_listener import SmtpIntakeHandler, SmtpListener
from triage_desk.intake.email.smtp_queue import SmtpQueue
from triage_desk.intake.email.workers import default_processes
from triage_desk.intake.queue import InboundQueue
from triage_desk.refiner import Refiner
from triage_desk.responders.assistant import Assistant
from triage_desk.runners import Runner, RunnerLoop
from triage_desk.runners.dispatch import DispatchRunner
from triage_desk.runners.queue import QueueRunner
from triage_desk.scheduler import Scheduler

if TYPE_CHECKING:
    from triage_desk.console.server import ConsoleServer
    from triage_desk.intake.web.form import WebForm

log = logging.getLogger(__name__)


def runners(app: App, queue: QueueRunner | None = None) -> list[Runner]:
    """Every runner ``triage run`` starts (see ``triage_desk/runners/``), the inbound queue's
    first (``queue``, or one made here)."""
    found: list[Runner] = [
        queue or app.queue_runner(),
        DispatchRunner(app.dispatcher, app.config.outbound.poll_seconds),
        Scheduler(app.sessions, app.desks),
    ]
    if app.config.service.semantic_stage == "deferred" and app.classifier.semantic:
        found.append(Refiner(app.sessions, app.desks, app.classifier))
    return found


def close_transports(app: App) -> None:
    """End what the dispatcher's senders hold open (the Telegram sender's bots, HTTP
    sessions and event loop), once the dispatcher has stopped; one failing stops no other."""
    for name, transport in app.dispatcher.transports.items():
        close = getattr(transport, "close", None)
        if close is None:
            continue
        try:
            close()
        except Exception:  # shutting down: say so, and close the rest
            log.exception("the %s sender did not close cleanly", name)


async def serve(app: App, stop: asyncio.Event | None = None, workers: int | None = None) -> None:
    """Until ``stop``: the listeners and the runners (``runners``), the inbound queue's first.

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
    app.warm_up()  # models, templates and locales, before the first message
    console = start_console(app)  # a thread: after the workers' fork, like every thread
    stopping = threading.Event()  # the queue runner stops between batches
    queue_runner = app.queue_runner(stopping=stopping)
    loops = [RunnerLoop(runner, app.clock) for runner in runners(app, queue_runner)]
    queue_loop = loops[0]
    waiting = queue_runner.queue.waiting()
    if waiting:
        log.info("%d item(s) accepted by an earlier run are still queued; storing them", waiting)
    listener = smtp_queue = None
    cfg = app.config.smtp_listener
    if cfg.enabled:
        smtp_queue = SmtpQueue(queue_runner.queue, queue_loop.wake)
        handler = SmtpIntakeHandler(app.desks, smtp_queue.submit, app.clock)
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
    imap_listeners = start_imap_listeners(app.config, queue_runner.queue, queue_loop.wake)
    # Telegram: one getUpdates loop per desk bot, committing to the same queue.
    pollers = telegram_pollers(app.config, queue_runner.queue, queue_loop.wake)
    polling = [asyncio.create_task(poller.run(stop)) for poller in pollers]
    # Telegram's webhooks (desks in webhook mode): the HTTP server, then setWebhook.
    webhooks = telegram_webhooks(app.config)
    forms = any(desk.web_form.enabled for desk in app.config.desks.values())
    web = None
    if webhooks or forms:
        from triage_desk.web.server import WebServer  # FastAPI and uvicorn: only when needed

        routes = [hook.router(queue_runner.queue, queue_loop.wake) for hook in webhooks]
        if forms:
            routes.append(web_form(app, queue_runner.queue, queue_loop.wake).router())
        web = WebServer(app.config.web, routes)
        try:
            await web.start()
        except OSError:
            if webhooks:
                raise
            # Only the public form needs it: mail and chats go on; the form is down.
            log.exception("the public web form is not served: [web] cannot listen")
            web = None
        polling += [asyncio.create_task(hook.register(stop)) for hook in webhooks]
    tasks = [asyncio.create_task(loop.run(stop)) for loop in loops]
    try:
        await stop.wait()
    finally:
        stop.set()  # the runners end after the run in hand
        stopping.set()
        for task in polling:  # a long poll in hand: what it fetched and did not commit comes again
            task.cancel()
        await asyncio.gather(*polling, return_exceptions=True)
        if web is not None:  # a request in hand is answered (after its commit) first
            await web.stop()
        if console is not None:
            await asyncio.to_thread(console.stop)
        await asyncio.to_thread(stop_imap_listeners, imap_listeners)
        if listener is not None and smtp_queue is not None:
            listener.stop()
            await asyncio.to_thread(smtp_queue.close)
        await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.to_thread(close_transports, app)
        await asyncio.to_thread(app.close_telegram_files)
        await asyncio.to_thread(app.email_intake.close)
        log.info("stopped")


def web_form(app: App, queue: InboundQueue, wake: Callable[[], None]) -> WebForm:
    """The desks' public forms (``[desks.X.web_form]``), answering from their assistant."""
    from triage_desk.intake.web.form import WebForm

    assistant = app.pipeline.triage.assistant
    return WebForm(
        app.config,
        app.sessions,
        queue,
        assistant if isinstance(assistant, Assistant) else None,
        app.clock,
        wake,
    )


def start_console(app: App) -> ConsoleServer | None:
    """The staff console (``[console]``), when enabled: served in a thread of its own."""
    cfg = app.config.console
    if not cfg.enabled:
        return None
    from triage_desk.console import create_console
    from triage_desk.console.server import ConsoleServer

    server = ConsoleServer(
        create_console(app, app.clock, service=build_desk_service(app)), cfg.host, cfg.port
    )
    server.start()
    return server
