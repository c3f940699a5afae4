"""The classifier as the pipeline uses it: one call per message, model loaded once.

Every message goes through the fast stage (n-gram TF-IDF, tens of microseconds); only those
it is unsure of go on to the semantic stage (sentence embeddings, tens of milliseconds),
whose opinion is blended in. ``semantic=False`` keeps everything on the fast path.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from triage_desk.classifier.embedding import embedding_text
from triage_desk.classifier.language import detect_languages
from triage_desk.classifier.model import TriageModel
from triage_desk.classifier.text import clip, model_text
from triage_desk.config import DEFAULT_MAX_INPUT_CHARS


@dataclass(frozen=True)
class Prediction:
    category: str
    category_confidence: float
    feedback_type: str
    feedback_confidence: float
    # P(category and feedback type both right), the acceptance model's: auto-accept compares
    # it with the version's threshold
    confidence: float
    auto_accept: bool
    language: str
    model_version: str
    stage: str = "fast"  # "fast", or "semantic" when the embedding stage was asked too
    # The fast stage was unsure and the semantic stage was not asked (``semantic=False``):
    # a later refinement (``triage_desk.refiner``) should ask it.
    needs_refinement: bool = False

    def suggestion_fields(self) -> dict[str, Any]:
        """What a stored suggestion keeps of this prediction (``storage.models.Suggestion``)."""
        return {
            "category": self.category,
            "category_confidence": self.category_confidence,
            "feedback_type": self.feedback_type,
            "feedback_confidence": self.feedback_confidence,
            "confidence": self.confidence,
            "auto_accept": self.auto_accept,
            "model_version": self.model_version,
            "stage": self.stage,
        }


@dataclass(frozen=True)
class ClassifierInput:
    subject: str
    body: str
    allowed_categories: set[str] | None = None
    default_language: str = "lv"

    def clipped(self, max_chars: int) -> ClassifierInput:
        """This input with subject and body cut to ``max_chars`` together (``text.clip``)."""
        subject, body = clip(self.subject, self.body, max_chars)
        if subject is self.subject and body is self.body:
            return self
        return replace(self, subject=subject, body=body)


class Classifier:
    """``max_input_chars`` (``classifier.max_input_chars``): no stage, language detection
    included, reads more of a message than that, whoever asks (intake, the refiner,
    ``triage classify``)."""

    def __init__(
        self,
        model: TriageModel,
        meta: dict[str, Any],
        semantic: bool = True,
        max_input_chars: int = DEFAULT_MAX_INPUT_CHARS,
    ) -> None:
        self.model = model
        self.meta = meta
        self.version: str = meta.get("version", "unknown")
        self.threshold: float = float(meta.get("auto_accept_threshold", 1.01))
        self.semantic = semantic and model.has_semantic_stage
        self.max_input_chars = max_input_chars

    def warm_up(self) -> None:
        """Load the language models and the embedder now rather than on the first message."""
        from triage_desk.classifier import embedding, language

        language.warm_up()
        if self.semantic:
            embedding.warm_up()

    def classify_many(
        self, items: Sequence[ClassifierInput], semantic: bool | None = None
    ) -> list[Prediction]:
        if not items:
            return []
        use_semantic = self.semantic if semantic is None else semantic and self.semantic
        items = [item.clipped(self.max_input_chars) for item in items]
        texts = [model_text(i.subject, i.body) for i in items]
        probabilities = self.model.probabilities(
            texts,
            [i.allowed_categories for i in items],
            [embedding_text(i.subject, i.body) for i in items] if use_semantic else None,
        )
        category, feedback = self.model.decide(probabilities)
        confidences = self.model.confidence(probabilities, category, feedback)
        languages = detect_languages(
            [f"{i.subject}\n{i.body}" if i.subject else i.body for i in items],
            [i.default_language for i in items],
        )
        results = []
        for index in range(len(items)):
            cat_conf = category.confidences[index]
            fb_conf = feedback.confidences[index]
            confidence = float(confidences[index])
            results.append(
                Prediction(
                    category=category.labels[index],
                    category_confidence=round(cat_conf, 4),
                    feedback_type=feedback.labels[index],
                    feedback_confidence=round(fb_conf, 4),
                    confidence=round(confidence, 4),
                    auto_accept=confidence >= self.threshold,
                    language=languages[index],
                    model_version=self.version,
                    stage="semantic" if probabilities.semantic[index] else "fast",
                    needs_refinement=bool(
                        self.semantic
                        and not probabilities.semantic[index]
                        and probabilities.unsure is not None
                        and probabilities.unsure[index]
                    ),
                )
            )
        return results

    def classify(self, item: ClassifierInput) -> Prediction:
        return self.classify_many([item])[0]
