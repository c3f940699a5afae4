"""Character n-gram TF-IDF for the knowledge base, without scikit-learn at run time.

The assistant's retrieval was built on scikit-learn's ``TfidfVectorizer(analyzer="char_wb",
sublinear_tf=True)``. Importing scikit-learn costs the intake process much memory and
start-up time (bench/README.md) for twenty documents per desk and language, so this module
computes the same numbers with NumPy alone (a test checks it against scikit-learn, which
stays a training-time dependency). SciPy is not needed either: a query is one short row,
scored against the documents' postings (``Postings``) with two NumPy calls, where a SciPy
product spends more time checking its arguments than multiplying.

* n-grams of each whitespace-separated word padded with one space on each side, as
  ``char_wb`` makes them (a word shorter than n gives itself once);
* the vocabulary sorted, idf = ln((1 + documents) / (1 + document frequency)) + 1;
* term frequency 1 + ln(count), each row L2-normalised.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Sequence

import numpy as np

from triage_desk.classifier.features import FeatureRows

_WHITE_SPACES = re.compile(r"\s\s+")


def char_wb_ngrams(text: str, min_n: int, max_n: int) -> list[str]:
    """The n-grams scikit-learn's ``char_wb`` analyzer makes, in the same order."""
    grams: list[str] = []
    for word in _WHITE_SPACES.sub(" ", text).split():
        grams.extend(word_ngrams(word, min_n, max_n))
    return grams


def word_ngrams(word: str, min_n: int, max_n: int) -> list[str]:
    """One whitespace-free word's part of ``char_wb_ngrams``."""
    grams: list[str] = []
    padded = f" {word} "
    length = len(padded)
    for n in range(min_n, max_n + 1):
        if length <= n:  # the word is no longer than n: counted once, as itself
            grams.append(padded)
            break
        grams.extend([padded[i : i + n] for i in range(length - n + 1)])
    return grams


class Postings:
    """Document rows stored by term (the transpose of ``FeatureRows``), for dot products with
    one query row: only the postings of the query's own terms are read."""

    def __init__(self, rows: FeatureRows) -> None:
        self.size = rows.shape[0]
        owner = np.repeat(np.arange(rows.shape[0], dtype=np.int32), np.diff(rows.indptr))
        order = np.argsort(rows.indices, kind="stable")
        self.documents = owner[order]
        self.weights = rows.data[order]
        self.starts = np.searchsorted(rows.indices[order], np.arange(rows.shape[1] + 1))

    def arrays(self) -> dict[str, np.ndarray]:
        return {
            "documents": self.documents,
            "weights": self.weights,
            "starts": self.starts,
            "size": np.asarray(self.size),
        }

    @classmethod
    def of_arrays(cls, arrays: dict[str, np.ndarray]) -> Postings:
        """Postings saved with ``arrays``."""
        postings = cls.__new__(cls)
        postings.documents, postings.weights = arrays["documents"], arrays["weights"]
        postings.starts, postings.size = arrays["starts"], int(arrays["size"])
        return postings

    def dot(self, columns: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """Every document's dot product with the query row (``columns``, ``weights``)."""
        begin, end = self.starts[columns], self.starts[columns + 1]
        lengths = end - begin
        total = int(lengths.sum())
        if total == 0:
            return np.zeros(self.size, dtype=np.float32)
        # Positions of every posting of every query term, without a Python loop.
        offsets = np.repeat(begin - np.cumsum(lengths) + lengths, lengths)
        positions = offsets + np.arange(total)
        products = self.weights[positions] * np.repeat(weights, lengths)
        return np.bincount(self.documents[positions], weights=products, minlength=self.size).astype(
            np.float32
        )


class CharTfidf:
    """Fit on a few documents, then turn texts into L2-normalised TF-IDF rows."""

    def __init__(
        self,
        preprocessor: Callable[[str], str],
        ngram_range: tuple[int, int] = (3, 5),
        dtype: type = np.float32,
    ) -> None:
        self.preprocessor = preprocessor
        self.min_n, self.max_n = ngram_range
        self.dtype = dtype
        self.vocabulary: dict[str, int] = {}
        self.idf = np.zeros(0)

    def _counts(self, text: str) -> Counter[str]:
        return Counter(char_wb_ngrams(self.preprocessor(text), self.min_n, self.max_n))

    def row(self, counts: Counter[str]) -> tuple[np.ndarray, np.ndarray]:
        """One text's columns and weights, from its ``counts`` (as ``transform`` makes them)."""
        vocabulary = self.vocabulary
        # Only the terms the vocabulary knows, found by a set intersection in C: a question
        # has thousands of n-grams, most of them unknown to a twenty-article index.
        known = counts.keys() & vocabulary.keys()
        found = sorted([(vocabulary[t], counts[t]) for t in known])
        columns = np.array([column for column, _count in found], dtype=np.int64)
        weights = (
            1.0 + np.log(np.array([c for _column, c in found], dtype=np.float64))
        ) * self.idf[columns]
        norm = float(np.sqrt((weights * weights).sum()))
        if norm > 0:
            weights /= norm
        return columns, weights.astype(self.dtype)

    def row_of(self, columns: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``row`` from the vocabulary columns of a text's known n-grams and their counts
        (looked up by the caller, e.g. once for several vectorisers): the same numbers."""
        order = np.argsort(columns, kind="stable")
        columns = columns[order]
        weights = (1.0 + np.log(counts[order].astype(np.float64))) * self.idf[columns]
        norm = float(np.sqrt((weights * weights).sum()))
        if norm > 0:
            weights /= norm
        return columns, weights.astype(self.dtype)

    def fit(self, texts: Sequence[str]) -> CharTfidf:
        self._fit_counts([self._counts(text) for text in texts])
        return self

    def fit_transform(self, texts: Sequence[str]) -> FeatureRows:
        """``fit(texts).transform(texts)``, counting each text's n-grams once."""
        counts = [self._counts(text) for text in texts]
        self._fit_counts(counts)
        return self._rows(counts)

    def _fit_counts(self, counts: Sequence[Counter[str]]) -> None:
        document_frequency: Counter[str] = Counter()
        for text_counts in counts:
            document_frequency.update(text_counts.keys())
        terms = sorted(document_frequency)
        self.vocabulary = {term: column for column, term in enumerate(terms)}
        documents = len(counts)
        self.idf = np.array(
            [math.log((1 + documents) / (1 + document_frequency[t])) + 1.0 for t in terms],
            dtype=np.float64,
        )

    def transform(self, texts: Sequence[str]) -> FeatureRows:
        return self._rows([self._counts(text) for text in texts])

    def _rows(self, counts: Sequence[Counter[str]]) -> FeatureRows:
        indptr, indices, values = [0], [], []
        vocabulary, idf = self.vocabulary, self.idf
        for text_counts in counts:
            found = [(vocabulary[t], c) for t, c in text_counts.items() if t in vocabulary]
            found.sort()
            columns = [column for column, _count in found]
            weights = (1.0 + np.log(np.array([c for _column, c in found], dtype=np.float64))) * idf[
                columns
            ]
            norm = float(np.sqrt((weights * weights).sum()))
            if norm > 0:
                weights /= norm
            indices.extend(columns)
            values.append(weights)
            indptr.append(len(indices))
        data = np.concatenate(values) if values else np.zeros(0)
        return FeatureRows(
            data.astype(self.dtype),
            np.asarray(indices, dtype=np.int64),
            np.asarray(indptr, dtype=np.int64),
            (len(counts), len(vocabulary)),
        )
