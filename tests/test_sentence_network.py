"""The attention network over sentences (classifier/sentence_network.py)."""

from __future__ import annotations

import numpy as np

from triage_desk.classifier.embedding import MessageEmbeddings
from triage_desk.classifier.sentence_network import (
    _loss_and_gradients,
    _Params,
    fit_sentence_network,
)


def _bags(rng: np.random.Generator, messages: int, keys: np.ndarray):
    """Messages of 2–6 noise sentences; a message of class k < len(keys) holds one sentence
    near key k somewhere among them, a 'none' message holds none."""
    vectors, counts, labels = [], [], []
    for _ in range(messages):
        count = int(rng.integers(2, 7))
        sentences = rng.normal(0, 1, (count, keys.shape[1]))
        label = int(rng.integers(len(keys) + 1))
        if label < len(keys):
            sentences[rng.integers(count)] = keys[label] * 4 + rng.normal(0, 0.5, keys.shape[1])
        vectors.append(sentences)
        counts.append(count)
        labels.append(f"type{label}" if label < len(keys) else "none")
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    return MessageEmbeddings(np.vstack(vectors).astype(np.float32), offsets), np.array(labels)


def test_gradients_match_finite_differences():
    rng = np.random.default_rng(0)
    params = _Params(
        rng.normal(0, 0.5, (6, 4)),
        rng.normal(0, 0.1, 4),
        rng.normal(0, 0.5, 4),
        rng.normal(0, 0.5, (8, 3)),
        rng.normal(0, 0.1, 3),
    )
    inputs = rng.normal(0, 1, (9, 6))
    starts = np.array([0, 2, 5, 6])  # four messages of 2, 3, 1 and 3 sentences
    targets = np.array([0, 2, 1, 2])
    class_weights = np.array([1.0, 2.0, 0.5])
    _, gradients = _loss_and_gradients(params, inputs, starts, targets, class_weights, 0.1)
    step = 1e-6
    for index, value in enumerate(params.as_list()):
        for position in np.ndindex(value.shape):
            original = value[position]
            value[position] = original + step
            up, _ = _loss_and_gradients(params, inputs, starts, targets, class_weights, 0.1)
            value[position] = original - step
            down, _ = _loss_and_gradients(params, inputs, starts, targets, class_weights, 0.1)
            value[position] = original
            numeric = (up - down) / (2 * step)
            assert abs(numeric - gradients[index][position]) < 1e-5, (index, position)


def test_it_finds_the_one_sentence_that_decides_a_message():
    rng = np.random.default_rng(1)
    keys = np.linalg.qr(rng.normal(size=(16, 3)))[0].T  # three orthogonal directions
    train, train_labels = _bags(rng, 600, keys)
    test, test_labels = _bags(rng, 200, keys)
    head = fit_sentence_network(train, train_labels, members=1)
    proba = head.predict_proba(test)
    assert np.allclose(proba.sum(axis=1), 1.0)
    predicted = np.asarray(head.classes_)[proba.argmax(axis=1)]
    # the message's mean vector hides the key among up to five noise sentences
    assert np.mean(predicted == test_labels) > 0.9


def test_no_messages_no_rows():
    rng = np.random.default_rng(2)
    keys = np.eye(3, 8)
    train, labels = _bags(rng, 60, keys)
    head = fit_sentence_network(train, labels, members=1)
    empty = MessageEmbeddings(np.empty((0, 8), np.float32), np.zeros(1, np.int64))
    assert head.predict_proba(empty).shape == (0, len(head.classes_))
