"""The bundled examples' sentence vectors that ship with the package (embedding.BUNDLED_VECTORS)."""

from __future__ import annotations

import numpy as np

from triage_desk.classifier.bundled_vectors import bundled_sentences
from triage_desk.classifier.embedding import (
    BUNDLED_VECTORS,
    EmbeddingCache,
    embed,
    quantised,
    read_bundled_vectors,
    unpacked_keys,
)


def test_every_bundled_sentence_has_a_shipped_vector():
    shipped = read_bundled_vectors()
    missing = [s for s in bundled_sentences() if EmbeddingCache.key(s) not in shipped]
    assert not missing, (
        f"{len(missing)} sentences of classifier/data have no vector in {BUNDLED_VECTORS.name} "
        f"(e.g. {missing[0]!r}); run 'make vectors'"
    )


def test_shipped_vectors_are_what_the_embedder_gives():
    shipped = read_bundled_vectors()
    found = bundled_sentences()
    picked = [found[i] for i in np.random.default_rng(0).choice(len(found), 24, replace=False)]
    fresh = embed(picked)
    stored = np.stack([shipped[EmbeddingCache.key(s)] for s in picked])
    cosines = (fresh * stored).sum(axis=1)
    assert cosines.min() > 0.999, cosines.min()


def test_quantised_vectors_keep_their_direction():
    rng = np.random.default_rng(3)
    vectors = rng.normal(size=(50, 384)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    rows, scale = quantised(vectors)
    assert rows.dtype == np.int8 and rows.nbytes == vectors.nbytes // 4
    restored = rows.astype(np.float32) * scale[:, None]
    restored /= np.linalg.norm(restored, axis=1, keepdims=True)
    assert (restored * vectors).sum(axis=1).min() > 0.9999


def test_a_new_cache_embeds_only_sentences_that_did_not_ship(tmp_path):
    cache = EmbeddingCache(tmp_path)
    bundled = bundled_sentences()[:5]
    cache.embed(bundled)
    assert not cache.path.exists()  # nothing was embedded, so nothing new to keep
    new = "Šis teikums nav neviena komplekta piemērā un tiek iegults no jauna."
    cache.embed([*bundled, new])
    with np.load(cache.path) as stored:  # the cache file holds the new one, not the shipped
        assert unpacked_keys(stored["keys"]) == [EmbeddingCache.key(new)]
