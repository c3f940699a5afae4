"""What a message's first reply depends on that needs no database: labels, due times, articles.

``MessageTriage.triage`` classifies a batch of normalised messages and works out, for each,
what a new ticket would start with: category and feedback type, due times, and the
knowledge-base suggestions of its acknowledgement. None of it reads or writes the database,
and the result (``Triaged``) pickles, so this can run in a forked worker (``intake.email.workers``)
while the main process stores the batch before it. Whether a message really opens a ticket
(threading, dedup), who sent it (rights) and the reply itself are decided when storing.

Bounded: the classifier and the knowledge base read at most ``classifier.max_input_chars``
of a message, and ``triage_within`` keeps each message to its own time budget (``Deadline``):
one that runs out is taken out of the batch, the others go on.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

from triage_desk.classifier.predict import Classifier, ClassifierInput, Prediction
from triage_desk.classifier.text import clip
from triage_desk.clock import Clock, system_clock
from triage_desk.config import DEFAULT_MAX_INPUT_CHARS, FEEDBACK_CATEGORY, NO_FEEDBACK, EmailConfig
from triage_desk.desks import Desk, Desks
from triage_desk.intake.errors import Deadline, ProcessingTimeout
from triage_desk.intake.message import InboundMessage
from triage_desk.intake.reply_policy import ReplyPolicy
from triage_desk.responders.acknowledgement import ArticleSuggestion
from triage_desk.sla import DueTimes, due_times

log = logging.getLogger(__name__)


class ArticleFinder(Protocol):
    """The virtual assistant as intake uses it (responders/assistant.py)."""

    def answer(
        self,
        question: str,
        desk: str,
        language: str,
        limit: int = 3,
        *,
        min_score: float | None = None,
    ) -> list[Any]: ...


@dataclass(frozen=True)
class Triaged:
    """One message with what a new ticket for it would start with."""

    inbound: InboundMessage
    prediction: Prediction
    category: str
    feedback_type: str
    due: DueTimes  # for a new ticket of ``category`` received at ``inbound.received_at``
    # The acknowledgement's suggestions, or None where they were not looked up ahead (a
    # message that can get no acknowledgement); the pipeline then looks them up if needed.
    articles: tuple[ArticleSuggestion, ...] | None = None


# What a message weighs in a batch beside its text: a share of the batch's fixed costs.
_ITEM_WEIGHT = 100


class _SharedStep:
    """A step done for a whole batch at once (classification): its time is charged to each
    message's budget in proportion to how much of the batch's text is the message's."""

    def __init__(self, deadlines: Sequence[Deadline], weights: Sequence[int], step: str) -> None:
        total = sum(weights) or 1
        self.deadlines = deadlines
        self.shares = [weight / total for weight in weights]
        self.step = step

    def __enter__(self) -> None:
        self.started = [deadline.timer() for deadline in self.deadlines]

    def __exit__(self, *_exc: object) -> None:
        for deadline, share, started in zip(self.deadlines, self.shares, self.started, strict=True):
            deadline.charge((deadline.timer() - started) * share, self.step)


def _late(deadline: Deadline) -> ProcessingTimeout | None:
    try:
        deadline.check()
    except ProcessingTimeout as timeout:
        return timeout
    return None


def choose_labels(desk: Desk, prediction: Prediction) -> tuple[str, str]:
    """The category and feedback type the ticket starts with, consistent with each other."""
    category = prediction.category
    if category not in desk.categories:
        category = desk.config.fallback_category or FEEDBACK_CATEGORY
    feedback = prediction.feedback_type
    if feedback != NO_FEEDBACK and feedback not in desk.config.feedback_types:
        feedback = NO_FEEDBACK
    return category, feedback


class MessageTriage:
    def __init__(
        self,
        desks: Desks,
        classifier: Classifier,
        assistant: ArticleFinder | None = None,
        semantic_stage: str = "deferred",
        rules: EmailConfig | None = None,
        clock: Clock = system_clock,
        policy: ReplyPolicy | None = None,
    ) -> None:
        self.clock = clock
        self.desks = desks
        self.classifier = classifier
        self.assistant = assistant
        self.semantic_stage = semantic_stage  # see ServiceConfig.semantic_stage
        self.rules = rules or EmailConfig()
        self.policy = policy or ReplyPolicy(desks, self.rules)
        # A property that walks every category: asked once per desk, not once per message.
        self._settle_desks = {
            name for name, desk in desks.by_name.items() if desk.has_around_the_clock_category
        }
        # The classifier's own limit (classifier.max_input_chars), which the knowledge base
        # shares; a stand-in classifier without one gets the default.
        self.max_input_chars: int = getattr(classifier, "max_input_chars", DEFAULT_MAX_INPUT_CHARS)

    def load(self, desks: Iterable[str]) -> None:
        """What the first message of these desks would load and a forked process can share:
        the holidays and the knowledge-base indexes."""
        desks = list(desks)
        for name in desks:
            desk = self.desks[name]
            category = next(iter(desk.config.categories.values()))
            due_times(desk.calendar, category, self.clock())
        warm = getattr(self.assistant, "warm_up", None)
        if warm is not None:
            warm(desks)

    def warm_up(self, desks: Iterable[str]) -> None:
        """``load``, and the language models, whose threads a forked child would not have:
        only in a process that forks no workers after it."""
        from triage_desk.classifier import language

        self.load(desks)
        language.warm_up()

    def triage(self, inbounds: Sequence[InboundMessage]) -> list[Triaged]:
        """Every message triaged, with no time limit (``triage_within`` has one)."""
        results = self.triage_within(inbounds, [Deadline.none() for _ in inbounds])
        return [result for result in results if isinstance(result, Triaged)]

    def triage_within(
        self, inbounds: Sequence[InboundMessage], deadlines: Sequence[Deadline]
    ) -> list[Triaged | ProcessingTimeout]:
        """Each message triaged within its own time budget, or the timeout that ended it.

        The budgets are paused: each is resumed for its message's own steps, and charged
        its share of the steps done for the batch at once (``_SharedStep``). A message
        found over its budget between steps leaves the batch; the others go on.
        """
        results: list[Triaged | ProcessingTimeout | None] = [None] * len(inbounds)
        live: list[int] = []
        for index, deadline in enumerate(deadlines):
            late = _late(deadline)
            if late is None:
                live.append(index)
            else:
                results[index] = late
        desks = {index: self.desks[inbounds[index].desk] for index in live}
        predictions = self.classify(
            [inbounds[i] for i in live], [desks[i] for i in live], [deadlines[i] for i in live]
        )
        for index, prediction in zip(live, predictions, strict=True):
            chosen = inbounds[index].language
            if chosen and chosen != prediction.language:  # the person's choice, not a guess
                prediction = replace(prediction, language=chosen)
            try:
                results[index] = self._finish(
                    inbounds[index], desks[index], prediction, deadlines[index]
                )
            except ProcessingTimeout as late:
                results[index] = late
        return [result for result in results if result is not None]

    def _finish(
        self, inbound: InboundMessage, desk: Desk, prediction: Prediction, deadline: Deadline
    ) -> Triaged:
        """One message's own steps after classification: labels, due times, suggestions."""
        deadline.check()  # its share of the batch's classification may have used it up
        with deadline.running("due times"):
            category, feedback = choose_labels(desk, prediction)
            if inbound.category in desk.config.categories:  # staff chose it (a call)
                category = inbound.category
            due = due_times(desk.calendar, desk.config.categories[category], inbound.received_at)
        articles = None
        # Suggestions only for a message that may be answered at all (not a robot, staff,
        # one of our own mailboxes: reply_policy); the rest is decided when storing.
        if self.policy.may_be_answered(inbound):
            with deadline.running("knowledge base"):
                articles = self.articles(inbound, desk, category, prediction.language, due)
        return Triaged(inbound, prediction, category, feedback, due, articles)

    def classify(
        self,
        inbounds: Sequence[InboundMessage],
        desks: list[Desk],
        deadlines: Sequence[Deadline] | None = None,
    ) -> list[Prediction]:
        """The batch classified at once; its time is shared out among ``deadlines``."""
        items = []
        for inbound, desk in zip(inbounds, desks, strict=True):
            subject, body = clip(
                inbound.subject, inbound.new_text or inbound.text, self.max_input_chars
            )
            items.append(
                ClassifierInput(
                    subject=subject,
                    body=body,
                    allowed_categories=desk.categories,
                    default_language=inbound.language_hint or desk.config.default_language,
                )
            )
        if not items:
            return []
        deadlines = deadlines or [Deadline.none() for _ in items]
        weights = [len(item.subject) + len(item.body) + _ITEM_WEIGHT for item in items]
        # Language detection runs inside the classifier's call, on the text's start.
        with _SharedStep(deadlines, weights, "classification and language detection"):
            predictions = self.classifier.classify_many(
                items, semantic=self.semantic_stage == "inline"
            )
        if self.semantic_stage == "deferred":
            predictions = self._settle_now(items, desks, predictions, deadlines, weights)
        return predictions

    def _settle_now(
        self,
        items: list[ClassifierInput],
        desks: list[Desk],
        predictions: list[Prediction],
        deadlines: Sequence[Deadline],
        weights: list[int],
    ) -> list[Prediction]:
        """Deferred mode: which unsure messages still get the semantic stage before replying.

        On a desk with a 24/7 category the category decides the kind of first reply (the
        24/7 route, at any hour, instead of an acknowledgement), so a later correction would
        come too late: there unsure messages are settled now. Elsewhere the first reply only
        states the provisional category, and the refiner improves the suggestion for staff
        afterwards; until then the message is never auto-accepted, and never refused
        (the ``check_rights`` step: a refusal on an unsure guess would turn away a
        request the person may well submit; staff decide).
        """
        now = [
            i
            for i, (p, desk) in enumerate(zip(predictions, desks, strict=True))
            if p.needs_refinement and desk.name in self._settle_desks
        ]
        result = [replace(p, auto_accept=False) if p.needs_refinement else p for p in predictions]
        if now:
            with _SharedStep(
                [deadlines[i] for i in now], [weights[i] for i in now], "semantic classification"
            ):
                settled = self.classifier.classify_many([items[i] for i in now], semantic=True)
            for index, prediction in zip(now, settled, strict=True):
                result[index] = prediction
        return result

    def articles(
        self, inbound: InboundMessage, desk: Desk, category: str, language: str, due: DueTimes
    ) -> tuple[ArticleSuggestion, ...]:
        """Knowledge-base suggestions: out of hours, or for categories configured in hours."""
        settings = desk.config.assistant
        wanted = due.clock_start > inbound.received_at or category in settings.in_hours_categories
        if self.assistant is None or not settings.enabled or not wanted:
            return ()
        text = inbound.new_text or inbound.text
        subject, body = clip(inbound.subject, text, self.max_input_chars)
        question = f"{subject}\n{body}"
        try:
            matches = self.assistant.answer(
                question,
                desk.name,
                language,
                limit=settings.max_suggestions,
                min_score=settings.min_score,
            )
        except Exception:  # suggestions are a courtesy; never lose the acknowledgement
            log.exception("assistant failed for a message from %s", inbound.sender)
            return ()
        return tuple(
            ArticleSuggestion(m.title, m.summary, getattr(m, "url", None))
            for m in matches[: settings.max_suggestions]
        )
