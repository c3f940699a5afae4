"""Deferred semantic stage: intake answers with the fast stage, the refiner adds the rest."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from sqlalchemy import func, select

from tests.helpers import make_mail
from triage_desk.classifier.predict import ClassifierInput
from triage_desk.clock import FixedClock
from triage_desk.desks import Desks
from triage_desk.intake.email.parse import inbound_from_email
from triage_desk.intake.pipeline import IntakePipeline
from triage_desk.refiner import Refiner, pending_count, refine_all, refine_pending
from triage_desk.responders.render import TemplateRenderer
from triage_desk.storage.db import make_engine, make_session_factory
from triage_desk.storage.models import AuditEvent, Message, OutboxItem, Suggestion, Ticket

MONDAY_1000_RIGA = dt.datetime(2026, 11, 30, 8, 0, tzinfo=dt.UTC)
CLOCK = FixedClock(MONDAY_1000_RIGA + dt.timedelta(minutes=1))

# Vague messages: the fast stage is unsure of at least one of them on each desk.
VAGUE = [
    "Здравствуйте, у меня проблема с системой.",
    "Sveiki, ar sistēmu kaut kas nav kārtībā, lūdzu palīdziet.",
    "I have a question about my certificate and the app.",
    "Hello, something is wrong with my account, can you look?",
    "Sveiki, kas notiek ar manu eParakstu?",
    "Hi, I noticed an issue with the numbers in the report, and also the page is slow.",
    "Labdien, man ir jautājums un arī neliela piezīme par jūsu darbu.",
    "Добрый день, вопрос по сертификату и приложению.",
    "Labdien, kaut kas dīvains notiek ar sistēmu, vai varat paskatīties?",
    "Hi, the system behaves strangely since yesterday, not sure what is going on.",
    "Здравствуйте, что-то странное с программой, посмотрите пожалуйста.",
]
ADDRESS = {"municipal": "atbalsts@example.lv", "eparaksts": "eparaksts@example.lv"}


def unsure_text(classifier, desks: Desks, desk: str) -> str:
    """A message the fast stage is unsure of, whose guess anyone may submit (a guess that
    could bring a refusal is settled at once; see the last test)."""
    categories = desks[desk].categories
    for text in VAGUE:
        item = ClassifierInput("", text, categories)
        prediction = classifier.classify_many([item], semantic=False)[0]
        rules = desks[desk].config.categories[prediction.category]
        if prediction.needs_refinement and rules.submitted_by != "representative":
            return text
    pytest.fail(
        f"none of the vague messages leaves the fast stage unsure on {desk}; "
        "add a vaguer one to VAGUE"
    )


@pytest.fixture
def world(database_url, example_config, classifier):
    engine = make_engine(database_url)
    sessions = make_session_factory(engine)
    desks = Desks(example_config)

    def pipeline(mode: str) -> IntakePipeline:
        return IntakePipeline(
            sessions, desks, classifier, TemplateRenderer(), semantic_stage=mode, now=CLOCK
        )

    yield sessions, desks, pipeline
    engine.dispose()


def _mail(desk: str, text: str, n: int = 1) -> bytes:
    return make_mail(
        subject="", body=text, to=ADDRESS[desk], message_id=f"<vague-{desk}-{n}@novads.example.lv>"
    )


def _suggestions(sessions) -> list[Suggestion]:
    with sessions() as session:
        return list(session.scalars(select(Suggestion).order_by(Suggestion.id)))


def test_deferred_intake_acknowledges_with_the_fast_stage_and_marks_the_unsure(world, classifier):
    sessions, desks, pipeline = world
    text = unsure_text(classifier, desks, "municipal")
    result = pipeline("deferred").process(
        inbound_from_email(_mail("municipal", text), "municipal", MONDAY_1000_RIGA)
    )
    assert result.acknowledged
    [fast] = _suggestions(sessions)
    assert fast.stage == "fast" and fast.needs_refinement
    assert not fast.auto_accept  # never auto-accepted before the semantic stage has spoken
    assert pending_count(sessions) == 1
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(OutboxItem)) == 1


def test_the_refiner_adds_a_semantic_suggestion_once_and_keeps_what_the_person_was_told(
    world, classifier
):
    sessions, desks, pipeline = world
    text = unsure_text(classifier, desks, "municipal")
    pipeline("deferred").process(
        inbound_from_email(_mail("municipal", text), "municipal", MONDAY_1000_RIGA)
    )
    with sessions() as session:
        before = session.scalar(select(Ticket))
        told = (before.category, before.response_due)

    done = refine_pending(sessions, desks, classifier)
    assert len(done) == 1 and done[0].stage == "semantic"
    expected = classifier.classify_many(
        [ClassifierInput("", text, desks["municipal"].categories)], semantic=True
    )[0]
    assert done[0].after == (expected.category, expected.feedback_type)

    fast, semantic = _suggestions(sessions)
    assert not fast.needs_refinement and fast.stage == "fast"
    assert semantic.stage == "semantic" and not semantic.needs_refinement
    assert semantic.message_id == fast.message_id
    with sessions() as session:
        ticket = session.scalar(select(Ticket))
        assert (ticket.category, ticket.response_due) == told  # staff decide, not the refiner
        actions = session.scalars(select(AuditEvent.action)).all()
        assert "suggestion_refined" in actions
        # no second message to the person
        assert session.scalar(select(func.count()).select_from(OutboxItem)) == 1
    assert refine_pending(sessions, desks, classifier) == []  # nothing left, nothing twice
    assert pending_count(sessions) == 0


def test_a_desk_with_a_24_7_category_settles_unsure_messages_before_replying(world, classifier):
    """On eparaksts the category picks the kind of first reply (24/7 route or not)."""
    sessions, desks, pipeline = world
    assert desks["eparaksts"].has_around_the_clock_category
    assert not desks["municipal"].has_around_the_clock_category
    text = unsure_text(classifier, desks, "eparaksts")
    pipeline("deferred").process(
        inbound_from_email(_mail("eparaksts", text), "eparaksts", MONDAY_1000_RIGA)
    )
    [suggestion] = _suggestions(sessions)
    assert suggestion.stage == "semantic" and not suggestion.needs_refinement


@pytest.mark.parametrize("mode, stage, pending", [("inline", "semantic", 0), ("off", "fast", 0)])
def test_inline_and_off_leave_nothing_to_refine(world, classifier, mode, stage, pending):
    sessions, desks, pipeline = world
    text = unsure_text(classifier, desks, "municipal")
    pipeline(mode).process(
        inbound_from_email(_mail("municipal", text), "municipal", MONDAY_1000_RIGA)
    )
    [suggestion] = _suggestions(sessions)
    assert suggestion.stage == stage and not suggestion.needs_refinement
    assert pending_count(sessions) == pending


def test_refine_all_drains_a_backlog_in_batches(world, classifier):
    sessions, desks, pipeline = world
    text = unsure_text(classifier, desks, "municipal")
    intake = pipeline("deferred")
    intake.process_many(
        [
            inbound_from_email(
                _mail("municipal", f"{text} ({n})", n), "municipal", MONDAY_1000_RIGA
            )
            for n in range(5)
        ]
    )
    waiting = pending_count(sessions)
    assert waiting >= 1
    done = refine_all(sessions, desks, classifier, batch=2)
    assert len(done) == waiting and pending_count(sessions) == 0
    assert len({d.ticket_number for d in done}) == waiting


def _unsure_backlog(sessions, desks: Desks, count: int) -> None:
    """``count`` suggestions waiting for the semantic stage (the fast stage pinned unsure)."""
    pipeline = IntakePipeline(
        sessions,
        desks,
        TwoStages("error", semantic="error"),
        TemplateRenderer(),
        semantic_stage="deferred",
        now=CLOCK,
    )
    pipeline.process_many(
        [
            inbound_from_email(
                _mail("municipal", f"Sistēma nestrādā ({n}).", n), "municipal", MONDAY_1000_RIGA
            )
            for n in range(count)
        ]
    )
    assert pending_count(sessions) == count


def _semantic_per_ticket(sessions) -> list[int]:
    with sessions() as session:
        return list(
            session.scalars(
                select(func.count())
                .select_from(Suggestion)
                .where(Suggestion.stage == "semantic")
                .group_by(Suggestion.ticket_id)
            )
        )


def test_two_refiners_at_once_refine_disjoint_sets_and_together_all(world):
    """Each claims before it embeds: both hold their claims at the same moment (neither
    embeds until both have claimed), and no suggestion is in both."""
    sessions, desks, _pipeline = world
    _unsure_backlog(sessions, desks, 6)
    both_claimed = threading.Barrier(2, timeout=60)

    class InStep(TwoStages):
        def classify_many(self, items, semantic=None):
            if semantic:
                both_claimed.wait()
            return super().classify_many(items, semantic)

    stages = InStep("error", semantic="error")
    refined: list[list[str]] = []
    errors: list[BaseException] = []

    def refiner() -> None:
        try:
            done = Refiner(sessions, desks, stages, batch=3).refine(CLOCK())
            refined.append([d.ticket_number for d in done])
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=refiner) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    first, second = refined
    assert len(first) == len(second) == 3
    assert set(first).isdisjoint(second)
    assert stages.semantic_asked == 6  # each suggestion embedded once
    assert pending_count(sessions) == 0
    assert _semantic_per_ticket(sessions) == [1] * 6


def test_a_claim_left_by_a_crashed_refiner_is_taken_again_after_its_lease(world):
    sessions, desks, _pipeline = world
    _unsure_backlog(sessions, desks, 3)
    clock = FixedClock(CLOCK())
    stages = TwoStages("error", semantic="error")
    crashed = Refiner(sessions, desks, stages, lease=dt.timedelta(minutes=10))
    claims = crashed.claim(clock())  # committed; then the process dies before embedding
    assert len(claims) == 3

    other = Refiner(sessions, desks, stages)
    assert other.refine(clock()) == []  # held by the claims
    clock.advance(minutes=10, seconds=-1)
    assert other.refine(clock()) == []
    assert stages.semantic_asked == 0
    clock.advance(seconds=1)  # the lease ends
    assert len(other.refine(clock())) == 3
    assert pending_count(sessions) == 0

    # The "crashed" refiner was only slow: it comes back after losing its claims and
    # stores nothing, so no suggestion gets two second opinions.
    assert crashed.commit(claims, crashed.work(claims), clock()) == []
    assert _semantic_per_ticket(sessions) == [1] * 3


class TwoStages:
    """Pins the two stages' answers, so the test checks the rule, not the model: the fast
    stage is unsure and says ``fast``, the semantic stage says ``semantic``."""

    def __init__(self, fast: str, semantic: str) -> None:
        self.fast, self.semantic_category = fast, semantic
        self.semantic_asked = 0
        # Two refiner threads count at the same moment: `+=` alone would lose one count.
        self._count_lock = threading.Lock()

    def classify_many(self, items, semantic=None):
        from triage_desk.classifier.predict import Prediction

        if semantic:
            with self._count_lock:
                self.semantic_asked += len(items)
            return [
                Prediction(
                    self.semantic_category,
                    0.8,
                    "none",
                    0.99,
                    0.8,
                    False,
                    "lv",
                    "pinned",
                    "semantic",
                )
                for _ in items
            ]
        return [
            Prediction(
                self.fast,
                0.55,
                "none",
                0.99,
                0.55,
                False,
                "lv",
                "pinned",
                "fast",
                needs_refinement=True,
            )
            for _ in items
        ]


def test_an_unsure_guess_at_a_representative_only_category_is_not_refused(
    database_url, example_config
):
    """The sender is no representative, and the fast stage's unsure guess is a category
    only representatives may submit: the person gets the acknowledgement, staff decide."""
    engine = make_engine(database_url)
    sessions = make_session_factory(engine)
    desks = Desks(example_config)
    assert desks["municipal"].config.categories["data_processing"].submitted_by == "representative"
    stages = TwoStages("data_processing", semantic="error")
    pipeline = IntakePipeline(
        sessions, desks, stages, TemplateRenderer(), semantic_stage="deferred", now=CLOCK
    )
    result = pipeline.process(
        inbound_from_email(
            _mail("municipal", "Labdien! Atskaite neveidojas, lūdzu palīdziet."),
            "municipal",
            MONDAY_1000_RIGA,
        )
    )
    assert stages.semantic_asked == 0  # intake did not wait for it
    assert result.acknowledged and result.category == "data_processing"
    with sessions() as session:
        ticket = session.scalar(select(Ticket))
        assert ticket.status != "refused"
        [suggestion] = session.scalars(select(Suggestion)).all()
        assert suggestion.needs_refinement
        actions = session.scalars(select(AuditEvent.action)).all()
        assert "rights_unclear" in actions and "refused" not in actions
        [item] = session.scalars(select(OutboxItem)).all()
        assert item.kind == "acknowledgement"
    engine.dispose()


def test_a_message_the_semantic_stage_cannot_take_does_not_block_the_others(world, classifier):
    sessions, desks, pipeline = world
    text = unsure_text(classifier, desks, "municipal")
    pipeline("deferred").process_many(
        [
            inbound_from_email(
                _mail("municipal", f"{text} ({n})", n), "municipal", MONDAY_1000_RIGA
            )
            for n in range(3)
        ]
    )
    waiting = pending_count(sessions)
    assert waiting >= 2
    with sessions() as session:
        poison = session.scalars(
            select(Message.new_text)
            .join(Suggestion, Suggestion.message_id == Message.id)
            .where(Suggestion.needs_refinement)
            .order_by(Suggestion.id)
        ).first()

    class ChokesOnOne:
        """The real classifier, except that the semantic stage fails on one message."""

        def classify_many(self, items, semantic=None):
            if semantic and any(item.body == poison for item in items):
                raise RuntimeError("the embedder cannot take this message")
            return classifier.classify_many(items, semantic=semantic)

    done = refine_all(sessions, desks, ChokesOnOne())
    assert pending_count(sessions) == 0  # nothing left to retry forever
    with sessions() as session:
        failed = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "refinement_failed")
        ).all()
    assert len(failed) == 1 and "cannot take" in failed[0].details["error"]
    assert len(done) == waiting - 1
