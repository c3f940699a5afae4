"""Assembling the service from configuration: database, desks, model, pipeline, dispatcher."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from triage_desk.classifier.data import load_examples
from triage_desk.classifier.predict import Classifier
from triage_desk.classifier.store import ModelNotFound, ModelStore
from triage_desk.clock import Clock, system_clock
from triage_desk.config import DEFAULT_MAX_INPUT_CHARS, Config, EmailConfig
from triage_desk.desks import Desk, Desks
from triage_desk.intake.decoders import Decoders
from triage_desk.intake.email.ingest import EmailIntake
from triage_desk.intake.email.queued import EmailProcessor
from triage_desk.intake.email.queued import register as register_email
from triage_desk.intake.errors import Deadline
from triage_desk.intake.pipeline import IntakePipeline
from triage_desk.intake.processing import DecodingProcessor, IngestOutcome, Processor
from triage_desk.intake.quarantine import RetryResult, retry
from triage_desk.intake.queue import Arrival, InboundQueue
from triage_desk.intake.steps.answer_in_chat import AnswerInChat
from triage_desk.intake.web.decoder import register as register_web
from triage_desk.responders.assistant import Assistant, KnowledgeBase
from triage_desk.responders.chat_assistant import ChatAssistant
from triage_desk.responders.dispatcher import Dispatcher
from triage_desk.responders.render import TemplateRenderer
from triage_desk.responders.transports import FileTransport, SmtpTransport, Transport
from triage_desk.runners.queue import QueueRunner
from triage_desk.storage.clients import ClientRecord, upsert_clients
from triage_desk.storage.db import make_engine, make_session_factory, upgrade

if TYPE_CHECKING:
    from triage_desk.desk_service import DeskService
    from triage_desk.desk_service.actions import Reprocess
    from triage_desk.intake.telegram.callbacks import Callbacks
    from triage_desk.intake.telegram.poller import TelegramPoller
    from triage_desk.intake.telegram.webhook import WebhookDesk
    from triage_desk.responders.webhooks import Webhooks

log = logging.getLogger(__name__)
KB_INDEX_FOLDER = "kb-index"


def train_and_save(store: ModelStore, say: Callable[[str], None] | None = None) -> str:
    from triage_desk.classifier.training import train  # scikit-learn: only when training

    model, meta = train(load_examples(), progress=say)
    return store.save(model, meta)


def load_classifier(
    models_dir: Path,
    train_if_missing: bool = True,
    semantic: bool = True,
    max_input_chars: int = DEFAULT_MAX_INPUT_CHARS,
) -> Classifier:
    store = ModelStore(models_dir)
    try:
        model, meta = store.load_for_serving()
    except ModelNotFound as why:
        if not train_if_missing:
            raise
        log.warning(
            "no usable model in %s (%s); training one from the bundled data", models_dir, why
        )
        train_and_save(store)
        model, meta = store.load_for_serving()
    return Classifier(model, meta, semantic=semantic, max_input_chars=max_input_chars)


def sync_clients(sessions: sessionmaker[Session], config: Config) -> None:
    """Clients and representatives written in the config file (CSV imports add to them)."""
    records = [
        ClientRecord(
            c.name,
            c.desk,
            tuple(c.domains),
            tuple((address, None, True) for address in c.representatives),
        )
        for c in config.clients
    ]
    if not records:
        return
    try:
        with sessions.begin() as session:
            upsert_clients(session, records)
    except IntegrityError:
        # Another process started at the same instant and inserted them first; now they
        # exist, so a second pass only updates.
        with sessions.begin() as session:
            upsert_clients(session, records)


def build_desk_service(app: App) -> DeskService:
    """The desk service over this app's database, able to release quarantined mail through
    its intake (``DeskService.from_config`` is the one without a model, for queries and
    staff actions)."""
    # Imported here: intake alone (`triage fetch`, `triage run`) does without it.
    from triage_desk.desk_service import DeskService

    return DeskService.from_config(
        app.config, app.clock, sessions=app.sessions, reprocess=quarantine_reprocessor(app)
    )


def quarantine_reprocessor(app: App) -> Reprocess:
    """How the desk service processes a quarantined mail again: through this app's intake."""

    def reprocess(quarantine_id: int, time_limit: float | None) -> RetryResult:
        return retry(app.sessions, app.email_intake, quarantine_id, time_limit)

    return reprocess


def outbound_transports(config: Config) -> dict[str, Transport]:
    outbound = config.outbound
    email: Transport = (
        SmtpTransport(outbound.smtp)
        if outbound.transport == "smtp"
        else FileTransport(outbound.file_dir)
    )
    return {"email": email}


@dataclass
class App:
    config: Config
    engine: Engine
    sessions: sessionmaker[Session]
    desks: Desks
    classifier: Classifier
    pipeline: IntakePipeline
    dispatcher: Dispatcher
    email_intake: EmailIntake
    clock: Clock = system_clock
    # What fetches chat messages' files (a loop and each bot's connections): made once, at
    # the first queue runner of an app with a bot.
    telegram_files: Any = None

    def queue_runner(self, **options: Any) -> QueueRunner:
        """The inbound queue's runner over this app's intake (``queue_runner``)."""
        telegram = any(desk.telegram for desk in self.config.desks.values())
        if telegram and self.telegram_files is None:
            from triage_desk.intake.telegram.files import FileFetcher

            self.telegram_files = FileFetcher.from_config(self.config)
        return queue_runner(
            self.email_intake,
            channel_decoders(self.config, self.sessions),
            telegram=telegram,
            telegram_files=self.telegram_files,
            **options,
        )

    def warm_up(self) -> None:
        """What the first message would otherwise load, in this process: the language models
        and the embedder, every reply template, each language's locale data. Call it after
        forking the prepare workers (the language models' threads do not survive a fork)."""
        from triage_desk.responders import localtime

        self.classifier.warm_up()
        self.pipeline.renderer.preload()
        localtime.warm_up()

    def close_telegram_files(self) -> None:
        if self.telegram_files is not None:
            self.telegram_files.close()

    def store_queued(self) -> list[tuple[Arrival, IngestOutcome]]:
        """Store everything due in the inbound queue now (``fetch --once`` after fetching);
        each item with its outcome."""
        stored: list[tuple[Arrival, IngestOutcome]] = []
        runner = self.queue_runner(
            observe=lambda entry, outcome: stored.append((entry.item, outcome))
        )
        runner.drain()
        return stored


def email_decoders(rules: EmailConfig) -> Decoders:
    """The decoder registry with email's decoder in it (a chat channel adds its own)."""
    decoders = Decoders()
    register_email(decoders, rules)
    return decoders


def channel_decoders(config: Config, sessions: sessionmaker[Session] | None = None) -> Decoders:
    """Email's decoder, and Telegram's when a desk has a bot (reading each chat's chosen
    language through ``sessions``)."""
    decoders = email_decoders(config.email)
    register_web(decoders)  # the public form and logged calls: no library, always there
    reopen_days = {
        name: desk.telegram.reopen_days
        for name, desk in config.desks.items()
        if desk.telegram is not None
    }
    if reopen_days:
        # Imported only when a desk has a bot: the library costs every start.
        from triage_desk.intake.telegram.decoder import register as register_telegram

        register_telegram(decoders, reopen_days, sessions)
    return decoders


def telegram_pollers(
    config: Config, queue: InboundQueue, wake: Callable[[], None]
) -> list[TelegramPoller]:
    """A poller for each desk's bot in polling mode (none without a bot: nothing imported)."""
    if not any(desk.telegram for desk in config.desks.values()):
        return []
    from triage_desk.intake.telegram.poller import pollers_from_config

    return pollers_from_config(config, queue, wake)


def telegram_webhooks(config: Config) -> list[WebhookDesk]:
    """Each desk's bot in webhook mode (none without one: nothing imported)."""
    if not any(d.telegram and d.telegram.mode == "webhook" for d in config.desks.values()):
        return []
    from triage_desk.intake.telegram.webhook import webhooks_from_config

    return webhooks_from_config(config)


def telegram_callbacks(intake: EmailIntake) -> Callbacks:
    """What answers the bots' button presses and staff group replies."""
    from triage_desk.intake.telegram.callbacks import Callbacks

    pipeline = intake.pipeline
    assert isinstance(pipeline.triage.assistant, Assistant)
    staff = None
    if any(_staff_group(desk) for desk in pipeline.desks.by_name.values()):
        from triage_desk.desk_service import DeskService
        from triage_desk.intake.telegram.staff_group import StaffGroup

        service = DeskService(
            intake.sessions,
            pipeline.desks,
            pipeline.renderer,
            pipeline.sender_name,
            clock=intake.clock,
            webhooks=_webhooks_of(pipeline),
        )
        staff = StaffGroup(intake.sessions, StaffDecisionsOf(service), intake.clock)
    return Callbacks(
        intake.sessions,
        pipeline.desks,
        ChatAssistant(pipeline.triage.assistant, pipeline.renderer),
        intake.clock,
        staff=staff,
        sender_name=pipeline.sender_name,
    )


def _webhooks_of(pipeline: IntakePipeline) -> Webhooks | None:
    """The webhooks the pipeline's step queues events for (a staff group's decisions send
    theirs too)."""
    from triage_desk.intake.steps.notify_webhooks import NotifyWebhooks

    found = [s.webhooks for s in pipeline.steps if isinstance(s, NotifyWebhooks)]
    return found[0] if found else None


def _staff_group(desk: Desk) -> bool:
    return desk.config.telegram is not None and desk.config.telegram.staff_chat_id is not None


class StaffDecisionsOf:
    """The desk service's confirm and change of category as the Telegram staff group uses
    them (``intake.telegram.staff_group.StaffDecisions``): a refusal as its message."""

    def __init__(self, service: DeskService) -> None:
        self.service = service

    def confirm(self, number: str, staff: str) -> str | None:
        from triage_desk.desk_service import DeskError

        try:
            self.service.confirm(number, staff)
        except DeskError as error:
            return error.message
        return None

    def change(self, number: str, category: str, reason: str, staff: str) -> str | None:
        from triage_desk.desk_service import DeskError

        try:
            self.service.change_category(number, category, reason, staff)
        except DeskError as error:
            return error.message
        return None


def queue_runner(
    intake: EmailIntake,
    decoders: Decoders,
    queue: InboundQueue | None = None,
    telegram: bool = False,
    telegram_files: Any = None,
    **options: Any,
) -> QueueRunner:
    """The queue runner: email through ``intake`` (its prepare workers), every other channel
    through its registered decoder, Telegram's commands answered first when ``telegram``
    (its files fetched by ``telegram_files``, a ``FileFetcher``; None: metadata only);
    ``options`` as ``QueueRunner`` takes them."""
    rules = intake.rules
    options.setdefault("max_starts", rules.max_processing_starts)
    fallback = DecodingProcessor(
        intake.sessions,
        intake.pipeline,
        decoders,
        lambda: Deadline(rules.processing_time_limit_seconds),
    )
    processors: dict[str, Processor] = {"email": EmailProcessor(intake)}
    if telegram:
        from triage_desk.intake.telegram.processor import TelegramProcessor

        processors["telegram"] = TelegramProcessor(
            intake.sessions,
            intake.pipeline.desks,
            fallback,
            intake.clock,
            telegram_files,
            callbacks=telegram_callbacks(intake),
        )
    return QueueRunner(
        queue or InboundQueue(intake.sessions, intake.clock), processors, fallback, **options
    )


def build_app(
    config: Config,
    migrate: bool = True,
    classifier: Classifier | None = None,
    database_url: str | None = None,
    clock: Clock = system_clock,
) -> App:
    """The service from ``config``; ``clock`` is where every part reads "now" (tests fix it)."""
    url = database_url or config.database_url()
    if migrate:
        upgrade(url)
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    sync_clients(sessions, config)
    desks = Desks(config)
    classifier = classifier or load_classifier(
        config.service.models_dir,
        semantic=config.service.semantic_stage != "off",
        max_input_chars=config.classifier.max_input_chars,
    )
    renderer = TemplateRenderer()
    # Vectorised knowledge-base articles are kept beside the models, like them derived data
    # (responders/index_cache.py): a process loads them instead of building them.
    assistant = Assistant(
        KnowledgeBase.load(), cache_dir=config.service.models_dir / KB_INDEX_FOLDER
    )
    pipeline = IntakePipeline(
        sessions,
        desks,
        classifier,
        renderer,
        sender_name=config.outbound.from_name,
        rules=config.email,
        assistant=assistant,
        semantic_stage=config.service.semantic_stage,
        now=clock,
    )
    # The assistant answers chat questions in the transaction that stores them.
    pipeline.steps = (*pipeline.steps, AnswerInChat(ChatAssistant(assistant, renderer)))
    if any(_staff_group(desk) for desk in desks.by_name.values()):
        from triage_desk.intake.telegram.staff_group import PostToStaffGroup

        pipeline.steps = (*pipeline.steps, PostToStaffGroup())
    if config.webhooks:
        from triage_desk.intake.steps.notify_webhooks import NotifyWebhooks
        from triage_desk.responders.webhooks import Webhooks

        # ticket.created is queued in the commit that stores the ticket.
        pipeline.steps = (*pipeline.steps, NotifyWebhooks(Webhooks.from_config(config)))
    transports = outbound_transports(config)
    if any(desk.telegram for desk in config.desks.values()):
        # Imported only when a desk has a bot: the library and httpx cost every start.
        from triage_desk.responders.telegram_sender import TelegramSender

        transports["telegram"] = TelegramSender.from_config(
            config, sessions, desks, renderer, now=clock
        )
    if config.webhooks:
        from triage_desk.responders.webhooks import WebhookSender

        transports["webhook"] = WebhookSender.from_config(config, clock)
    dispatcher = Dispatcher(
        sessions,
        transports,
        max_attempts=config.outbound.max_attempts,
        now=clock,
    )
    email_intake = EmailIntake(sessions, pipeline, config.email)
    return App(
        config, engine, sessions, desks, classifier, pipeline, dispatcher, email_intake, clock
    )
