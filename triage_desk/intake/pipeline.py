"""The intake pipeline: inbound messages → stored, triaged, timed and acknowledged.

Everything a message causes (ticket, message, attachments, suggestion, first reply in the
outbox, audit) is written in ONE transaction by the steps of ``intake.steps.STEPS``, so a
crash leaves all of it or none of it, and the unique (channel, direction, external id) makes
a replayed message a no-op instead of a second ticket or a second acknowledgement.

Messages are taken in batches (``process_many``): the model classifies a batch far faster
than one message at a time, and one commit serves the whole batch. A single message is a
batch of one. Classification and everything else that needs no database is
``intake.triage``; ``store`` takes its results, which may come from a worker process.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from triage_desk.classifier.predict import Classifier
from triage_desk.clock import Clock, system_clock
from triage_desk.config import EmailConfig
from triage_desk.desks import Desk, Desks
from triage_desk.intake.message import InboundMessage
from triage_desk.intake.queue import Alongside
from triage_desk.intake.reply_policy import ReplyPolicy
from triage_desk.intake.steps import STEPS, Batch, Step
from triage_desk.intake.steps.batch import IntakeResult, Work
from triage_desk.intake.steps.decide_reply import FIRST_REPLY_PREFIX
from triage_desk.intake.steps.queue_first_reply import acknowledgement_key
from triage_desk.intake.triage import ArticleFinder, MessageTriage, Triaged, choose_labels
from triage_desk.responders.acknowledgement import ArticleSuggestion
from triage_desk.responders.render import TemplateRenderer

__all__ = [
    "FIRST_REPLY_PREFIX",
    "ArticleFinder",
    "IntakePipeline",
    "IntakeResult",
    "acknowledgement_key",
    "choose_labels",
]


class IntakePipeline:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        desks: Desks,
        classifier: Classifier,
        renderer: TemplateRenderer,
        sender_name: str = "Triage Desk",
        rules: EmailConfig | None = None,
        now: Clock = system_clock,
        assistant: ArticleFinder | None = None,
        semantic_stage: str = "deferred",
    ) -> None:
        self.sessions = sessions
        self.semantic_stage = semantic_stage  # see ServiceConfig.semantic_stage
        self.desks = desks
        self.renderer = renderer
        self.sender_name = sender_name
        self.rules = rules or EmailConfig()
        self.now = now
        self.policy = ReplyPolicy(desks, self.rules)
        self.triage = MessageTriage(
            desks, classifier, assistant, semantic_stage, self.rules, clock=now, policy=self.policy
        )
        self.steps: tuple[Step, ...] = STEPS

    def process(self, inbound: InboundMessage) -> IntakeResult:
        return self.process_many([inbound])[0]

    def process_many(self, inbounds: Sequence[InboundMessage]) -> list[IntakeResult]:
        return self.store(self.triage.triage(inbounds))

    def store(
        self,
        triaged: Sequence[Triaged],
        *,
        again: bool = False,
        alongside: Alongside | None = None,
    ) -> list[IntakeResult]:
        """Store triaged messages in one transaction (``MessageTriage.triage`` made them).

        ``alongside(session, indexes)`` writes in that same transaction for the messages at
        ``indexes`` of ``triaged`` (the queue runner deletes their queue rows there)."""
        if not triaged:
            return []
        try:
            with self.sessions.begin() as session:
                batch = self._batch(session, triaged)
                for step in self.steps:
                    step(batch)
                if alongside is not None:
                    alongside(session, range(len(triaged)))
                session.flush()
                return [work.result() for work in batch.works]
        except IntegrityError:
            # Another worker stored one of these between our check and our insert: one by
            # one, each sees what is stored now (the same message: a duplicate; a different
            # one under the same id: stored under a derived id). Never dropped.
            if len(triaged) > 1:
                return [
                    self.store([item], alongside=_shifted(alongside, index))[0]
                    for index, item in enumerate(triaged)
                ]
            if again:
                raise
            return self.store(triaged, again=True, alongside=alongside)

    def _batch(self, session: Session, triaged: Sequence[Triaged]) -> Batch:
        works = [
            Work(item, self.desks[item.inbound.desk], self.policy.author(item.inbound))
            for item in triaged
        ]
        return Batch(
            session=session,
            now=self.now(),
            desks=self.desks,
            rules=self.rules,
            policy=self.policy,
            renderer=self.renderer,
            sender_name=self.sender_name,
            semantic_stage=self.semantic_stage,
            articles=self._articles,
            works=works,
        )

    def _articles(self, triaged: Triaged, desk: Desk) -> tuple[ArticleSuggestion, ...]:
        return self.triage.articles(
            triaged.inbound, desk, triaged.category, triaged.prediction.language, triaged.due
        )


def _shifted(alongside: Alongside | None, index: int) -> Alongside | None:
    """``alongside`` for the message at ``index`` stored on its own."""
    if alongside is None:
        return None
    return lambda session, _indexes: alongside(session, [index])
