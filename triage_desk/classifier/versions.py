"""Making a model version: train, save, and activate it — only if it is not worse."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from triage_desk.classifier.data import Example
from triage_desk.classifier.store import ModelNotFound, ModelStore
from triage_desk.classifier.training import evaluate, train

# How much lower than the active version's a new version's dev figure may be and still count
# as "not worse". Retraining on the same data gives the same figures; a handful of new
# examples moves a head's dev macro-F1 by up to ~0.005 either way without changing what the
# model knows. Auto-accept coverage moves in steps of one dev example (~0.003 of 347): 0.01
# is three examples. Suspension recall guards the 24/7 route.
TOLERANCE = 0.005
TOLERANCES: dict[str, float] = {
    "category_macro_f1": TOLERANCE,
    "feedback_macro_f1": TOLERANCE,
    "auto_accept_coverage": 0.01,
    "suspension_recall": TOLERANCE,
}
LABELS = {
    "category_macro_f1": "category macro-F1",
    "feedback_macro_f1": "feedback macro-F1",
    "auto_accept_coverage": "auto-accept coverage",
    "suspension_recall": "suspension recall",
}


@dataclass(frozen=True)
class Figure:
    """One dev-split figure of the new and the active version."""

    key: str
    new: float | None
    old: float | None
    tolerance: float

    @property
    def change(self) -> float | None:
        return None if self.new is None or self.old is None else self.new - self.old

    @property
    def worse(self) -> bool:
        """Lower than the active version's by more than the tolerance (a figure either one
        lacks cannot be compared, and does not count against the new version)."""
        change = self.change
        return change is not None and change < -self.tolerance - 1e-9

    @property
    def label(self) -> str:
        return LABELS.get(self.key, self.key)


@dataclass(frozen=True)
class Outcome:
    version: str
    meta: dict[str, Any]
    activated: bool
    previous: dict[str, Any] | None  # the active version's figures on today's dev split
    figures: tuple[Figure, ...] = ()  # the comparison that decided, when there was one

    @property
    def worse(self) -> list[Figure]:
        return [f for f in self.figures if f.worse]


def compare_figures(
    new: dict[str, Any], old: dict[str, Any], tolerances: dict[str, float] = TOLERANCES
) -> tuple[Figure, ...]:
    """Each head's macro-F1, the auto-accept coverage and the suspension recall, new vs old."""

    def figure(values: dict[str, Any], key: str) -> float | None:
        value = values.get(key)
        return None if value is None else float(value)

    return tuple(
        Figure(key, figure(new, key), figure(old, key), tolerance)
        for key, tolerance in tolerances.items()
    )


def not_worse(new: dict[str, Any], old: dict[str, Any]) -> bool:
    """No figure of ``compare_figures`` lower than the active version's beyond its tolerance."""
    return not any(f.worse for f in compare_figures(new, old))


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
        "auto_accept_precision": round(result.auto_accept_precision, 4),
        "auto_accept_coverage": round(result.auto_accept_coverage, 4),
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
    figures: tuple[Figure, ...] = ()
    if compare:
        if say:
            say("measuring the active model on the same dev split")
        previous = previous_figures(store, [e for e in examples if e.split == "dev"])
        if previous is not None:
            figures = compare_figures(meta, previous)
            meta["compared_with"] = previous
    activate = not any(f.worse for f in figures)
    version = store.save(model, meta, activate=activate)
    return Outcome(version, store.load(version)[1], activate, previous, figures)
