"""The classifier as the pipeline uses it: one call per message, model loaded once."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from triage_desk.classifier.language import detect_language
from triage_desk.classifier.model import TriageModel
from triage_desk.classifier.text import model_text


@dataclass(frozen=True)
class Prediction:
    category: str
    category_confidence: float
    feedback_type: str
    feedback_confidence: float
    confidence: float  # the lower of the two heads: both must be right to auto-accept
    auto_accept: bool
    language: str
    model_version: str


@dataclass(frozen=True)
class ClassifierInput:
    subject: str
    body: str
    allowed_categories: set[str] | None = None
    default_language: str = "lv"


class Classifier:
    def __init__(self, model: TriageModel, meta: dict[str, Any]) -> None:
        self.model = model
        self.meta = meta
        self.version: str = meta.get("version", "unknown")
        self.threshold: float = float(meta.get("auto_accept_threshold", 1.01))

    def classify_many(self, items: Sequence[ClassifierInput]) -> list[Prediction]:
        texts = [model_text(i.subject, i.body) for i in items]
        category, feedback = self.model.predict(texts, [i.allowed_categories for i in items])
        results = []
        for index, item in enumerate(items):
            cat_conf = category.confidences[index]
            fb_conf = feedback.confidences[index]
            confidence = min(cat_conf, fb_conf)
            results.append(
                Prediction(
                    category=category.labels[index],
                    category_confidence=round(cat_conf, 4),
                    feedback_type=feedback.labels[index],
                    feedback_confidence=round(fb_conf, 4),
                    confidence=round(confidence, 4),
                    auto_accept=confidence >= self.threshold,
                    language=detect_language(
                        f"{item.subject}\n{item.body}", default=item.default_language
                    ),
                    model_version=self.version,
                )
            )
        return results

    def classify(self, item: ClassifierInput) -> Prediction:
        return self.classify_many([item])[0]
