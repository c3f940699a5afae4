"""Learning from staff decisions, activating only better versions, `triage eval`, features."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from click.testing import CliRunner

from tests.conftest import EXAMPLE_CONFIG
from triage_desk.classifier.acceptance import (
    acceptance_features,
    feature_names,
    fit_acceptance,
)
from triage_desk.classifier.data import Example, load_examples
from triage_desk.classifier.decisions import decision_examples
from triage_desk.classifier.features import TextFeatures
from triage_desk.classifier.model import HeadResult, Probabilities, TriageModel
from triage_desk.classifier.predict import Classifier
from triage_desk.classifier.store import ModelStore
from triage_desk.classifier.text import model_text
from triage_desk.classifier.training import augmented, choose_threshold, evaluate
from triage_desk.classifier.versions import not_worse, train_version
from triage_desk.storage.db import make_engine, make_session_factory
from triage_desk.storage.models import Decision, Direction, Message, Requester, Ticket

UTC = dt.UTC
NOW = dt.datetime(2026, 11, 30, 8, 0, tzinfo=UTC)


def _ticket(
    session,
    number: str,
    subject: str,
    body: str,
    category: str,
    feedback: str = "none",
    desk: str = "municipal",
) -> Ticket:
    requester = Requester(display_name="Ilze")
    session.add(requester)
    session.flush()
    ticket = Ticket(
        number=number,
        desk=desk,
        requester_id=requester.id,
        channel="email",
        subject=subject,
        language="lv",
        category=category,
        feedback_type=feedback,
        received_at=NOW,
        clock_start=NOW,
    )
    session.add(ticket)
    session.flush()
    session.add(
        Message(
            ticket_id=ticket.id,
            direction=Direction.INBOUND.value,
            channel="email",
            external_id=f"<{number}@example.lv>",
            sender="ilze@example.lv",
            subject=subject,
            text=body + "\n\nAr cieņu,\nIlze",
            new_text=body,
            language="lv",
            received_at=NOW,
        )
    )
    session.add(
        Message(
            ticket_id=ticket.id,
            direction=Direction.OUTBOUND.value,
            channel="email",
            external_id=f"<ack-{number}@example.lv>",
            sender="atbalsts@example.lv",
            subject="Re: " + subject,
            text="Paldies, saņēmām.",
            new_text="Paldies, saņēmām.",
            received_at=NOW,
        )
    )
    return ticket


def test_staff_decisions_become_labelled_examples(sqlite_url):
    sessions = make_session_factory(make_engine(sqlite_url))
    with sessions.begin() as session:
        changed = _ticket(
            session, "MUN-2026-000001", "Atskaite", "Atskaite neveidojas, cita ceļa nav.", "error"
        )
        session.add(
            Decision(
                ticket_id=changed.id,
                field="category",
                from_value="error",
                to_value="serious_error",
                staff="anna",
                reason="no workaround",
            )
        )
        confirmed = _ticket(
            session, "MUN-2026-000002", "", "Paldies par ātro palīdzību!", "feedback", "praise"
        )
        session.add(
            Decision(
                ticket_id=confirmed.id,
                field="category",
                from_value="feedback",
                to_value="feedback",
                staff="anna",
            )
        )
        twice = _ticket(
            session, "MUN-2026-000003", "", "Kā izveidot rēķinu? Sistēma lēna.", "consultation"
        )
        session.add(
            Decision(
                ticket_id=twice.id,
                field="feedback_type",
                from_value="none",
                to_value="suggestion",
                staff="anna",
            )
        )
        session.add(
            Decision(
                ticket_id=twice.id,
                field="feedback_type",
                from_value="suggestion",
                to_value="complaint_service",
                staff="janis",
                reason="it is a complaint",
            )
        )
        unknown = _ticket(session, "MUN-2026-000004", "", "?", "consultation")
        session.add(
            Decision(
                ticket_id=unknown.id,
                field="category",
                from_value="consultation",
                to_value="brand_new_category",
                staff="anna",
            )
        )
        _ticket(session, "MUN-2026-000005", "", "Nobody decided on this one", "error")

    examples, skipped = decision_examples(
        sqlite_url,
        {e.category for e in load_examples()},
        {e.feedback_type for e in load_examples()},
    )
    assert skipped == 1  # the label the model does not know
    by_body = {e.body: e for e in examples}
    assert set(by_body) == {
        "Atskaite neveidojas, cita ceļa nav.",
        "Paldies par ātro palīdzību!",
        "Kā izveidot rēķinu? Sistēma lēna.",
    }
    changed_example = by_body["Atskaite neveidojas, cita ceļa nav."]
    assert (changed_example.category, changed_example.feedback_type) == ("serious_error", "none")
    assert changed_example.subject == "Atskaite" and changed_example.split == "train"
    assert by_body["Paldies par ātro palīdzību!"].feedback_type == "praise"
    assert by_body["Kā izveidot rēķinu? Sistēma lēna."].feedback_type == "complaint_service"


def _small_corpus() -> list[Example]:
    # Fast-path training on Russian and Latvian examples keeps this test to a few seconds.
    return [e for e in load_examples() if e.language in ("ru", "lv")]


def test_decisions_flow_into_training_and_a_worse_version_stays_inactive(tmp_path):
    store = ModelStore(tmp_path)
    corpus = _small_corpus()
    first = train_version(store, corpus, semantic=False)
    assert first.activated and store.active_version() == first.version

    decisions = [
        Example(
            f"decision-{n}",
            "municipal",
            "lv",
            "email",
            "Rēķini",
            f"Rēķinu imports nestrādā ({n}), cita ceļa nav, ludzu steidzami",
            "serious_error",
            "none",
            "train",
        )
        for n in range(5)
    ]
    second = train_version(store, corpus, decisions, compare=True, semantic=False)
    assert second.meta["extra_examples"] == 5
    assert second.meta["train_size"] == first.meta["train_size"] + 5
    assert second.previous is not None and second.previous["version"] == first.version
    assert second.meta["compared_with"]["category_macro_f1"] == second.previous["category_macro_f1"]
    assert second.activated == not_worse(second.meta, second.previous)

    # Decisions that teach nonsense make a worse model: it is saved but not activated.
    active = store.active_version()
    wrong = [
        Example(
            f"wrong-{e.id}",
            e.desk,
            e.language,
            e.channel,
            e.subject,
            e.body,
            "feedback",
            "praise",
            "train",
        )
        for e in corpus
        if e.split == "dev"
    ]
    third = train_version(store, corpus, wrong, compare=True, semantic=False)
    assert not third.activated
    assert store.active_version() == active
    assert third.version in [v.version for v in store.list()]


def test_not_worse_compares_each_head_and_suspension_recall():
    old = {"category_macro_f1": 0.9, "feedback_macro_f1": 0.8, "suspension_recall": 1.0}
    assert not_worse(dict(old), old)
    assert not_worse({**old, "category_macro_f1": 0.899}, old)  # float noise
    assert not not_worse({**old, "feedback_macro_f1": 0.79}, old)
    assert not not_worse({**old, "suspension_recall": 0.95}, old)


def test_augmentation_puts_feedback_inside_requests_of_the_same_desk():
    examples = [e for e in load_examples() if e.split == "train"]
    made = augmented(examples, share=0.3)
    assert (
        0.2
        < len(made) / sum(e.category != "feedback" and e.feedback_type == "none" for e in examples)
        < 0.4
    )
    originals = {e.id: e for e in examples}
    for example in made:
        source = originals[example.id.removesuffix("+aug")]
        assert example.category == source.category != "feedback"
        assert example.feedback_type != "none" and example.desk == source.desk
        assert source.body in example.body and example.split == "train"
    assert not any(e.split == "dev" for e in made)


def test_eval_prints_figures_per_head_and_language_and_writes_a_png(
    tmp_path, classifier: Classifier, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TRIAGE_DATABASE_URL", raising=False)
    store = ModelStore(tmp_path / "var" / "models")
    version = store.save(classifier.model, dict(classifier.meta))
    from triage_desk.cli import main

    result = CliRunner().invoke(
        main, ["--config", str(EXAMPLE_CONFIG), "eval"], env={"COLUMNS": "200"}
    )
    assert result.exit_code == 0, result.output
    text = result.output
    assert f"model {version}" in text
    for needle in (
        "Category — all languages",
        "Feedback type — all languages",
        "Category — lv",
        "Feedback type — ru",
        "Per language",
        "suspension",
        "complaint_customer_service",
        "confusion matrix",
        "precision",
        "recall",
    ):
        assert needle in text, needle
    assert "auto-accept: threshold" in text and "coverage" in text
    png = tmp_path / "var" / "models" / version / "confusion.png"
    assert png.exists() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # The figures are the ones the version was saved with.
    assert f"{classifier.meta['category_macro_f1']:.4f}" in text


def test_model_list_shows_versions(tmp_path, classifier: Classifier, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ModelStore(tmp_path / "var" / "models").save(classifier.model, dict(classifier.meta))
    from triage_desk.cli import main

    result = CliRunner().invoke(main, ["--config", str(EXAMPLE_CONFIG), "model", "list"])
    assert result.exit_code == 0, result.output
    assert str(classifier.meta["category_macro_f1"]) in result.output


def test_features_match_scikit_learn_tfidf():
    """Our vectorised n-grams are scikit-learn's word + char_wb TF-IDF, block by block."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    texts = [model_text(e.subject, e.body) for e in load_examples()[:60]]
    ours = TextFeatures().fit(texts)
    words = TfidfVectorizer(analyzer="word", ngram_range=(1, 2), sublinear_tf=True).fit(texts)
    chars = TfidfVectorizer(
        analyzer="char_wb", ngram_range=(2, 5), min_df=2, sublinear_tf=True
    ).fit(texts)
    expected = len(words.vocabulary_) + len(chars.vocabulary_)
    # A handful of rare terms may lose their lookup slot to a more frequent one.
    assert expected * 0.995 <= ours.n_features <= expected
    matrix = ours.transform(texts[:5]).toarray()
    reference = np.hstack(
        [words.transform(texts[:5]).toarray(), chars.transform(texts[:5]).toarray()]
    )
    for row, ref in zip(matrix, reference, strict=True):
        # Same terms (scikit-learn counts a word shorter than n once more per n: tiny
        # differences in weight, none in which terms are there).
        assert abs(np.count_nonzero(row) - np.count_nonzero(ref)) <= 0.01 * np.count_nonzero(ref)
        assert np.sum(row * row) == pytest.approx(2.0)  # two blocks, each of unit length
        assert row.max() == pytest.approx(ref.max(), rel=0.1)
    assert ours.transform([""]).nnz == 0


def test_a_batch_and_single_messages_get_the_same_answers(classifier: Classifier):
    from triage_desk.classifier.predict import ClassifierInput

    items = [
        ClassifierInput(
            e.subject,
            e.body,
            allowed_categories={"application", "suspension", "feedback"}
            if e.desk == "eparaksts"
            else None,
        )
        for e in load_examples()[::97]
    ]
    batch = classifier.classify_many(items)
    single = [classifier.classify(item) for item in items]
    assert [(p.category, p.feedback_type, p.stage) for p in batch] == [
        (p.category, p.feedback_type, p.stage) for p in single
    ]


def test_the_auto_accept_threshold_is_never_below_the_out_of_fold_one(classifier: Classifier):
    # choose_threshold: the lowest cut between distinct confidences with 97 % precision.
    confidences = [0.99] * 40 + [0.9, 0.8] + [0.7] * 10
    correct = [True] * 40 + [False, True] + [True] * 10
    assert choose_threshold(confidences, correct) == (0.7, 51 / 52, 1.0)
    assert choose_threshold([0.9, 0.8], [False, False])[0] > 1  # nothing reaches it

    dev = [e for e in load_examples() if e.split == "dev"][:60]
    own = evaluate(classifier.model, dev)
    floored = evaluate(classifier.model, dev, at_least=own.auto_accept_threshold + 0.01)
    assert floored.auto_accept_threshold == pytest.approx(own.auto_accept_threshold + 0.01)
    assert floored.details["own_threshold"] == own.auto_accept_threshold
    assert floored.auto_accept_coverage <= own.auto_accept_coverage


def test_the_acceptance_model_is_a_calibrated_logistic_regression():
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(0)
    matrix = np.column_stack(
        [rng.normal(size=2000), rng.normal(5, 3, size=2000), np.ones(2000)]
    )  # a constant column, as a desk's categories
    correct = rng.random(2000) < 1 / (1 + np.exp(-2 * matrix[:, 0]))
    model = fit_acceptance(matrix, correct, ["x", "noise", "constant"], c=0.1)
    reference = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=5000))
    expected = reference.fit(matrix, correct).predict_proba(matrix)[:, 1]
    np.testing.assert_allclose(model.score(matrix), expected, rtol=1e-6, atol=1e-9)
    assert model.score(matrix).mean() == pytest.approx(correct.mean(), abs=0.01)
    assert model.coef[0] > 1 and abs(model.coef[1]) < 0.1
    everything_right = fit_acceptance(matrix, np.ones(2000, dtype=bool), ["x", "n", "c"])
    assert (everything_right.score(matrix) > 0.99).all()


def test_acceptance_features_and_the_fallback_confidence():
    categories, feedback_types = ["application", "feedback", "suspension"], ["none", "praise"]
    category = np.array([[0.9, 0.05, 0.05], [0.2, 0.3, 0.5]])
    feedback = np.array([[0.99, 0.01], [0.4, 0.6]])
    allowed = np.array([[True, True, True], [True, True, False]])
    matrix = acceptance_features(
        category,
        feedback,
        np.array([False, True]),
        allowed,
        ["application", "suspension"],
        [0.9, 0.5],
        ["none", "praise"],
        [0.99, 0.6],
        categories,
        feedback_types,
    )
    names = feature_names(categories, feedback_types)
    assert matrix.shape == (2, len(names))
    column = dict(zip(names, matrix.T, strict=True))
    np.testing.assert_allclose(column["log_product"], np.log([0.9 * 0.99, 0.5 * 0.6]))
    np.testing.assert_allclose(column["margin_category"], [0.85, 0.2])
    assert column["semantic"].tolist() == [0, 1]
    assert column["predicted_category=suspension"].tolist() == [0, 1]
    assert column["predicted_feedback=praise"].tolist() == [0, 1]
    assert column["desk_allows=suspension"].tolist() == [1, 0]
    # A model without an acceptance model (as before training chose one): the product.
    model = TriageModel()
    probabilities = Probabilities(category, feedback, np.array([False, True]))
    heads = (
        HeadResult(["application", "suspension"], [0.9, 0.5]),
        HeadResult(["none", "praise"], [0.99, 0.6]),
    )
    np.testing.assert_allclose(model.confidence(probabilities, *heads), [0.891, 0.3])


def test_feature_rows_multiply_as_scipy_does():
    """Serving multiplies the features by the heads' coefficients without SciPy."""
    texts = ["Sistēma nestrādā, lūdzu palīdzēt", "", "Не работает вход в систему", "ok"] * 70
    features = TextFeatures(min_df_words=1).fit(texts[:4])
    rows = features.transform(texts)
    rng = np.random.default_rng(0)
    coef = rng.standard_normal((3, features.n_features)).astype(np.float32)
    expected = np.asarray(rows.to_scipy() @ coef.T)
    np.testing.assert_allclose(rows @ coef.T, expected, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(rows @ np.ascontiguousarray(coef.T), expected, rtol=1e-6, atol=1e-9)
    assert (rows @ coef.T)[1].tolist() == [0.0, 0.0, 0.0]  # the empty text


def test_a_large_batch_multiplies_as_a_small_one():
    """From ``_SCIPY_ROWS`` rows the product goes through SciPy; the figures must not change."""
    from triage_desk.classifier.features import _SCIPY_ROWS

    texts = ["Sistēma nestrādā, lūdzu palīdzēt", "", "Не работает вход в систему", "ok"]
    features = TextFeatures(min_df_words=1).fit(texts)
    coef = np.random.default_rng(1).standard_normal((5, features.n_features)).astype(np.float32)
    small = features.transform(texts) @ coef.T
    repeats = _SCIPY_ROWS // len(texts) + 1
    large = features.transform(texts * repeats) @ coef.T
    assert large.shape == (len(texts) * repeats, 5)
    np.testing.assert_allclose(large, np.tile(small, (repeats, 1)), rtol=1e-6, atol=1e-9)
