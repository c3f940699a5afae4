"""An attention network over a message's sentences: the semantic feedback head's third opinion.

A request that carries one evaluative sentence among many neutral ones ("And a small wish:
please add the template's name to the error text") is the commonest feedback-type mistake.
The other semantic feedback heads see the message as the mean and maximum of its sentence
vectors plus a linear score per sentence; this network reads each sentence through a hidden
layer of its own, weighs the sentences by a learned attention (a softmax over the message's
sentences), and classifies the weighted sum beside the hidden layer's maximum over sentences
(multiple-instance learning: the message's label, the sentences' evidence).

Out of fold on the train split (5 folds, cascade, fold seeds 0–2), averaged in with the
regression and the networks of ``network`` (a third each): feedback macro-F1 0.890 / 0.888
/ 0.888 → 0.898 / 0.896 / 0.898; always asking the semantic stage 0.893 → 0.904. Tried on
fold seed 1: 64 or 256 hidden units, 0.891 and 0.889 against 0.895 with 128; weight penalty
1e-4, 0.894 against 1e-2, 0.895; learning rate 5e-4, 0.893; two members 0.896, one 0.895.

Fitted here with NumPy (Adam, mini-batches of messages, early stopping on a tenth of them
held out): scikit-learn has no such model, and the arrays are all prediction needs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from triage_desk.classifier.embedding import MessageEmbeddings

HIDDEN_UNITS = 128
PENALTY = 1e-2  # L2 on the two weight matrices
MEMBERS = 2  # networks from different random starts, averaged
LEARNING_RATE = 2e-3
BATCH_MESSAGES = 64
MAX_EPOCHS = 60
PATIENCE = 6  # epochs without a lower held-out loss before stopping


@dataclass
class SentenceNetworkHead:
    """``MEMBERS`` attention networks over standardised sentence vectors, averaged."""

    mean: np.ndarray  # (features,)
    scale: np.ndarray  # (features,)
    hidden_weights: np.ndarray  # (members, features, hidden)
    hidden_bias: np.ndarray  # (members, hidden)
    attention: np.ndarray  # (members, hidden)
    output_weights: np.ndarray  # (members, 2 * hidden, classes)
    output_bias: np.ndarray  # (members, classes)
    classes_: np.ndarray

    def predict_proba(self, embeddings: MessageEmbeddings) -> np.ndarray:
        """Class probabilities per message of ``embeddings``."""
        if not len(embeddings):
            return np.empty((0, len(self.classes_)))
        inputs = (np.asarray(embeddings.vectors, dtype=np.float32) - self.mean) / self.scale
        starts = np.asarray(embeddings.offsets[:-1])
        total = np.zeros((len(starts), len(self.classes_)))
        for member in range(len(self.hidden_weights)):
            params = _Params(
                self.hidden_weights[member],
                self.hidden_bias[member],
                self.attention[member],
                self.output_weights[member],
                self.output_bias[member],
            )
            total += _softmax(_forward(params, inputs, starts).logits.astype(np.float64))
        return total / len(self.hidden_weights)


def fit_sentence_network(
    embeddings: MessageEmbeddings, labels: Sequence[str], members: int = MEMBERS
) -> SentenceNetworkHead:
    """Fit ``members`` networks (seeds 0, 1, …) on each message's sentence vectors."""
    labels = np.asarray(labels)
    classes = np.unique(labels)
    targets = np.searchsorted(classes, labels)
    vectors = np.asarray(embeddings.vectors, dtype=np.float32)
    mean = vectors.mean(axis=0)
    scale = vectors.std(axis=0) + 1e-6
    inputs = (vectors - mean) / scale
    offsets = np.asarray(embeddings.offsets)
    fitted = [_fit_one(inputs, offsets, targets, len(classes), seed) for seed in range(members)]
    return SentenceNetworkHead(
        mean=mean.astype(np.float32),
        scale=scale.astype(np.float32),
        hidden_weights=np.stack([p.hidden_weights for p in fitted]),
        hidden_bias=np.stack([p.hidden_bias for p in fitted]),
        attention=np.stack([p.attention for p in fitted]),
        output_weights=np.stack([p.output_weights for p in fitted]),
        output_bias=np.stack([p.output_bias for p in fitted]),
        classes_=np.asarray(classes, dtype=object),
    )


# --------------------------------------------------------------------------- the network


@dataclass
class _Params:
    hidden_weights: np.ndarray
    hidden_bias: np.ndarray
    attention: np.ndarray
    output_weights: np.ndarray
    output_bias: np.ndarray

    def as_list(self) -> list[np.ndarray]:
        return [
            self.hidden_weights,
            self.hidden_bias,
            self.attention,
            self.output_weights,
            self.output_bias,
        ]


@dataclass
class _Pass:
    hidden: np.ndarray  # (sentences, hidden), after ReLU
    weights: np.ndarray  # (sentences,): attention, summing to 1 within each message
    maxima: np.ndarray  # (messages, hidden)
    pooled: np.ndarray  # (messages, 2 * hidden): attention-weighted sum, then maxima
    logits: np.ndarray  # (messages, classes)
    owner: np.ndarray  # (sentences,): the message of each sentence


def _forward(params: _Params, inputs: np.ndarray, starts: np.ndarray) -> _Pass:
    """``starts``: where each message's sentences begin in ``inputs`` (contiguous, ≥ 1 each)."""
    counts = np.diff(np.append(starts, len(inputs)))
    owner = np.repeat(np.arange(len(starts)), counts)
    hidden = np.maximum(inputs @ params.hidden_weights + params.hidden_bias, 0.0)
    scores = hidden @ params.attention
    scores = np.exp(scores - np.maximum.reduceat(scores, starts)[owner])
    weights = scores / np.add.reduceat(scores, starts)[owner]
    weighted = np.add.reduceat(weights[:, None] * hidden, starts, axis=0)
    maxima = np.maximum.reduceat(hidden, starts, axis=0)
    pooled = np.hstack([weighted, maxima])
    logits = pooled @ params.output_weights + params.output_bias
    return _Pass(hidden, weights, maxima, pooled, logits, owner)


def _softmax(logits: np.ndarray) -> np.ndarray:
    out = np.exp(logits - logits.max(axis=1, keepdims=True))
    return out / out.sum(axis=1, keepdims=True)


def _loss_and_gradients(
    params: _Params,
    inputs: np.ndarray,
    starts: np.ndarray,
    targets: np.ndarray,
    class_weights: np.ndarray,
    penalty: float,
) -> tuple[float, list[np.ndarray]]:
    """Class-weighted cross-entropy (plus the L2 penalty) and its gradient per parameter."""
    run = _forward(params, inputs, starts)
    rows = np.arange(len(targets))
    weights = class_weights[targets]
    weights = weights / weights.sum()
    log_p = run.logits - run.logits.max(axis=1, keepdims=True)
    log_p -= np.log(np.exp(log_p).sum(axis=1, keepdims=True))
    loss = -(weights * log_p[rows, targets]).sum() + 0.5 * penalty * (
        (params.hidden_weights**2).sum() + (params.output_weights**2).sum()
    )
    d_logits = np.exp(log_p)
    d_logits[rows, targets] -= 1.0
    d_logits *= weights[:, None]
    d_output_weights = run.pooled.T @ d_logits + penalty * params.output_weights
    d_pooled = d_logits @ params.output_weights.T
    units = params.hidden_bias.shape[0]
    d_weighted, d_maxima = d_pooled[:, :units][run.owner], d_pooled[:, units:][run.owner]
    # through the attention-weighted sum: to the sentences and to their weights
    d_hidden = run.weights[:, None] * d_weighted
    d_weight = (run.hidden * d_weighted).sum(axis=1)
    message_total = np.add.reduceat(run.weights * d_weight, starts)[run.owner]
    d_score = run.weights * (d_weight - message_total)  # through the softmax over sentences
    d_hidden += np.outer(d_score, params.attention)
    d_hidden += (run.hidden == run.maxima[run.owner]) * d_maxima  # through the maximum
    d_pre = d_hidden * (run.hidden > 0)
    gradients = [
        inputs.T @ d_pre + penalty * params.hidden_weights,
        d_pre.sum(axis=0),
        run.hidden.T @ d_score,
        d_output_weights,
        d_logits.sum(axis=0),
    ]
    return float(loss), gradients


def _batch(offsets: np.ndarray, messages: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The sentence rows of ``messages`` (in that order) and where each message starts."""
    counts = offsets[messages + 1] - offsets[messages]
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rows = np.repeat(offsets[messages] - starts, counts) + np.arange(counts.sum())
    return rows, starts


def _fit_one(
    inputs: np.ndarray, offsets: np.ndarray, targets: np.ndarray, classes: int, seed: int
) -> _Params:
    rng = np.random.default_rng(seed)
    features, units = inputs.shape[1], HIDDEN_UNITS
    params = _Params(
        rng.normal(0, np.sqrt(2 / features), (features, units)).astype(np.float32),
        np.zeros(units, np.float32),
        rng.normal(0, 0.01, units).astype(np.float32),
        rng.normal(0, np.sqrt(1 / (2 * units)), (2 * units, classes)).astype(np.float32),
        np.zeros(classes, np.float32),
    )
    counts = np.bincount(targets, minlength=classes)
    class_weights = (len(targets) / (classes * np.maximum(counts, 1))).astype(np.float32)
    order = rng.permutation(len(targets))
    held, learn = order[: len(order) // 10], order[len(order) // 10 :]
    held_rows, held_starts = _batch(offsets, held)
    first = [np.zeros_like(p) for p in params.as_list()]
    second = [np.zeros_like(p) for p in params.as_list()]
    best, best_params, waited, step = np.inf, params, 0, 0
    for _epoch in range(MAX_EPOCHS):
        rng.shuffle(learn)
        for start in range(0, len(learn), BATCH_MESSAGES):
            messages = learn[start : start + BATCH_MESSAGES]
            rows, starts = _batch(offsets, messages)
            _, gradients = _loss_and_gradients(
                params, inputs[rows], starts, targets[messages], class_weights, PENALTY
            )
            step += 1
            updated = []
            for index, (value, gradient) in enumerate(
                zip(params.as_list(), gradients, strict=True)
            ):  # Adam
                first[index] = 0.9 * first[index] + 0.1 * gradient
                second[index] = 0.999 * second[index] + 0.001 * gradient**2
                corrected = first[index] / (1 - 0.9**step)
                spread = np.sqrt(second[index] / (1 - 0.999**step)) + 1e-8
                updated.append((value - LEARNING_RATE * corrected / spread).astype(np.float32))
            params = _Params(*updated)
        loss, _ = _loss_and_gradients(
            params, inputs[held_rows], held_starts, targets[held], class_weights, 0.0
        )
        if loss < best - 1e-4:
            best, best_params, waited = loss, params, 0
        else:
            waited += 1
            if waited >= PATIENCE:
                break
    return best_params
