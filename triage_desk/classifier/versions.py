"""Making a model version: train, save, and activate it — only if it is not worse."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from triage_desk.classifier.data import Example
from triage_desk.classifier.store import ModelNotFound, ModelStore
from triage_desk.classifier.training import evaluate, train

# Retraining on the same data gives the same figures; a handful of new examples moves a
# head's dev macro-F1 by up to ~0.005 either way without changing what the model knows.
TOLERANCE = 0.005


@dataclass(frozen=True)
class Outcome:
    version: str
    meta: dict[str, Any]
    activated: bool
    previous: dict[str, Any] | None  # the active version's figures on today's dev split


def not_worse(new: dict[str, Any], old: dict[str, Any]) -> bool:
    """Each head's macro-F1 and the suspension recall at least as good (within TOLERANCE)."""
    for key in ("category_macro_f1", "feedback_macro_f1", "suspension_recall"):
        if new.get(key) is None or old.get(key) is None:
            continue
        if float(new[key]) < float(old[key]) - TOLERANCE:
            return False
    return True


def previous_figures(store: ModelStore, dev: Sequence[Example]) -> dict[str, Any] | None:
    """The active version measured on ``dev`` now (its saved figures may be from older data)."""
    try:
        model, meta = store.load()
    except ModelNotFound:
        return None
    result = evaluate(model, dev, threshold=float(meta.get("auto_accept_threshold", 1.01)))
    return {
        "version": meta.get("version"),
        "category_macro_f1": round(result.category_macro_f1, 4),
        "feedback_macro_f1": round(result.feedback_macro_f1, 4),
        "suspension_recall": result.details["suspension_recall"],
    }


def train_version(
    store: ModelStore,
    examples: Sequence[Example],
    extra: Sequence[Example] = (),
    compare: bool = False,
    say: Callable[[str], None] | None = None,
    semantic: bool = True,
) -> Outcome:
    """Train on ``examples`` (+ ``extra``) and save a version.

    With ``compare`` the version is activated only if it is not worse than the active one on
    the dev split; otherwise it is activated.
    """
    model, meta = train(examples, progress=say, extra=extra, semantic=semantic)
    previous = None
    activate = True
    if compare:
        if say:
            say("measuring the active model on the same dev split")
        previous = previous_figures(store, [e for e in examples if e.split == "dev"])
        if previous is not None:
            activate = not_worse(meta, previous)
            meta["compared_with"] = previous
    version = store.save(model, meta, activate=activate)
    return Outcome(version, store.load(version)[1], activate, previous)
