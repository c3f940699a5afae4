"""The triage model: shared text features and two heads (category, feedback type)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import FeatureUnion

from triage_desk.classifier.data import Example
from triage_desk.classifier.text import model_text


class CompactTfidfVectorizer(TfidfVectorizer):
    """TfidfVectorizer whose saved state keeps the vocabulary as one array of terms.

    skops writes a dict entry by entry (tens of MB of JSON for 70k n-grams, seconds to load);
    one NumPy string array in vocabulary order is a few hundred kB and loads at once.
    """

    def __getstate__(self) -> dict:
        state = dict(super().__getstate__())  # a copy: the default returns __dict__ itself
        state.pop("stop_words_", None)  # pruned n-grams, for introspection only
        vocabulary = state.pop("vocabulary_", None)
        if vocabulary is not None:
            terms = np.empty(len(vocabulary), dtype=object)
            for term, index in vocabulary.items():
                terms[index] = term
            state["_terms"] = terms.astype(str)
        return state

    def __setstate__(self, state: dict) -> None:
        terms = state.pop("_terms", None)
        if terms is not None:
            state["vocabulary_"] = {str(term): index for index, term in enumerate(terms)}
        super().__setstate__(state)


def build_features() -> FeatureUnion:
    # Word n-grams carry meaning ("no workaround"); character n-grams inside word boundaries
    # carry Latvian and Russian inflections ("kļūdu", "kļūdas", "ошибку") and typos.
    return FeatureUnion(
        [
            (
                "words",
                CompactTfidfVectorizer(
                    analyzer="word", ngram_range=(1, 2), min_df=1, sublinear_tf=True
                ),
            ),
            (
                "chars",
                CompactTfidfVectorizer(
                    analyzer="char_wb", ngram_range=(2, 5), min_df=2, sublinear_tf=True,
                    max_features=200_000,
                ),
            ),
        ]
    )


def _head() -> LogisticRegression:
    return LogisticRegression(C=10.0, max_iter=3000, class_weight="balanced")


@dataclass
class HeadResult:
    labels: list[str]
    confidences: list[float]


class TriageModel:
    """Features fitted once, shared by both heads; labels restricted per desk at prediction."""

    def __init__(self) -> None:
        self.features = build_features()
        self.category_head = _head()
        self.feedback_head = _head()

    def fit(self, examples: Sequence[Example]) -> TriageModel:
        texts = [model_text(e.subject, e.body) for e in examples]
        matrix = self.features.fit_transform(texts)
        self.category_head.fit(matrix, [e.category for e in examples])
        self.feedback_head.fit(matrix, [e.feedback_type for e in examples])
        return self

    @property
    def categories(self) -> list[str]:
        return [str(c) for c in self.category_head.classes_]

    @property
    def feedback_types(self) -> list[str]:
        return [str(c) for c in self.feedback_head.classes_]

    def predict(
        self,
        texts: Sequence[str],
        allowed_categories: Sequence[set[str] | None] | None = None,
    ) -> tuple[HeadResult, HeadResult]:
        """Predict both heads for already-prepared texts (see ``model_text``).

        ``allowed_categories[i]`` limits message i to its desk's categories; probabilities are
        renormalised over what is allowed, so a municipal message is never 'suspension'.
        """
        matrix = self.features.transform(texts)
        category_proba = self.category_head.predict_proba(matrix)
        if allowed_categories is not None:
            classes = self.category_head.classes_
            for row, allowed in enumerate(allowed_categories):
                if allowed is None:
                    continue
                mask = np.isin(classes, list(allowed))
                if mask.any():
                    category_proba[row] = np.where(mask, category_proba[row], 0.0)
                    category_proba[row] /= category_proba[row].sum()
        feedback_proba = self.feedback_head.predict_proba(matrix)
        return _best(self.category_head.classes_, category_proba), _best(
            self.feedback_head.classes_, feedback_proba
        )


def _best(classes: np.ndarray, proba: np.ndarray) -> HeadResult:
    index = proba.argmax(axis=1)
    return HeadResult(
        labels=[str(classes[i]) for i in index],
        confidences=[float(p) for p in proba[np.arange(len(index)), index]],
    )
