"""The classifier: real training, dev-split figures, safe versioned files, per-desk labels."""

from __future__ import annotations

import json
from fractions import Fraction

import numpy as np
import pytest

from triage_desk.classifier.data import DATA_DIR, load_examples
from triage_desk.classifier.language import detect_language, detect_languages
from triage_desk.classifier.predict import Classifier, ClassifierInput
from triage_desk.classifier.store import ModelNotFound, ModelStore
from triage_desk.classifier.text import fold_diacritics, model_text
from triage_desk.classifier.training import choose_threshold, train

MUNICIPAL = {
    "emergency",
    "serious_error",
    "error",
    "inaccuracy",
    "data_processing",
    "consultation",
    "feedback",
}
EPARAKSTS = {"application", "suspension", "feedback"}


def test_bundled_data_is_well_formed_and_has_a_held_out_split():
    examples = load_examples()
    assert len({e.id for e in examples}) == len(examples)
    assert {e.split for e in examples} == {"train", "dev"}
    by_desk: dict[str, set[str]] = {}
    for example in examples:
        by_desk.setdefault(example.desk, set()).add(example.category)
        assert example.language in {"lv", "en", "ru"}
    assert by_desk == {"municipal": MUNICIPAL, "eparaksts": EPARAKSTS}


def test_predictions_stay_inside_the_desk(classifier: Classifier):
    text = "Lūdzu apturiet manu sertifikātu, pazaudēju eID karti"
    municipal = classifier.classify(ClassifierInput("", text, allowed_categories=MUNICIPAL))
    eparaksts = classifier.classify(ClassifierInput("", text, allowed_categories=EPARAKSTS))
    assert municipal.category in MUNICIPAL
    assert eparaksts.category in EPARAKSTS


@pytest.fixture(scope="module")
def dev_predictions(classifier: Classifier):
    """The dev split and the whole classifier's predictions for it, made once per module
    (they take a while: every message through the semantic stage)."""
    return _dev_predictions(classifier)


def _dev_predictions(classifier: Classifier):
    dev = [e for e in load_examples() if e.split == "dev"]
    return dev, classifier.classify_many(
        [
            ClassifierInput(
                e.subject,
                e.body,
                allowed_categories=MUNICIPAL if e.desk == "municipal" else EPARAKSTS,
            )
            for e in dev
        ]
    )


def test_the_model_learned_something_real(dev_predictions):
    dev, predictions = dev_predictions
    right = sum(p.category == e.category for p, e in zip(predictions, dev, strict=True))
    assert right / len(dev) > 0.8  # ~1/7 is guessing


def test_dev_split_figures_hold(classifier: Classifier, dev_predictions):
    """What the model reaches on the held-out dev split, through the whole classifier.

    Issue 4 asks for macro-F1 ≥ 0.90 per head and ≥ 60 % auto-accept coverage. This model
    reaches category ≈ 0.93, feedback type ≈ 0.89 and 97 % precision at ≈ 60 % coverage;
    the bounds below sit under that (new training data moves each figure a little), so a
    change that makes triage worse fails.
    """
    meta = classifier.meta
    assert meta["category_macro_f1"] >= 0.88
    assert meta["feedback_macro_f1"] >= 0.85
    assert meta["auto_accept_precision"] >= 0.97
    assert meta["auto_accept_coverage"] >= 0.45
    for language in ("en", "lv", "ru"):
        row = meta["by_language"][language]
        assert row["category_macro_f1"] >= 0.8, language
        assert row["feedback_macro_f1"] >= 0.78, language
    # The same figures come out of predicting the dev split again, message by message.
    dev, predictions = dev_predictions
    both = [
        p.category == e.category and p.feedback_type == e.feedback_type
        for p, e in zip(predictions, dev, strict=True)
    ]
    accepted = [ok for ok, p in zip(both, predictions, strict=True) if p.auto_accept]
    assert len(accepted) / len(dev) == pytest.approx(meta["auto_accept_coverage"], abs=0.01)
    assert sum(accepted) / len(accepted) >= 0.97


def test_no_suspension_is_missed_on_dev_in_any_language(classifier: Classifier, dev_predictions):
    dev, predictions = dev_predictions
    for language in ("en", "lv", "ru"):
        pairs = [
            (p, e)
            for p, e in zip(predictions, dev, strict=True)
            if e.category == "suspension" and e.language == language
        ]
        assert len(pairs) >= 3, language
        found = sum(p.category == "suspension" for p, _ in pairs)
        assert found / len(pairs) >= 0.98, (
            language,
            [e.id for p, e in pairs if p.category != "suspension"],
        )
        assert classifier.meta["by_language"][language]["suspension_recall"] >= 0.98


@pytest.mark.parametrize(
    "text",
    [
        "Pazaudēju telefonu, lūdzu bloķējiet manu eParaksts mobile",
        "у меня украли сумку с ID картой, заблокируйте сертификат",
        "my phone got stolen this morning, eparaksts app is on it!!",
        "atceliet lūdzu manu sertifikātu, kāds zina manu PIN",
    ],
)
def test_suspension_requests_are_found_in_each_language(classifier: Classifier, text):
    prediction = classifier.classify(ClassifierInput("", text, allowed_categories=EPARAKSTS))
    assert prediction.category == "suspension"


def test_fast_path_and_cascade(classifier: Classifier):
    items = [
        ClassifierInput(
            "", "how do i export the invoice list to excel?", allowed_categories=MUNICIPAL
        ),
        ClassifierInput(
            "Sistēma", "Neviens nevar ielogoties, visiem kļūda 500", allowed_categories=MUNICIPAL
        ),
    ]
    fast = classifier.classify_many(items, semantic=False)
    assert {p.stage for p in fast} == {"fast"}
    full = classifier.classify_many(items)
    assert [p.category for p in full] == ["consultation", "emergency"]
    for prediction in full:
        assert 0 <= prediction.confidence <= 1
        assert prediction.auto_accept == (prediction.confidence >= classifier.threshold)


def test_the_confidence_is_the_acceptance_models_probability(
    classifier: Classifier, dev_predictions
):
    model = classifier.model
    assert model.acceptance is not None
    dev, predictions = dev_predictions
    texts = [model_text(e.subject, e.body) for e in dev]
    allowed = [MUNICIPAL if e.desk == "municipal" else EPARAKSTS for e in dev]
    probabilities = model.probabilities(texts, allowed)  # the fast stage alone
    category, feedback = model.decide(probabilities)
    fast = model.confidence(probabilities, category, feedback)
    served = classifier.classify_many(
        [ClassifierInput(e.subject, e.body, a) for e, a in zip(dev, allowed, strict=True)],
        semantic=False,
    )
    assert [p.confidence for p in served] == [round(float(c), 4) for c in fast]
    # It ranks: the suggestions it is surest of are right more often than the rest.
    both = np.array(
        [
            p.category == e.category and p.feedback_type == e.feedback_type
            for p, e in zip(predictions, dev, strict=True)
        ]
    )
    confidence = np.array([p.confidence for p in predictions])
    surest = confidence >= np.median(confidence)
    assert both[surest].mean() > both[~surest].mean() + 0.1


def test_versions_are_saved_safely_and_reload_identically(tmp_path, classifier):
    store = ModelStore(tmp_path)
    with pytest.raises(ModelNotFound, match="triage train"):
        store.load()
    version = store.save(classifier.model, {"data_hash": "abc12345", "note": "test"})
    assert store.active_version() == version
    model, meta = store.load()
    assert meta["note"] == "test" and meta["version"] == version
    texts = [model_text("", "nevaru ielogoties sistema"), model_text("Вопрос", "как?")]
    assert model.predict(texts)[0].labels == classifier.model.predict(texts)[0].labels
    assert meta["format"] == classifier.model.format
    second = store.save(classifier.model, {"data_hash": "abc12345"}, activate=False)
    assert [v.version for v in store.list()] == sorted([version, second])
    assert store.active_version() == version
    store.activate(second)
    assert store.active_version() == second
    assert store.unusable_reason(second) is None
    assert "no model.skops" in store.unusable_reason("20260101-000000-missing")
    with pytest.raises(ModelNotFound, match="known versions"):
        store.activate("nope")


def test_a_model_file_with_foreign_types_is_refused(tmp_path, classifier):
    store = ModelStore(tmp_path)
    version = store.save(classifier.model, {"data_hash": "x"})
    import skops.io as sio

    # A type outside sklearn/numpy/scipy/ours: loading must refuse, not construct it.
    sio.dump(
        {"model": classifier.model, "foreign": Fraction(1, 2)}, tmp_path / version / "model.skops"
    )
    with pytest.raises(ModelNotFound, match="do not load"):
        store.load()


def test_a_model_of_an_older_format_is_refused_with_advice(tmp_path, classifier):
    store = ModelStore(tmp_path)
    version = store.save(classifier.model, {"data_hash": "x"})
    meta_path = tmp_path / version / "meta.json"
    meta = json.loads(meta_path.read_text())
    meta["format"] = None  # the first model's files had no format
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(ModelNotFound, match="triage train"):
        store.load()
    # `triage train --if-missing` (make run) reads this as "no usable model" and trains.
    assert "was saved in format None" in store.unusable_reason(version)
    # Nor can it be made the active version (the service would retrain at its next start).
    second = store.save(classifier.model, {"data_hash": "x"})
    with pytest.raises(ModelNotFound, match=f"{version} was saved in format None"):
        store.activate(version)
    assert store.active_version() == second


def test_model_files_are_small(tmp_path, classifier):
    store = ModelStore(tmp_path)
    version = store.save(classifier.model, {"data_hash": "x"})
    assert store.files_size(version) < 20_000_000


def test_threshold_reaches_target_precision():
    confidences = [0.99, 0.95, 0.9, 0.8, 0.7, 0.6]
    correct = [True, True, True, False, True, False]
    threshold, precision, coverage = choose_threshold(confidences, correct, target=0.97)
    assert (threshold, precision, coverage) == (0.9, 1.0, 0.5)
    assert choose_threshold([0.5], [False])[2] == 0.0  # nothing reaches it: accept nothing


def test_training_records_its_data_and_figures(classifier: Classifier):
    meta = classifier.meta
    examples = load_examples()
    assert meta["train_size"] + meta["dev_size"] == len(examples)
    assert meta["dev_size"] == sum(e.split == "dev" for e in examples)
    assert len(meta["data_hash"]) == 64
    assert 0 < meta["category_macro_f1"] <= 1
    assert meta["embedder"] and meta["training_seconds"] > 0
    settings = meta["settings"]
    assert 0 < settings["suspension_threshold"] <= 0.5
    assert set(settings["blends"]) == {"category", "feedback"}
    assert all(0 < w < 1 for w in settings["blends"].values())
    cv = meta["cross_validation"]
    assert cv["folds"] == 5 and cv["size"] == meta["train_size"]
    # Out of fold (nested), the acceptance model ranks suggestions at least as well as the
    # simpler rules: fewer errors among those it is surest of (measured: 0.037 against 0.039
    # for the product of the confidences and 0.040 for the lower one). Coverage at exactly
    # 97 % is too jumpy to compare (see training._choose_acceptance); it is only recorded.
    errors = cv["auto_accept_rules_error"]
    assert errors["acceptance_model"] <= errors["lower_confidence"] + 0.002
    assert errors["acceptance_model"] <= errors["product"] + 0.002
    assert cv["auto_accept"]["coverage"] == cv["auto_accept_rules"]["acceptance_model"]
    # The cascade was chosen to cost the always-semantic blend almost nothing out of fold.
    assert cv["cascade"]["both_right"] >= cv["always_semantic"]["both_right"] - 0.03
    assert cv["cascade"]["semantic_share"] < 0.8
    json.dumps(meta)  # metadata is plain JSON


def test_fast_only_training_is_quick_and_still_works():
    examples = [e for e in load_examples() if e.language == "ru"]
    model, meta = train(examples, semantic=False)
    assert not model.has_semantic_stage and meta["embedder"] is None
    prediction = Classifier(model, meta).classify(
        ClassifierInput(
            "", "вся система не работает, никто не может войти", allowed_categories=MUNICIPAL
        )
    )
    assert prediction.stage == "fast" and prediction.category in MUNICIPAL


@pytest.mark.parametrize(
    "text, language",
    [
        ("Labdien! Sistēmā nevar izveidot atskaiti.", "lv"),
        ("nevaru ielogoties sistema, visiem lietotajiem kluda", "lv"),
        ("Hello, the export to Excel fails since Friday.", "en"),
        ("Здравствуйте, не могу войти в систему", "ru"),
        ("ok", "lv"),  # too short to tell: the desk's default
        ("Please block my certificate, I lost the card with the PIN codes in it", "en"),
        ("Lūdzu, apturiet sertifikātu – pazaudēju karti", "lv"),
        ("the label 'Pievienot rēķinu' has a typo on the invoice screen of the module", "en"),
        ("nevaru parakstit dokumentu, ludzu palidziet", "lv"),
    ],
)
def test_language_detection(text, language):
    assert detect_language(text, default="lv") == language


def test_language_detection_in_batches_matches_one_by_one():
    texts = [e.body for e in load_examples()[::40]]
    batch = detect_languages(texts, ["lv"] * len(texts))
    assert batch == [detect_language(t, "lv") for t in texts]


def test_text_preparation_folds_what_varies():
    assert fold_diacritics("kļūda Ā") == "kluda A"
    assert model_text("Re: 123", "Skat. https://x.lv un a.b@c.lv") == (
        "re: 0 skat. urltoken un emailtoken"
    )
    assert DATA_DIR.exists()
