"""The first model: real training, safe versioned files, per-desk labels."""

from __future__ import annotations

import json
from fractions import Fraction

import pytest

from triage_desk.classifier.data import DATA_DIR, load_examples
from triage_desk.classifier.language import detect_language
from triage_desk.classifier.predict import Classifier, ClassifierInput
from triage_desk.classifier.store import ModelNotFound, ModelStore
from triage_desk.classifier.text import fold_diacritics, model_text
from triage_desk.classifier.training import choose_threshold, train

MUNICIPAL = {"emergency", "serious_error", "error", "inaccuracy", "data_processing",
             "consultation", "feedback"}
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


def test_the_model_learned_something_real(classifier: Classifier):
    dev = [e for e in load_examples() if e.split == "dev"]
    predictions = classifier.classify_many([
        ClassifierInput(e.subject, e.body,
                        allowed_categories=MUNICIPAL if e.desk == "municipal" else EPARAKSTS)
        for e in dev])
    right = sum(p.category == e.category for p, e in zip(predictions, dev, strict=True))
    # Far above the ~1/7 of guessing; the classifier issue raises the bar to macro-F1 0.90.
    assert right / len(dev) > 0.6


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
    second = store.save(classifier.model, {"data_hash": "abc12345"}, activate=False)
    assert [v.version for v in store.list()] == sorted([version, second])
    assert store.active_version() == version
    store.activate(second)
    assert store.active_version() == second
    with pytest.raises(ModelNotFound, match="known versions"):
        store.activate("nope")


def test_a_model_file_with_foreign_types_is_refused(tmp_path, classifier):
    store = ModelStore(tmp_path)
    version = store.save(classifier.model, {"data_hash": "x"})
    import skops.io as sio

    # A type outside sklearn/numpy/scipy/ours: loading must refuse, not construct it.
    sio.dump({"model": classifier.model, "foreign": Fraction(1, 2)},
             tmp_path / version / "model.skops")
    with pytest.raises(ModelNotFound, match="do not load"):
        store.load()


def test_threshold_reaches_target_precision():
    confidences = [0.99, 0.95, 0.9, 0.8, 0.7, 0.6]
    correct = [True, True, True, False, True, False]
    threshold, precision, coverage = choose_threshold(confidences, correct, target=0.97)
    assert (threshold, precision, coverage) == (0.9, 1.0, 0.5)
    assert choose_threshold([0.5], [False])[2] == 0.0  # nothing reaches it: accept nothing


def test_training_records_its_data_and_figures():
    examples = load_examples()
    _model, meta = train(examples)
    assert meta["train_size"] + meta["dev_size"] == len(examples)
    assert len(meta["data_hash"]) == 64
    assert 0 < meta["category_macro_f1"] <= 1
    json.dumps(meta)  # metadata is plain JSON


@pytest.mark.parametrize("text, language", [
    ("Labdien! Sistēmā nevar izveidot atskaiti.", "lv"),
    ("nevaru ielogoties sistema, visiem lietotajiem kluda", "lv"),
    ("Hello, the export to Excel fails since Friday.", "en"),
    ("Здравствуйте, не могу войти в систему", "ru"),
    ("ok", "lv"),  # too short to tell: the desk's default
])
def test_language_detection(text, language):
    assert detect_language(text, default="lv") == language


def test_text_preparation_folds_what_varies():
    assert fold_diacritics("kļūda Ā") == "kluda A"
    assert model_text("Re: 123", "Skat. https://x.lv un a.b@c.lv") == (
        "re: 0 skat. urltoken un emailtoken")
    assert DATA_DIR.exists()
