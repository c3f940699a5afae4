"""The model as intake serves it: plain arrays, loaded without scikit-learn.

A model version is saved twice: as a skops file (the full scikit-learn objects, for
evaluation and retraining) and as a serving pair, ``serving.npz`` (arrays only, read with
``allow_pickle=False``, so nothing in it can run code) plus ``serving.json`` (labels,
settings, scalars). Prediction needs only each head's coefficients, intercepts and classes,
the network heads' layers, the feature vocabulary and the acceptance model's weights;
loading the pair instead of the skops file keeps scikit-learn (a heavy import in memory and
time; bench/README.md) out of every intake process. A test checks that both give the same
probabilities and confidences.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np

from triage_desk.classifier.acceptance import AcceptanceModel
from triage_desk.classifier.features import TextFeatures
from triage_desk.classifier.model import Settings, TriageModel
from triage_desk.classifier.network import NetworkHead
from triage_desk.classifier.sentence_network import SentenceNetworkHead

SERVING_ARRAYS = "serving.npz"
SERVING_META = "serving.json"


@dataclasses.dataclass
class LinearHead:
    """What prediction reads from a fitted LogisticRegression."""

    coef_: np.ndarray
    intercept_: np.ndarray
    classes_: np.ndarray

    def predict_proba(self, matrix: Any) -> np.ndarray:
        scores = np.asarray(matrix @ self.coef_.T).reshape(-1, self.coef_.shape[0])
        scores = scores + self.intercept_
        if self.coef_.shape[0] == 1:  # two classes: the logistic of one score
            positive = 1.0 / (1.0 + np.exp(-scores[:, 0]))
            return np.column_stack([1.0 - positive, positive])
        scores -= scores.max(axis=1, keepdims=True)
        np.exp(scores, out=scores)
        return scores / scores.sum(axis=1, keepdims=True)


def _is_head(value: object) -> bool:
    return all(hasattr(value, a) for a in ("coef_", "intercept_", "classes_"))


def export(model: TriageModel, folder: Path) -> None:
    """Write the serving pair for ``model`` into ``folder``."""
    arrays: dict[str, np.ndarray] = {}
    meta: dict[str, Any] = {"heads": {}, "networks": {}, "scalars": {}, "features": {}}
    for name, value in vars(model).items():
        if value is None or isinstance(value, bool | int | float | str):
            meta["scalars"][name] = value
        elif isinstance(value, _NETWORKS):  # before _is_head: they have classes_ too
            kind = type(value)
            meta["networks"][name] = {
                "type": kind.__name__,
                "classes": [str(c) for c in value.classes_],
            }
            for key in _arrays_of(kind):
                arrays[f"{name}.{key}"] = np.asarray(getattr(value, key))
        elif _is_head(value):
            classes = [str(c) for c in value.classes_]
            meta["heads"][name] = classes
            arrays[f"{name}.coef"] = np.asarray(value.coef_)
            arrays[f"{name}.intercept"] = np.asarray(value.intercept_)
        elif isinstance(value, TextFeatures):
            meta["features_attribute"] = name
            for key, item in value.__getstate__().items():
                if isinstance(item, np.ndarray):
                    arrays[f"features.{key}"] = item
                else:
                    meta["features"][key] = list(item) if isinstance(item, tuple) else item
        elif isinstance(value, Settings):
            meta["settings"] = dataclasses.asdict(value)
        elif isinstance(value, AcceptanceModel):
            arrays[f"{name}.coef"] = np.asarray(value.coef, dtype=np.float64)
            meta["acceptance"] = {
                "attribute": name,
                "features": list(value.features),
                "intercept": float(value.intercept),
            }
        else:
            raise TypeError(
                f"serving: TriageModel.{name} is a {type(value).__name__}; teach "
                "classifier/serving.py to save it"
            )
    np.savez(folder / SERVING_ARRAYS, **arrays)
    (folder / SERVING_META).write_text(json.dumps(meta, indent=1, ensure_ascii=False) + "\n")


# Heads that are dataclasses of arrays plus their classes, saved field by field.
_NETWORKS = (NetworkHead, SentenceNetworkHead)


def _arrays_of(kind: type) -> list[str]:
    return [f.name for f in dataclasses.fields(kind) if f.name != "classes_"]


def exists(folder: Path) -> bool:
    return (folder / SERVING_ARRAYS).exists() and (folder / SERVING_META).exists()


def load(folder: Path) -> TriageModel:
    """The serving pair back as a TriageModel whose heads are ``LinearHead``s."""
    meta = json.loads((folder / SERVING_META).read_text())
    with np.load(folder / SERVING_ARRAYS, allow_pickle=False) as stored:
        arrays = {key: stored[key] for key in stored.files}
    model = TriageModel.__new__(TriageModel)  # no scikit-learn heads to make
    for name, value in meta["scalars"].items():
        setattr(model, name, value)
    for name, classes in meta["heads"].items():
        setattr(
            model,
            name,
            LinearHead(
                arrays[f"{name}.coef"],
                arrays[f"{name}.intercept"],
                np.asarray(classes, dtype=object),
            ),
        )
    kinds = {kind.__name__: kind for kind in _NETWORKS}
    for name, stored in meta.get("networks", {}).items():
        kind = kinds[stored["type"]]
        setattr(
            model,
            name,
            kind(
                **{key: arrays[f"{name}.{key}"] for key in _arrays_of(kind)},
                classes_=np.asarray(stored["classes"], dtype=object),
            ),
        )
    features = TextFeatures.__new__(TextFeatures)
    state: dict[str, Any] = {
        key: tuple(v) if isinstance(v, list) else v for key, v in meta["features"].items()
    }
    state.update(
        {
            key.removeprefix("features."): value
            for key, value in arrays.items()
            if key.startswith("features.")
        }
    )
    features.__setstate__(state)
    setattr(model, meta["features_attribute"], features)
    model.settings = Settings(**meta["settings"])
    if "acceptance" in meta:
        stored = meta["acceptance"]
        setattr(
            model,
            stored["attribute"],
            AcceptanceModel(
                stored["features"], arrays[f"{stored['attribute']}.coef"], stored["intercept"]
            ),
        )
    return model
