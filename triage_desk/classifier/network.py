"""A small neural-network head: the semantic feedback head's second opinion.

A logistic regression on the sentence embeddings draws straight boundaries between the
feedback types; a network with one hidden layer, fitted on the same inputs, makes different
mistakes, and the average of the two is better than either alone. Out of fold on the train
split (5 folds, cascade): feedback macro-F1 0.883 with the regression alone, 0.883 with
networks alone, 0.891 with the average (see ``model.TriageModel.semantic_raw``); auto-accept
coverage at 97 % on the dev split 61.1 % → 62.5 %.

scikit-learn's ``MLPClassifier`` fits the networks; what prediction needs is kept as plain
arrays (``NetworkHead``), so serving reads them without scikit-learn and skops stores nothing
but arrays.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

# Measured out of fold on the train split (cascade feedback macro-F1; three members, 10
# epochs' patience unless said): 256 hidden units 0.8916, 128 0.8889 (five members, patience
# 5: 0.8921 and 0.8882); weight penalty 0.1 0.8916, 0.01 0.8903, 0.3 0.8926; members 5
# 0.8925, 3 0.8916, 1 0.8873; mini-batches of 200 0.8916, 512 0.8895; classes weighted
# "balanced" like the regression heads 0.8870. A network for the category head as well was
# tried: category 0.912 → 0.917, but auto-accept coverage out of fold 0.368 → 0.354 and five
# more networks to fit.
HIDDEN_UNITS = 256
PENALTY = 0.1
# Networks from different random starts, averaged. Five were a little better (0.8925) but
# cost two thirds more model files and training time, against issue 4's limits (≤ 20 MB,
# ≤ 120 s); bench/README.md has the figures.
MEMBERS = 3
# Epochs without improvement on the held-out tenth before a network stops: 5 and 10 alike
# (five members: 0.8921 and 0.8925; three: 0.8914 and 0.8916), 5 takes two thirds of the
# time.
PATIENCE = 5


@dataclass
class NetworkHead:
    """``MEMBERS`` one-hidden-layer ReLU networks over standardised inputs, averaged."""

    mean: np.ndarray  # (features,): the inputs are standardised first
    scale: np.ndarray  # (features,)
    hidden_weights: np.ndarray  # (members, features, hidden)
    hidden_bias: np.ndarray  # (members, hidden)
    output_weights: np.ndarray  # (members, hidden, classes)
    output_bias: np.ndarray  # (members, classes)
    classes_: np.ndarray

    def predict_proba(self, matrix: np.ndarray) -> np.ndarray:
        inputs = (np.asarray(matrix, dtype=np.float32) - self.mean) / self.scale
        total = np.zeros((len(inputs), len(self.classes_)))
        for member in range(len(self.hidden_weights)):
            hidden = inputs @ self.hidden_weights[member] + self.hidden_bias[member]
            np.maximum(hidden, 0.0, out=hidden)
            scores = (hidden @ self.output_weights[member] + self.output_bias[member]).astype(
                np.float64
            )
            scores -= scores.max(axis=1, keepdims=True)
            np.exp(scores, out=scores)
            total += scores / scores.sum(axis=1, keepdims=True)
        return total / len(self.hidden_weights)


def fit_network_head(
    matrix: np.ndarray, labels: Sequence[str], members: int = MEMBERS
) -> NetworkHead:
    """Fit ``members`` networks (seeds 0, 1, …; each stops early on a tenth of the rows held
    out) and keep their weights."""
    from sklearn.preprocessing import StandardScaler

    labels = np.asarray(labels)
    classes = np.unique(labels)
    if len(classes) < 3:
        # A two-class network has one logistic output, not a softmax: not worth a second
        # code path for a case the feedback head (five types) never meets.
        raise ValueError(f"a network head needs three or more classes, got {classes.tolist()}")
    scaler = StandardScaler().fit(matrix)
    inputs = scaler.transform(matrix)
    return network_head(scaler, [_network(seed).fit(inputs, labels) for seed in range(members)])


def _network(seed: int):  # -> MLPClassifier
    from sklearn.neural_network import MLPClassifier

    return MLPClassifier(
        (HIDDEN_UNITS,),
        alpha=PENALTY,
        max_iter=200,
        early_stopping=True,
        validation_fraction=0.1,
        n_iter_no_change=PATIENCE,
        random_state=seed,
    )


def network_head(scaler, networks: Sequence) -> NetworkHead:
    """The arrays of a fitted ``StandardScaler`` and of ``MLPClassifier``s with one hidden
    ReLU layer and the same classes."""
    classes = list(networks[0].classes_)
    for network in networks:
        if (
            list(network.classes_) != classes
            or len(network.coefs_) != 2
            or (network.activation != "relu" or network.out_activation_ != "softmax")
        ):
            raise ValueError(
                "network_head: every network needs one ReLU layer, a softmax "
                "output and the same classes"
            )

    def stacked(values: list[np.ndarray]) -> np.ndarray:
        return np.stack(values).astype(np.float32)

    return NetworkHead(
        mean=scaler.mean_.astype(np.float32),
        # StandardScaler leaves a constant column's scale at 1: no division by zero
        scale=scaler.scale_.astype(np.float32),
        hidden_weights=stacked([n.coefs_[0] for n in networks]),
        hidden_bias=stacked([n.intercepts_[0] for n in networks]),
        output_weights=stacked([n.coefs_[1] for n in networks]),
        output_bias=stacked([n.intercepts_[1] for n in networks]),
        classes_=np.asarray(classes, dtype=object),
    )
