"""The serving arrays predict what the skops model predicts, without scikit-learn."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from triage_desk.classifier import serving
from triage_desk.classifier.data import load_examples
from triage_desk.classifier.embedding import DIMENSIONS, MessageEmbeddings
from triage_desk.classifier.predict import Classifier, ClassifierInput
from triage_desk.classifier.store import ModelStore
from triage_desk.classifier.text import model_text

ROOT = Path(__file__).resolve().parent.parent


def _random_sentences(rng: np.random.Generator, messages: int) -> MessageEmbeddings:
    """One to four random sentence vectors per message."""
    counts = rng.integers(1, 5, size=messages)
    vectors = rng.normal(size=(int(counts.sum()), DIMENSIONS)).astype(np.float32)
    return MessageEmbeddings(vectors, np.concatenate([[0], np.cumsum(counts)]))


@pytest.fixture(scope="module")
def saved(classifier, tmp_path_factory) -> tuple[ModelStore, str]:
    store = ModelStore(tmp_path_factory.mktemp("models"))
    version = store.save(classifier.model, classifier.meta)
    return store, version


def test_serving_arrays_give_the_same_probabilities(saved):
    store, version = saved
    full, meta = store.load(version)
    served, served_meta = store.load_for_serving(version)
    assert served_meta == meta
    assert type(served.category_head).__name__ == "LinearHead"
    assert served.categories == full.categories
    assert served.feedback_types == full.feedback_types
    assert served.settings == full.settings
    texts = [e.body for e in load_examples()[:300]]
    pairs = [(full.fast_raw(texts), served.fast_raw(texts))]
    if full.has_semantic_stage:
        embeddings = _random_sentences(np.random.default_rng(1), 7)
        pairs.append((full.semantic_raw(embeddings), served.semantic_raw(embeddings)))
    for ours, theirs in pairs:
        for x, y in zip(ours, theirs, strict=True):
            np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-6)
    items = [ClassifierInput("", t, {"application", "suspension", "feedback"}) for t in texts]
    one = Classifier(full, meta).classify_many(items, semantic=False)
    two = Classifier(served, meta).classify_many(items, semantic=False)
    assert one == two


def test_serving_arrays_give_the_same_auto_accept_confidence(saved):
    store, version = saved
    full, _ = store.load(version)
    served, _ = store.load_for_serving(version)
    assert full.acceptance is not None and served.acceptance is not None
    assert served.acceptance.features == full.acceptance.features
    examples = load_examples()[:200]
    texts = [model_text(e.subject, e.body) for e in examples]
    allowed = [
        {"application", "suspension", "feedback"} if e.desk == "eparaksts" else None
        for e in examples
    ]
    embedded = _random_sentences(np.random.default_rng(2), len(texts))
    index = {t: i for i, t in enumerate(texts)}

    def embed(rows: list[str]) -> MessageEmbeddings:  # stands in for the e5 embedder
        return embedded.subset([index[r] for r in rows])

    confidences = []
    for model in (full, served):
        probabilities = model.probabilities(texts, allowed, texts, embed)
        confidences.append(model.confidence(probabilities, *model.decide(probabilities)))
    if full.has_semantic_stage:
        assert probabilities.semantic.any()
    np.testing.assert_allclose(confidences[0], confidences[1], rtol=1e-5, atol=1e-7)
    assert ((confidences[1] >= 0) & (confidences[1] <= 1)).all()


def test_a_version_without_serving_arrays_still_loads(saved):
    store, version = saved
    folder = store.root / version
    for name in (serving.SERVING_ARRAYS, serving.SERVING_META):
        (folder / name).rename(folder / f"{name}.away")
    try:
        model, _ = store.load_for_serving(version)
        assert type(model.category_head).__name__ == "LogisticRegression"
    finally:
        for name in (serving.SERVING_ARRAYS, serving.SERVING_META):
            (folder / f"{name}.away").rename(folder / name)


def test_serving_does_not_import_scikit_learn_or_scipy(saved):
    store, _version = saved
    code = (
        "import sys, json\n"
        "from pathlib import Path\n"
        "from triage_desk.app import load_classifier\n"
        "from triage_desk.classifier.predict import ClassifierInput\n"
        f"c = load_classifier(Path({str(store.root)!r}), train_if_missing=False)\n"
        "p = c.classify_many([ClassifierInput('', 'Sistēma nestrādā', None)], semantic=False)\n"
        "print(json.dumps({'sklearn': 'sklearn' in sys.modules, 'skops': 'skops' in "
        "sys.modules, 'scipy': 'scipy' in sys.modules, 'category': p[0].category}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["category"]
    assert not report["sklearn"] and not report["skops"], report
    assert not report["scipy"], report  # the fast stage's product is plain NumPy
