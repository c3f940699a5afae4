"""The bundled, team-written training data (JSON Lines under classifier/data/)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

DATA_DIR = Path(__file__).parent / "data"
REQUIRED = ("id", "desk", "language", "channel", "body", "category", "feedback_type", "split")


@dataclass(frozen=True)
class Example:
    id: str
    desk: str
    language: str
    channel: str
    subject: str
    body: str
    category: str
    feedback_type: str
    split: str  # "train" or "dev"; the dev split is never trained on


def _read(path: Path) -> Iterator[Example]:
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{number}: not JSON: {exc}") from None
            missing = [key for key in REQUIRED if key not in row]
            if missing:
                raise ValueError(f"{path}:{number}: missing keys {missing}")
            yield Example(
                id=row["id"],
                desk=row["desk"],
                language=row["language"],
                channel=row["channel"],
                subject=row.get("subject") or "",
                body=row["body"],
                category=row["category"],
                feedback_type=row["feedback_type"],
                split=row["split"],
            )


def load_examples(paths: Iterable[Path] | None = None) -> list[Example]:
    """Every example in the given files (default: all bundled ``*.jsonl``), in a stable order."""
    files = sorted(paths) if paths is not None else sorted(DATA_DIR.glob("*.jsonl"))
    examples = [example for path in files for example in _read(path)]
    if not examples:
        raise ValueError(f"no training examples found in {[str(p) for p in files]}")
    return examples


def data_hash(examples: Iterable[Example]) -> str:
    """A fingerprint of the training data, recorded with every model version."""
    digest = hashlib.sha256()
    for example in examples:
        digest.update(json.dumps(example.__dict__, sort_keys=True, ensure_ascii=False).encode())
    return digest.hexdigest()
