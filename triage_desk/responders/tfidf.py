"""Character n-gram TF-IDF for the knowledge base, without scikit-learn at run time.

The assistant's retrieval was built on scikit-learn's ``TfidfVectorizer(analyzer="char_wb",
sublinear_tf=True)``. Importing scikit-learn costs the intake process ~70 MB and ~1 s at
start-up for twenty documents per desk and language, so this module computes the same
numbers with NumPy and SciPy alone (a test checks it against scikit-learn, which stays a
training-time dependency):

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
from scipy import sparse

_WHITE_SPACES = re.compile(r"\s\s+")


def char_wb_ngrams(text: str, min_n: int, max_n: int) -> list[str]:
    """The n-grams scikit-learn's ``char_wb`` analyzer makes, in the same order."""
    grams: list[str] = []
    for word in _WHITE_SPACES.sub(" ", text).split():
        padded = f" {word} "
        length = len(padded)
        for n in range(min_n, max_n + 1):
            offset = 0
            grams.append(padded[offset:offset + n])
            while offset + n < length:
                offset += 1
                grams.append(padded[offset:offset + n])
            if offset == 0:  # the word was shorter than n: counted once
                break
    return grams


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

    def fit(self, texts: Sequence[str]) -> CharTfidf:
        document_frequency: Counter[str] = Counter()
        for text in texts:
            document_frequency.update(self._counts(text).keys())
        terms = sorted(document_frequency)
        self.vocabulary = {term: column for column, term in enumerate(terms)}
        documents = len(texts)
        self.idf = np.array(
            [math.log((1 + documents) / (1 + document_frequency[t])) + 1.0 for t in terms],
            dtype=np.float64)
        return self

    def transform(self, texts: Sequence[str]) -> sparse.csr_matrix:
        indptr, indices, values = [0], [], []
        for text in texts:
            row: dict[int, float] = {}
            for term, count in self._counts(text).items():
                column = self.vocabulary.get(term)
                if column is not None:
                    row[column] = (1.0 + math.log(count)) * self.idf[column]
            columns = sorted(row)
            weights = np.array([row[c] for c in columns], dtype=np.float64)
            norm = float(np.sqrt((weights * weights).sum()))
            if norm > 0:
                weights /= norm
            indices.extend(columns)
            values.extend(weights.tolist())
            indptr.append(len(indices))
        return sparse.csr_matrix(
            (np.asarray(values, dtype=self.dtype), np.asarray(indices, dtype=np.int32),
             np.asarray(indptr, dtype=np.int32)),
            shape=(len(texts), len(self.vocabulary)),
        )
