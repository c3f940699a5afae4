"""Writes the bundled examples' sentence vectors (``embedding.BUNDLED_VECTORS``).

Run after changing the files under ``classifier/data/`` or how messages are split into
sentences (``make vectors``); ``tests/test_bundled_vectors.py`` fails until then. Training
works without the file, only its first run on a machine is slower.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from triage_desk.classifier.data import Example, load_examples
from triage_desk.classifier.embedding import (
    BUNDLED_VECTORS,
    EMBEDDER,
    EmbeddingCache,
    embedding_text,
    packed_keys,
    quantised,
    sentences,
)


def bundled_sentences(examples: list[Example] | None = None) -> list[str]:
    """Every sentence training and evaluation embed for the bundled examples, once each."""
    chosen = load_examples() if examples is None else examples
    texts = (embedding_text(e.subject, e.body) for e in chosen)
    return list(dict.fromkeys(s for text in texts for s in sentences(text)))


def write(path: Path = BUNDLED_VECTORS) -> int:
    """Embed (through the cache) and save every bundled sentence; returns how many."""
    found = bundled_sentences()
    vectors = EmbeddingCache(shipped=False).embed(found)  # full precision, quantised once
    rows, scale = quantised(vectors)
    keys = packed_keys([EmbeddingCache.key(s) for s in found])
    temp = path.with_name(f".{path.stem}.tmp.npz")
    np.savez_compressed(temp, embedder=np.array(EMBEDDER), keys=keys, vectors=rows, scale=scale)
    temp.replace(path)
    return len(found)


if __name__ == "__main__":
    count = write()
    print(f"{count} sentence vectors written to {BUNDLED_VECTORS}")
