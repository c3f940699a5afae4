"""Fast text features: word 1–2-grams and character 2–5-grams, TF-IDF weighted.

The same features as two scikit-learn ``TfidfVectorizer``s side by side (``analyzer="word"``
with the default token pattern, and ``analyzer="char_wb"``; sublinear TF, smooth IDF, each
block L2-normalised), built for speed. scikit-learn's analyzers are Python loops over every
n-gram, which alone would cap intake far below the 5,000 messages/s the fast path must reach
(bench/README.md). Here a whole batch becomes one array of code points and
every n-gram gets a 64-bit polynomial hash in a handful of NumPy operations:

* character n-grams never hold a space inside (like ``char_wb``): they may start or end at
  the space around a word. They carry Latvian and Russian inflection ("kļūda", "kļūdu";
  "ошибка", "ошибку") and typos;
* words are runs of word characters (two or more, as ``\\b\\w\\w+\\b``), hashed as a sum of
  position-weighted codes per run; bigrams join consecutive words of one text.

``transform`` returns ``FeatureRows`` (compressed sparse rows whose product with the heads'
coefficients is plain NumPy), so serving never imports SciPy (~0.1 s of every intake
start-up); fitting gets a SciPy matrix for scikit-learn (``fit_transform``, ``to_scipy``).

The vocabulary is the sorted array of hashes seen in training (characters: in at least
``min_df_chars`` texts). A lookup table indexed by the top bits of the hash finds a term in two
array reads; the rare terms that would share a slot with a more frequent one are dropped at
fit time. The saved state is four small arrays, so a skops file is small and loads at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import scipy.sparse as sp

_SEPARATOR = "\x00"
_MULTIPLIER = np.uint64(1_000_003)
_MIX = np.uint64(0x9E3779B97F4A7C15)
_WORD_TAG = np.uint64(101)
_BIGRAM_TAG = np.uint64(102)
_SHIFT29 = np.uint64(29)
_TABLE_BITS = 21
_MAX_WORD = 256  # longer "words" (base64 blobs) are hashed by their first 256 characters
_POWERS = np.cumprod(np.full(_MAX_WORD, _MULTIPLIER, dtype=np.uint64), dtype=np.uint64)
_WORD_CHAR_LIMIT = 0x3000  # above: CJK and beyond, all counted as word characters


# Rows multiplied per step in FeatureRows.__matmul__: bounds the temporary (rows × n-grams
# × classes) to a few MB.
_PRODUCT_ROWS = 256
# From this many rows, FeatureRows.__matmul__ hands the product to SciPy: its compiled loop
# is several times quicker on thousands of rows, which pays for importing it once
# (bench/README.md). Intake's batches (at most a few hundred) stay below, so
# `triage run` and `triage fetch` never import SciPy.
_SCIPY_ROWS = 1024


@dataclass(frozen=True)
class FeatureRows:
    """Feature rows in compressed sparse row form (``scipy.sparse.csr_matrix``'s arrays)."""

    data: np.ndarray
    indices: np.ndarray
    indptr: np.ndarray
    shape: tuple[int, int]

    @property
    def nnz(self) -> int:
        return len(self.data)

    def row(self, number: int) -> tuple[np.ndarray, np.ndarray]:
        """The columns and weights of one row."""
        start, end = self.indptr[number], self.indptr[number + 1]
        return self.indices[start:end], self.data[start:end]

    def __matmul__(self, dense: np.ndarray) -> np.ndarray:
        """Rows × a dense (features × k) matrix. For one message this is ~15× quicker than
        SciPy's product (whose argument checks dominate); for thousands of rows SciPy does it
        (``_SCIPY_ROWS``)."""
        dense = np.asarray(dense)
        if dense.ndim != 2 or dense.shape[0] != self.shape[1]:
            raise ValueError(f"cannot multiply {self.shape} rows by a {dense.shape} matrix")
        rows, width = self.shape[0], dense.shape[1]
        if rows >= _SCIPY_ROWS:
            return np.asarray(self.to_scipy() @ dense)
        out = np.zeros((rows, width), dtype=np.result_type(self.data, dense))
        # ``coef.T`` arrives as a transposed view: gather from the untransposed rows (each
        # class's coefficients contiguous) instead of copying it.
        by_class = dense.T if not dense.flags.c_contiguous else None
        for first in range(0, rows, _PRODUCT_ROWS):
            last = min(rows, first + _PRODUCT_ROWS)
            begin, end = self.indptr[first], self.indptr[last]
            if begin == end:
                continue
            columns, weights = self.indices[begin:end], self.data[begin:end]
            starts = self.indptr[first:last] - begin
            filled = self.indptr[first + 1 : last + 1] > self.indptr[first:last]
            if by_class is not None:
                sums = np.add.reduceat(by_class[:, columns] * weights, starts[filled], axis=1).T
            else:
                sums = np.add.reduceat(dense[columns] * weights[:, None], starts[filled], axis=0)
            out[first:last][filled] = sums
        return out

    def toarray(self) -> np.ndarray:
        dense = np.zeros(self.shape, dtype=self.data.dtype)
        dense[np.repeat(np.arange(self.shape[0]), np.diff(self.indptr)), self.indices] = self.data
        return dense

    def to_scipy(self) -> sp.csr_matrix:
        """The same rows as a SciPy matrix (for scikit-learn; imports SciPy)."""
        import scipy.sparse as sp

        return sp.csr_matrix((self.data, self.indices, self.indptr), shape=self.shape)


def _word_char_table() -> np.ndarray:
    table = np.fromiter(
        (chr(c).isalnum() or c == 0x5F for c in range(_WORD_CHAR_LIMIT)),
        dtype=bool,
        count=_WORD_CHAR_LIMIT,
    )
    return np.concatenate((table, [True]))


_IS_WORD = _word_char_table()


def _mix(values: np.ndarray, tag: np.uint64) -> np.ndarray:
    hashed = (values + tag) * _MIX
    return hashed ^ (hashed >> _SHIFT29)


def ngram_hashes(
    texts: Sequence[str], char_range: tuple[int, int] = (2, 5)
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every word, word bigram and in-word character n-gram of each text, hashed.

    Returns (hashes, text index of each, is_char flag of each).
    """
    low, high = char_range
    joined = _SEPARATOR.join(" " + t.replace(_SEPARATOR, " ") + " " for t in texts)
    codes32 = np.frombuffer(joined.encode("utf-32-le"), dtype=np.uint32)
    codes = codes32.astype(np.uint64)
    size = len(codes)
    is_space = codes32 == 0x20
    is_separator = codes32 == 0
    separators = np.concatenate(([0], np.cumsum(is_separator)))
    hashes, docs = [], []
    with np.errstate(over="ignore"):
        # Character n-grams.
        spaces = np.concatenate(([0], np.cumsum(is_space)))
        rolling = codes
        for n in range(1, high + 1):
            if n > 1:
                rolling = rolling[:-1] * _MULTIPLIER + codes[n - 1 :]
            if n < low or size < n:
                continue
            count = size - n + 1
            ok = separators[n : n + count] == separators[:count]  # inside one text
            if n > 2:
                ok &= spaces[n - 1 : n - 1 + count] == spaces[1 : 1 + count]  # no space inside
            hashes.append(_mix(rolling[ok], np.uint64(n)))
            docs.append(separators[:count][ok])
        chars = sum(len(h) for h in hashes)

        # Words (runs of two or more word characters) and bigrams of consecutive words.
        is_word = _IS_WORD[np.minimum(codes32, _WORD_CHAR_LIMIT)]
        begins = is_word.copy()
        begins[1:] &= ~is_word[:-1]
        begin_at = np.flatnonzero(begins)
        if len(begin_at):
            run = np.cumsum(begins) - 1
            inside = np.flatnonzero(is_word)
            offset = inside - begin_at[run[inside]]
            keep = offset < _MAX_WORD
            inside, offset = inside[keep], offset[keep]
            terms = (codes[inside] + np.uint64(1)) * _POWERS[offset]
            run_of = run[inside]
            starts_in = np.flatnonzero(np.concatenate(([True], run_of[1:] != run_of[:-1])))
            word_hash = np.add.reduceat(terms, starts_in)
            length = np.diff(np.concatenate((starts_in, [len(run_of)])))
            word_doc = separators[begin_at]
            long_enough = length >= 2
            word_hash, word_doc = word_hash[long_enough], word_doc[long_enough]
            hashes.append(_mix(word_hash, _WORD_TAG))
            docs.append(word_doc)
            same_doc = word_doc[1:] == word_doc[:-1]
            pair = word_hash[:-1][same_doc] * _MULTIPLIER + word_hash[1:][same_doc]
            hashes.append(_mix(pair, _BIGRAM_TAG))
            docs.append(word_doc[:-1][same_doc])
    if not hashes:
        empty = np.empty(0, np.uint64)
        return empty, np.empty(0, np.int64), np.empty(0, bool)
    hashed = np.concatenate(hashes)
    is_char = np.zeros(len(hashed), dtype=bool)
    is_char[:chars] = True
    return hashed, np.concatenate(docs).astype(np.int64), is_char


class TextFeatures:
    """Word and character n-gram TF-IDF for prepared texts (see ``text.model_text``)."""

    def __init__(
        self,
        char_range: tuple[int, int] = (2, 5),
        min_df_words: int = 1,
        min_df_chars: int = 2,
        max_char_features: int = 150_000,
    ) -> None:
        self.char_range = (int(char_range[0]), int(char_range[1]))
        self.min_df_words = min_df_words
        self.min_df_chars = min_df_chars
        self.max_char_features = max_char_features

    def fit(self, texts: Sequence[str]) -> TextFeatures:
        n = len(texts)
        hashes, docs, is_char = ngram_hashes(texts, self.char_range)
        # Document frequency: count each (text, term) once.
        order = np.lexsort((hashes, docs))
        hashes, docs, is_char = hashes[order], docs[order], is_char[order]
        first = np.concatenate(([True], (hashes[1:] != hashes[:-1]) | (docs[1:] != docs[:-1])))
        hashes, is_char = hashes[first], is_char[first]
        terms, index, df = np.unique(hashes, return_index=True, return_counts=True)
        char_term = is_char[index]
        keep = np.where(char_term, df >= self.min_df_chars, df >= self.min_df_words)
        chars = np.flatnonzero(keep & char_term)
        if len(chars) > self.max_char_features:
            dropped = chars[np.argsort(-df[chars], kind="stable")[self.max_char_features :]]
            keep[dropped] = False
        terms, df, char_term = terms[keep], df[keep], char_term[keep]
        # One term per lookup slot: where two collide, the more frequent one stays.
        slots = terms >> np.uint64(64 - _TABLE_BITS)
        by_slot = np.lexsort((-df, slots))
        winner = np.concatenate(([True], slots[by_slot][1:] != slots[by_slot][:-1]))
        keep = np.sort(by_slot[winner])
        self.terms_ = terms[keep]
        self.idf_ = np.log((1 + n) / (1 + df[keep])) + 1.0
        self.is_char_ = char_term[keep]
        self._build_table()
        return self

    def _build_table(self) -> None:
        table = np.full(1 << _TABLE_BITS, -1, dtype=np.int32)
        table[(self.terms_ >> np.uint64(64 - _TABLE_BITS)).astype(np.int64)] = np.arange(
            len(self.terms_), dtype=np.int32
        )
        self._table = table

    @property
    def n_features(self) -> int:
        return len(self.terms_)

    def transform(self, texts: Sequence[str]) -> FeatureRows:
        n = len(texts)
        width = len(self.terms_)
        hashes, docs, _kind = ngram_hashes(texts, self.char_range)
        column = self._table[(hashes >> np.uint64(64 - _TABLE_BITS)).astype(np.int64)]
        found = column >= 0
        found[found] = self.terms_[column[found]] == hashes[found]
        keys, counts = np.unique(docs[found] * width + column[found], return_counts=True)
        rows, cols = np.divmod(keys, width)
        data = (1.0 + np.log(counts)) * self.idf_[cols]
        block = rows * 2 + self.is_char_[cols]  # each block is normalised on its own
        norms = np.sqrt(np.bincount(block, weights=data * data, minlength=2 * n))
        data /= norms[block]
        indptr = np.searchsorted(rows, np.arange(n + 1))
        return FeatureRows(data, cols.astype(np.int32), indptr.astype(np.int32), (n, width))

    def fit_transform(self, texts: Sequence[str]) -> sp.csr_matrix:
        """Fit, and the texts' rows as a SciPy matrix (what scikit-learn fits on)."""
        return self.fit(texts).transform(texts).to_scipy()

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state.pop("_table", None)  # the lookup table, the bulk; rebuilt from terms_ on load
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        if "terms_" in state:
            self._build_table()
