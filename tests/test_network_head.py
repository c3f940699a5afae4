"""The network head's arrays predict what scikit-learn's networks predict."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import StandardScaler

from triage_desk.classifier.network import fit_network_head, network_head

# Convergence does not matter here: the tests compare arrays with the networks they came from.
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _data(rows: int = 300, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = rng.choice(np.array(["none", "praise", "suggestion", "complaint"]), rows)
    matrix = rng.normal(size=(rows, 12)).astype(np.float32) * 3 + 1
    for column, label in enumerate(("praise", "suggestion", "complaint")):
        matrix[:, column] += (labels == label) * 6.0  # something to learn
    return matrix, labels


def test_the_arrays_give_the_average_of_the_networks():
    matrix, labels = _data()
    scaler = StandardScaler().fit(matrix)
    networks = [
        MLPClassifier((16,), max_iter=1000, random_state=seed).fit(scaler.transform(matrix), labels)
        for seed in (0, 1)
    ]
    head = network_head(scaler, networks)
    unseen, _ = _data(50, seed=1)
    expected = np.mean([n.predict_proba(scaler.transform(unseen)) for n in networks], axis=0)
    np.testing.assert_allclose(head.predict_proba(unseen), expected, rtol=1e-4, atol=1e-5)
    assert list(head.classes_) == list(networks[0].classes_)


def test_fitted_head_learns_and_its_probabilities_sum_to_one():
    matrix, labels = _data(600)
    head = fit_network_head(matrix, labels, members=2)
    proba = head.predict_proba(matrix)
    assert proba.shape == (600, 4)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    predicted = np.asarray(head.classes_)[proba.argmax(axis=1)]
    assert (predicted == labels).mean() > 0.7  # four classes: chance is ~0.25
    assert head.hidden_weights.shape[0] == 2 and head.hidden_weights.dtype == np.float32


def test_two_classes_are_refused():
    matrix, labels = _data()
    with pytest.raises(ValueError, match="three or more classes"):
        fit_network_head(matrix, np.where(labels == "none", "none", "other"))


def test_networks_of_another_shape_are_refused():
    matrix, labels = _data()
    scaler = StandardScaler().fit(matrix)
    deep = MLPClassifier((8, 8), max_iter=1000, random_state=0).fit(
        scaler.transform(matrix), labels
    )
    with pytest.raises(ValueError, match="one ReLU layer"):
        network_head(scaler, [deep])
