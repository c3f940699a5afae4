"""MessageEmbeddings: the semantic stage's view of each message's sentence vectors."""

from __future__ import annotations

import numpy as np

from triage_desk.classifier.embedding import (
    DIMENSIONS,
    MessageEmbeddings,
    message_embeddings,
    sentences,
)


def _embeddings(counts: list[int], seed: int = 0) -> MessageEmbeddings:
    rng = np.random.default_rng(seed)
    vectors = rng.normal(size=(sum(counts), DIMENSIONS)).astype(np.float32)
    return MessageEmbeddings(vectors, np.concatenate([[0], np.cumsum(counts)]))


def _sentences_of(embedded: MessageEmbeddings, message: int) -> np.ndarray:
    return embedded.vectors[embedded.offsets[message] : embedded.offsets[message + 1]]


def test_pooled_is_the_mean_and_maximum_of_each_messages_sentences():
    embedded = _embeddings([1, 3, 2])
    pooled = embedded.pooled()
    assert pooled.shape == (3, 2 * DIMENSIONS)
    for message in range(3):
        own = _sentences_of(embedded, message)
        np.testing.assert_allclose(pooled[message, :DIMENSIONS], own.mean(axis=0), rtol=1e-5)
        np.testing.assert_array_equal(pooled[message, DIMENSIONS:], own.max(axis=0))


def test_max_scores_take_each_classes_best_sentence():
    embedded = _embeddings([2, 1, 4], seed=1)
    coef = np.random.default_rng(2).normal(size=(5, DIMENSIONS)).astype(np.float32)
    intercept = np.arange(5, dtype=np.float32)
    scores = embedded.max_scores(coef, intercept)
    for message in range(3):
        expected = (_sentences_of(embedded, message) @ coef.T + intercept).max(axis=0)
        np.testing.assert_allclose(scores[message], expected, rtol=1e-5, atol=1e-5)


def test_subset_and_concat_keep_every_message_with_its_own_sentences():
    embedded = _embeddings([2, 1, 3, 1], seed=3)
    picked = embedded.subset([3, 0, 2])
    assert len(picked) == 3
    for new, old in enumerate([3, 0, 2]):
        np.testing.assert_array_equal(_sentences_of(picked, new), _sentences_of(embedded, old))
    both = MessageEmbeddings.concat([picked, embedded.subset([1])])
    assert len(both) == 4
    np.testing.assert_array_equal(_sentences_of(both, 3), _sentences_of(embedded, 1))
    np.testing.assert_array_equal(both.owners(), np.repeat(np.arange(4), [1, 2, 3, 1]))
    assert len(embedded.subset([])) == 0 and embedded.subset([]).pooled().shape[0] == 0


def test_message_embeddings_split_each_text_into_its_sentences():
    seen: list[str] = []

    def fake_embed(sentences):  # stands in for the e5 embedder: one row per sentence
        seen.extend(sentences)
        return np.ones((len(sentences), DIMENSIONS), dtype=np.float32)

    texts = ["The portal rejects my form. I have tried three times today!", "hi"]
    embedded = message_embeddings(texts, fake_embed)
    assert seen == ["The portal rejects my form.", "I have tried three times today!", "hi"]
    assert embedded.offsets.tolist() == [0, 2, 3]


def test_short_pieces_inside_a_line_join_their_neighbour_and_short_lines_are_left_out():
    # The ironic word that makes this a complaint must reach the embedder.
    chat = "portāls prasa ielogoties ar eparaksts mobile. ģeniāli. lūdzu bloķējiet paši"
    assert sentences(chat) == [
        "portāls prasa ielogoties ar eparaksts mobile. ģeniāli.",
        "lūdzu bloķējiet paši",
    ]
    # A greeting first in its line goes with the sentence after it.
    assert sentences("Hi! The export button fails again.") == ["Hi! The export button fails again."]
    mail = (
        "Labdien!\n\nMans telefons ir nozagts. Lūdzu bloķējiet.\n"
        "> vecā vēstule par kaut ko citu pavisam\nAr cieņu,\nJānis Bērziņš"
    )
    assert sentences(mail) == ["Mans telefons ir nozagts. Lūdzu bloķējiet."]
    assert sentences("paldies!") == ["paldies!"]  # nothing long enough: the whole message
