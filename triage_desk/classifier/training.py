"""Training a model version and measuring it on the held-out dev split."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sklearn.metrics import f1_score

from triage_desk.classifier.data import Example, data_hash
from triage_desk.classifier.model import TriageModel
from triage_desk.classifier.text import model_text

# Auto-accepted suggestions must be right at least this often on the dev split.
TARGET_PRECISION = 0.97


@dataclass
class Evaluation:
    category_macro_f1: float
    feedback_macro_f1: float
    auto_accept_threshold: float
    auto_accept_precision: float
    auto_accept_coverage: float
    size: int
    details: dict[str, Any] = field(default_factory=dict)


def allowed_for(examples: Sequence[Example]) -> dict[str, set[str]]:
    """The categories seen per desk, used to restrict predictions to the message's desk."""
    allowed: dict[str, set[str]] = {}
    for example in examples:
        allowed.setdefault(example.desk, set()).add(example.category)
    return allowed


def choose_threshold(
    confidences: Sequence[float], correct: Sequence[bool], target: float = TARGET_PRECISION
) -> tuple[float, float, float]:
    """The lowest confidence threshold whose accepted suggestions reach ``target`` precision.

    Returns (threshold, precision, coverage). If no threshold reaches the target, the
    threshold is above 1 and nothing is auto-accepted.
    """
    pairs = sorted(zip(confidences, correct, strict=True), key=lambda p: -p[0])
    best = (1.01, 1.0, 0.0)
    right = 0
    for index, (confidence, ok) in enumerate(pairs, 1):
        right += ok
        # Only cut between distinct confidences: ties are accepted or refused together.
        if index < len(pairs) and pairs[index][0] == confidence:
            continue
        precision = right / index
        if precision >= target:
            best = (confidence, precision, index / len(pairs))
    return best


def evaluate(model: TriageModel, examples: Sequence[Example]) -> Evaluation:
    allowed = allowed_for(examples)
    texts = [model_text(e.subject, e.body) for e in examples]
    category, feedback = model.predict(texts, [allowed.get(e.desk) for e in examples])
    gold_category = [e.category for e in examples]
    gold_feedback = [e.feedback_type for e in examples]
    both_right = [
        c == gc and f == gf
        for c, gc, f, gf in zip(
            category.labels, gold_category, feedback.labels, gold_feedback, strict=True
        )
    ]
    confidence = [
        min(a, b) for a, b in zip(category.confidences, feedback.confidences, strict=True)
    ]
    threshold, precision, coverage = choose_threshold(confidence, both_right)
    return Evaluation(
        category_macro_f1=float(f1_score(gold_category, category.labels, average="macro")),
        feedback_macro_f1=float(f1_score(gold_feedback, feedback.labels, average="macro")),
        auto_accept_threshold=threshold,
        auto_accept_precision=precision,
        auto_accept_coverage=coverage,
        size=len(examples),
        details={"category_pred": category.labels, "feedback_pred": feedback.labels},
    )


def train(
    examples: Sequence[Example], progress: Callable[[str], None] | None = None
) -> tuple[TriageModel, dict[str, Any]]:
    """Fit on the train split, measure on the dev split, return the model and its metadata."""
    say = progress or (lambda _message: None)
    train_set = [e for e in examples if e.split == "train"]
    dev_set = [e for e in examples if e.split == "dev"]
    if not train_set:
        raise ValueError("no examples marked split=train")
    say(f"fitting on {len(train_set)} examples")
    started = time.perf_counter()
    model = TriageModel().fit(train_set)
    seconds = time.perf_counter() - started
    meta: dict[str, Any] = {
        "data_hash": data_hash(examples),
        "train_size": len(train_set),
        "dev_size": len(dev_set),
        "training_seconds": round(seconds, 2),
        "allowed_categories": {d: sorted(c) for d, c in allowed_for(examples).items()},
        "auto_accept_threshold": 1.01,
    }
    if dev_set:
        say(f"measuring on {len(dev_set)} held-out examples")
        result = evaluate(model, dev_set)
        meta.update(
            category_macro_f1=round(result.category_macro_f1, 4),
            feedback_macro_f1=round(result.feedback_macro_f1, 4),
            auto_accept_threshold=result.auto_accept_threshold,
            auto_accept_precision=round(result.auto_accept_precision, 4),
            auto_accept_coverage=round(result.auto_accept_coverage, 4),
        )
    return model, meta
