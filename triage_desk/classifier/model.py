"""The triage model: a fast stage and a semantic stage, two heads each (category, feedback).

* **Fast stage**: word and character n-gram TF-IDF (``features.TextFeatures``) with a
  logistic-regression head per question. Tens of microseconds a message.
* **Semantic stage**: logistic-regression heads on multilingual-e5-small sentence embeddings
  (``embedding``), pooled over each message's sentences. The feedback head also reads, per
  feedback type, the best score any single sentence gets from a sentence head: a complaint
  in one sentence of a long request is what decides its feedback type (out of fold on the
  train split, blend asked for every message: feedback macro-F1 0.882 → 0.888; cascade:
  0.876 → 0.879, auto-accept coverage at 97 % 0.316 → 0.342). Its feedback probabilities
  are the average of that logistic regression and small neural networks on the same inputs
  (``network``; out of fold, cascade feedback macro-F1 0.883 → 0.891), and, a third each since
  format 7, an attention network over the message's sentences (``sentence_network``; out of
  fold 0.888 → 0.897 on three fold seeds). (Also giving both the
  similarity-weighted feedback types of the 30 nearest training messages was tried: out of
  fold 0.887 → 0.897 on each of three fold seeds, yet the dev split fell 0.895 → 0.886 and the
  independent check stayed at 0.980. The train split holds families of messages written from
  one situation, so out of fold a message's nearest neighbours are often its siblings; new
  mail has none.) The distinctions that
  matter (is there a workaround? is everyone blocked?) are about meaning more than words;
  this stage costs tens of milliseconds a message, so it is asked only when the fast stage
  is unsure (a cascade), and its probabilities are blended with the fast ones.

The decision settings (how unsure the fast stage must be to ask the semantic one, each head's
blend, temperatures that calibrate each head, the suspension threshold) and the auto-accept
confidence (``acceptance``) are chosen by cross-validation on the train split in
``training.py`` and saved with the model.

Categories are restricted per desk at prediction: probabilities are renormalised over what
the message's desk allows, so a municipal message is never 'suspension'.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from triage_desk.classifier.acceptance import AcceptanceModel, acceptance_features
from triage_desk.classifier.features import TextFeatures
from triage_desk.classifier.network import NetworkHead, fit_network_head
from triage_desk.classifier.sentence_network import SentenceNetworkHead, fit_sentence_network

if TYPE_CHECKING:  # scikit-learn is imported where heads are fitted, not where they serve
    from sklearn.linear_model import LogisticRegression, Ridge

    from triage_desk.classifier.embedding import MessageEmbeddings

# The saved layout; ``store`` refuses files of another format with "run triage train".
# 3: a blend per head, the acceptance model (the auto-accept threshold is on its scale).
# 4: the semantic feedback head also reads the sentence head's best sentence per type.
# 5: networks beside the semantic feedback head (``network``), the two averaged.
# 6: sentences keep their short pieces (``embedding.sentences``): the heads were fitted on
#    other vectors than a format-5 model would now be given.
# 7: an attention network over the sentences joins the semantic feedback head.
MODEL_FORMAT = 7
SUSPENSION = "suspension"
FEEDBACK = "feedback"  # the category of a message that is only feedback
NO_FEEDBACK = "none"
SENTENCE_ALPHA = 10.0  # the sentence head's ridge penalty (1 and 10 alike out of fold)
# Folds that give every training message sentence scores from a head that never saw it.
SENTENCE_FOLDS = 3


def make_head(c: float) -> LogisticRegression:
    from sklearn.linear_model import LogisticRegression

    # tol 1e-3 (scikit-learn's default is 1e-4): a quarter of the fitting time.
    return LogisticRegression(C=c, max_iter=3000, tol=1e-3, class_weight="balanced")


def head_proba(head: LogisticRegression, matrix) -> np.ndarray:
    """``predict_proba`` without scikit-learn's per-call checks (they cost more than the maths
    for one message)."""
    coef = head.coef_
    if coef.shape[0] == 1:  # a two-class head
        return head.predict_proba(matrix.to_scipy() if hasattr(matrix, "to_scipy") else matrix)
    scores = np.asarray(matrix @ coef.T) + head.intercept_
    scores -= scores.max(axis=1, keepdims=True)
    np.exp(scores, out=scores)
    scores /= scores.sum(axis=1, keepdims=True)
    return scores


def fit_sentence_head(vectors: np.ndarray, labels: Sequence[str], classes: Sequence[str]) -> Ridge:
    """A linear score per class for single sentences, fitted on each sentence with its
    message's label (a complaint sentence in a complaint; the other sentences of that message
    are noise the least-squares fit averages out). Ridge, not logistic regression: one linear
    solve, fast enough to refit inside every cross-validation fold, and about as good here
    (out of fold, feedback macro-F1 in the blend 0.889, against 0.891 with a logistic
    regression that took four times as long)."""
    from sklearn.linear_model import Ridge

    targets = np.where(np.asarray(labels)[:, None] == np.asarray(classes)[None, :], 1.0, -1.0)
    head = Ridge(alpha=SENTENCE_ALPHA).fit(vectors, targets)
    head.coef_ = head.coef_.astype(np.float32)
    head.classes_ = np.asarray(classes, dtype=object)  # read by serving.export as a head
    return head


def tempered(proba: np.ndarray, temperature: float) -> np.ndarray:
    """Calibrate by temperature: p_i ∝ p_i^(1/T) (softmax of logits / T)."""
    if temperature == 1.0:
        return proba
    logits = np.log(np.clip(proba, 1e-12, 1.0)) / temperature
    logits -= logits.max(axis=1, keepdims=True)
    out = np.exp(logits)
    return out / out.sum(axis=1, keepdims=True)


def restrict(proba: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    """Zero the categories a message's desk does not have and renormalise."""
    if mask is None:
        return proba
    restricted = np.where(mask, proba, 0.0)
    totals = restricted.sum(axis=1, keepdims=True)
    return np.where(totals > 0, restricted / np.where(totals > 0, totals, 1.0), proba)


@dataclass
class HeadResult:
    labels: list[str]
    confidences: list[float]


@dataclass
class Settings:
    """How the two stages are combined; chosen on the train split by cross-validation."""

    escalate_below: float = 1.01  # fast confidence under which the semantic stage is asked
    # weight of the fast stage's probabilities in the blend, per head
    blends: dict[str, float] = field(default_factory=lambda: {"category": 0.5, "feedback": 0.5})
    suspension_threshold: float = 0.5  # P(suspension) from which a message IS a suspension
    temperatures: dict[str, float] = field(
        default_factory=lambda: {
            "fast_category": 1.0,
            "fast_feedback": 1.0,
            "blend_category": 1.0,
            "blend_feedback": 1.0,
        }
    )


@dataclass
class Probabilities:
    """Both heads' calibrated probabilities for a batch, and which stage decided each row."""

    category: np.ndarray
    feedback: np.ndarray
    semantic: np.ndarray  # bool per row
    # bool per row: the fast stage was unsure (the cascade asks, or would ask, the semantic
    # stage); None where not computed
    unsure: np.ndarray | None = None
    # bool per row and category: what each message's desk allows; None: everything
    allowed: np.ndarray | None = None


class TriageModel:
    """Features fitted once, shared by both heads; labels restricted per desk at prediction."""

    # C and the word min_df were chosen by 5-fold cross-validation on the train split
    # (fast stage alone: category macro-F1 0.850 → 0.865, feedback 0.773 → 0.789); with the
    # hard-case data, C 10 for the fast heads (cascade: category 0.901 → 0.909, both heads
    # right 0.821 → 0.827; C 2.5 and 20 were worse, C 3 and 30 for the semantic heads too).
    # The feedback heads on their own (three fold seeds, cascade): fast C 20 and semantic
    # C 30, feedback macro-F1 0.876 → 0.878 and auto-accept coverage at 97 % 0.34 → 0.37;
    # fast C 5, a milder class weighting and semantic C 3 were no better.
    def __init__(
        self,
        c_fast: float = 10.0,
        c_semantic: float = 10.0,
        c_fast_feedback: float = 20.0,
        c_semantic_feedback: float = 30.0,
    ) -> None:
        self.format = MODEL_FORMAT
        self.features = TextFeatures(min_df_words=2)
        self.category_head = make_head(c_fast)
        self.feedback_head = make_head(c_fast_feedback)
        self.semantic_category_head: LogisticRegression | None = None
        self.semantic_feedback_head: LogisticRegression | None = None
        # scores single sentences for each feedback type (``fit_sentence_head``)
        self.sentence_feedback_head: Ridge | None = None
        # the semantic feedback head's second opinion, averaged with it (``network``)
        self.semantic_feedback_network: NetworkHead | None = None
        # ... and its third, reading each sentence (``sentence_network``)
        self.sentence_feedback_network: SentenceNetworkHead | None = None
        self.c_semantic = c_semantic
        self.c_semantic_feedback = c_semantic_feedback
        self.settings = Settings()
        # P(both heads right) for auto-accept; fitted in training (``acceptance``)
        self.acceptance: AcceptanceModel | None = None

    # ------------------------------------------------------------------ fitting

    def fit(
        self,
        texts: Sequence[str],
        categories: Sequence[str],
        feedback_types: Sequence[str],
        embeddings: MessageEmbeddings | None = None,
        groups: Sequence[str] | None = None,
        originals: Sequence[bool] | None = None,
    ) -> TriageModel:
        """Fit both stages. ``groups`` names each row's source message (an augmented copy
        shares its original's) and ``originals`` marks the rows that are not such copies; the
        sentence head and the semantic feedback head learn from originals only."""
        matrix = self.features.fit_transform(texts)
        self.category_head.fit(matrix, list(categories))
        self.feedback_head.fit(matrix, list(feedback_types))
        for head in (self.category_head, self.feedback_head):
            head.coef_ = head.coef_.astype(np.float32)  # half the file, same decisions
        if embeddings is not None:
            pooled = embeddings.pooled()
            labels = np.asarray(feedback_types)
            groups = list(groups) if groups is not None else [str(i) for i in range(len(texts))]
            keep = np.ones(len(texts), bool) if originals is None else np.asarray(originals)
            evidence = self._held_out_sentence_scores(embeddings, labels, groups, keep)
            self.sentence_feedback_head = self._sentence_head(embeddings, labels, keep)
            self.semantic_category_head = make_head(self.c_semantic).fit(pooled, list(categories))
            # Originals only: an augmented copy's appended sentence already counts through the
            # evidence, and out of fold the copies made this head no better (cascade
            # feedback macro-F1 0.8775 with them, 0.8787 without).
            inputs = np.hstack([pooled, evidence])[keep]
            self.semantic_feedback_head = make_head(self.c_semantic_feedback).fit(
                inputs, labels[keep]
            )
            self.semantic_feedback_network = fit_network_head(inputs, labels[keep])
            self.sentence_feedback_network = fit_sentence_network(
                embeddings.subset(np.flatnonzero(keep)), labels[keep]
            )
            assert list(self.semantic_category_head.classes_) == self.categories
            assert list(self.semantic_feedback_head.classes_) == self.feedback_types
        return self

    def _sentence_head(
        self, embeddings: MessageEmbeddings, labels: np.ndarray, rows: np.ndarray
    ) -> Ridge:
        part = embeddings.subset(np.flatnonzero(rows))
        return fit_sentence_head(part.vectors, labels[rows][part.owners()], self.feedback_types)

    def _held_out_sentence_scores(
        self,
        embeddings: MessageEmbeddings,
        labels: np.ndarray,
        groups: Sequence[str],
        originals: np.ndarray,
    ) -> np.ndarray:
        """Every row's best sentence scores from a sentence head fitted without its source
        message: the feedback head must learn how far to trust the scores on messages the
        sentence head has not seen, as at prediction time."""
        fold = np.array([zlib.crc32(g.encode()) % SENTENCE_FOLDS for g in groups])
        evidence = np.zeros((len(labels), len(self.feedback_types)), dtype=np.float32)
        for number in range(SENTENCE_FOLDS):
            held, learn_from = np.flatnonzero(fold == number), originals & (fold != number)
            if not len(held) or not learn_from.any():
                continue  # too few messages for this fold: its rows keep zero evidence
            head = self._sentence_head(embeddings, labels, learn_from)
            evidence[held] = embeddings.subset(held).max_scores(head.coef_, head.intercept_)
        return evidence

    @property
    def categories(self) -> list[str]:
        return [str(c) for c in self.category_head.classes_]

    @property
    def feedback_types(self) -> list[str]:
        return [str(c) for c in self.feedback_head.classes_]

    @property
    def has_semantic_stage(self) -> bool:
        return self.semantic_category_head is not None

    def category_mask(
        self, allowed_categories: Sequence[set[str] | frozenset[str] | None] | None, rows: int
    ) -> np.ndarray | None:
        if allowed_categories is None:
            return None
        classes = np.array(self.categories)
        mask = np.ones((rows, len(classes)), dtype=bool)
        known: dict[frozenset[str], np.ndarray] = {}
        for row, allowed in enumerate(allowed_categories):
            if allowed:
                key = frozenset(allowed)
                if key not in known:
                    known[key] = np.isin(classes, list(key))
                    if not known[key].any():  # a desk we have no labels for: everything
                        known[key][:] = True
                mask[row] = known[key]
        return mask

    # ------------------------------------------------------------------ the two stages

    def fast_raw(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Uncalibrated fast-stage probabilities (category, feedback) for prepared texts."""
        matrix = self.features.transform(texts)
        return head_proba(self.category_head, matrix), head_proba(self.feedback_head, matrix)

    def semantic_raw(self, embeddings: MessageEmbeddings) -> tuple[np.ndarray, np.ndarray]:
        assert self.semantic_category_head is not None
        assert self.semantic_feedback_head is not None
        assert self.sentence_feedback_head is not None
        assert self.semantic_feedback_network is not None
        assert self.sentence_feedback_network is not None
        pooled = embeddings.pooled()
        sentence = self.sentence_feedback_head
        evidence = embeddings.max_scores(sentence.coef_, sentence.intercept_)
        inputs = np.hstack([pooled, evidence])
        feedback = (
            head_proba(self.semantic_feedback_head, inputs)
            + self.semantic_feedback_network.predict_proba(inputs)
            + self.sentence_feedback_network.predict_proba(embeddings)
        ) / 3
        return head_proba(self.semantic_category_head, pooled), feedback

    def combine(
        self,
        fast: tuple[np.ndarray, np.ndarray],
        mask: np.ndarray | None,
        semantic: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]] | None,
    ) -> Probabilities:
        """The cascade: the fast stage decides where it is sure; elsewhere the blend does.

        ``semantic(rows)`` returns the semantic stage's raw probabilities for those rows; it is
        called at most once, and only for the rows that need it.
        """
        s = self.settings
        t = s.temperatures
        fast_category = tempered(restrict(fast[0], mask), t["fast_category"])
        fast_feedback = tempered(fast[1], t["fast_feedback"])
        category, feedback = fast_category.copy(), fast_feedback.copy()
        confidence = np.minimum(fast_category.max(axis=1), fast_feedback.max(axis=1))
        unsure = confidence < s.escalate_below
        escalate = unsure if semantic is not None else np.zeros(len(confidence), dtype=bool)
        rows = np.flatnonzero(escalate)
        if len(rows):
            sem_category, sem_feedback = semantic(rows)
            wc, wf = s.blends["category"], s.blends["feedback"]
            row_mask = mask[rows] if mask is not None else None
            category[rows] = tempered(
                restrict(wc * fast[0][rows] + (1 - wc) * sem_category, row_mask),
                t["blend_category"],
            )
            feedback[rows] = tempered(
                wf * fast[1][rows] + (1 - wf) * sem_feedback, t["blend_feedback"]
            )
        return Probabilities(category, feedback, escalate, unsure, mask)

    def decide(self, probabilities: Probabilities) -> tuple[HeadResult, HeadResult]:
        """Labels and confidences; a likely suspension is never let through as something else.

        The two heads are made consistent first (see ``_consistent``).

        A missed suspension leaves a compromised certificate active overnight; a false one
        costs a staff member a glance. So 'suspension' wins from a probability well below
        one half (the threshold is chosen for recall in cross-validation).
        """
        category = _best(self.categories, probabilities.category)
        feedback = _best(self.feedback_types, probabilities.feedback)
        self._consistent(probabilities, category, feedback)
        classes = self.categories
        if SUSPENSION in classes:
            column = classes.index(SUSPENSION)
            p_suspension = probabilities.category[:, column]
            for row in np.flatnonzero(p_suspension >= self.settings.suspension_threshold):
                category.labels[row] = SUSPENSION
                category.confidences[row] = float(p_suspension[row])
        return category, feedback

    def confidence(
        self, probabilities: Probabilities, category: HeadResult, feedback: HeadResult
    ) -> np.ndarray:
        """The auto-accept confidence per message: P(both heads right) from the acceptance
        model; without one, the product of the two heads' confidences."""
        if self.acceptance is None:
            return np.asarray(category.confidences) * np.asarray(feedback.confidences)
        return self.acceptance.score(self.acceptance_features(probabilities, category, feedback))

    def acceptance_features(
        self, probabilities: Probabilities, category: HeadResult, feedback: HeadResult
    ) -> np.ndarray:
        return acceptance_features(
            probabilities.category,
            probabilities.feedback,
            probabilities.semantic,
            probabilities.allowed,
            category.labels,
            category.confidences,
            feedback.labels,
            feedback.confidences,
            self.categories,
            self.feedback_types,
        )

    def _consistent(
        self, probabilities: Probabilities, category: HeadResult, feedback: HeadResult
    ) -> None:
        """A message that is only feedback has a feedback type: where the heads disagree
        (category 'feedback', type 'none'), the likelier of the two consistent pairs wins."""
        if FEEDBACK not in self.categories or NO_FEEDBACK not in self.feedback_types:
            return
        fb_column = self.categories.index(FEEDBACK)
        none_column = self.feedback_types.index(NO_FEEDBACK)
        for row, (c, f) in enumerate(zip(category.labels, feedback.labels, strict=True)):
            if c != FEEDBACK or f != NO_FEEDBACK:
                continue
            p_c, p_f = probabilities.category[row].copy(), probabilities.feedback[row].copy()
            p_c[fb_column], p_f[none_column] = 0.0, 0.0
            other_category, some_feedback = int(p_c.argmax()), int(p_f.argmax())
            keep_category = category.confidences[row] * p_f[some_feedback]
            keep_feedback = p_c[other_category] * feedback.confidences[row]
            if keep_category >= keep_feedback:
                feedback.labels[row] = self.feedback_types[some_feedback]
                feedback.confidences[row] = float(p_f[some_feedback])
            else:
                category.labels[row] = self.categories[other_category]
                category.confidences[row] = float(p_c[other_category])

    def predict(
        self,
        texts: Sequence[str],
        allowed_categories: Sequence[set[str] | frozenset[str] | None] | None = None,
        embedding_texts: Sequence[str] | None = None,
        embed: Callable[[Sequence[str]], MessageEmbeddings] | None = None,
    ) -> tuple[HeadResult, HeadResult]:
        """Predict both heads for prepared texts (see ``text.model_text``).

        The semantic stage runs when the model has one and ``embedding_texts`` are given
        (``embed`` maps message texts to semantic features; default: the bundled e5 model,
        see ``embedding.embed_messages``); without them this is the fast path.
        """
        return self.decide(self.probabilities(texts, allowed_categories, embedding_texts, embed))

    def probabilities(
        self,
        texts: Sequence[str],
        allowed_categories: Sequence[set[str] | frozenset[str] | None] | None = None,
        embedding_texts: Sequence[str] | None = None,
        embed: Callable[[Sequence[str]], MessageEmbeddings] | None = None,
    ) -> Probabilities:
        mask = self.category_mask(allowed_categories, len(texts))
        semantic = None
        if self.has_semantic_stage and embedding_texts is not None:
            if embed is None:
                from triage_desk.classifier.embedding import embed_messages

                embed = embed_messages
            chosen_embed = embed

            def semantic(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
                return self.semantic_raw(chosen_embed([embedding_texts[r] for r in rows]))

        return self.combine(self.fast_raw(texts), mask, semantic)


def _best(classes: Sequence[str], proba: np.ndarray) -> HeadResult:
    index = proba.argmax(axis=1)
    return HeadResult(
        labels=[str(classes[i]) for i in index],
        confidences=[float(p) for p in proba[np.arange(len(index)), index]],
    )
