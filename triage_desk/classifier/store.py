"""Model versions on disk: skops files (no code runs on load) with metadata."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from triage_desk.classifier import serving
from triage_desk.classifier.model import MODEL_FORMAT, TriageModel
from triage_desk.clock import system_clock

MODEL_FILE = "model.skops"
META_FILE = "meta.json"
ACTIVE_FILE = "ACTIVE"
# skops refuses types it does not know; these are the only ones our model is built from.
TRUSTED_PREFIXES = ("sklearn.", "numpy.", "scipy.", "triage_desk.classifier.", "builtins.")


class ModelNotFound(Exception):
    pass


@dataclass(frozen=True)
class ModelVersion:
    version: str
    path: Path
    meta: dict[str, Any]
    active: bool


class ModelStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def save(self, model: TriageModel, meta: dict[str, Any], activate: bool = True) -> str:
        stamp = system_clock().strftime("%Y%m%d-%H%M%S")
        version = f"{stamp}-{meta.get('data_hash', 'nodata')[:8]}"
        folder = self.root / version
        suffix = 1
        while folder.exists():  # two trainings in one second
            suffix += 1
            folder = self.root / f"{version}-{suffix}"
        version = folder.name
        folder.mkdir(parents=True)
        import skops.io as sio

        sio.dump(model, folder / MODEL_FILE)
        serving.export(model, folder)
        meta = {
            **meta,
            "format": getattr(model, "format", None),
            "version": version,
            "created_at": system_clock().isoformat(),
        }
        (folder / META_FILE).write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n")
        if activate:
            self.activate(version)
        return version

    def activate(self, version: str) -> None:
        if not (self.root / version / MODEL_FILE).exists():
            known = ", ".join(v.version for v in self.list()) or "none"
            raise ModelNotFound(f"no model version {version!r}; known versions: {known}")
        self._meta(version)  # a version this Triage Desk cannot read is not made active
        temp = self.root / f".{ACTIVE_FILE}.tmp"
        temp.write_text(version + "\n")
        os.replace(temp, self.root / ACTIVE_FILE)  # atomic: readers never see half a name

    def active_version(self) -> str | None:
        try:
            return (self.root / ACTIVE_FILE).read_text().strip() or None
        except FileNotFoundError:
            return None

    def unusable_reason(self, version: str) -> str | None:
        """Why this Triage Desk cannot serve ``version`` (say, a model of an older format),
        or None when it can."""
        if not (self.root / version / MODEL_FILE).exists():
            return f"model version {version!r} has no {MODEL_FILE}"
        try:
            self._meta(version)
        except (ModelNotFound, OSError, ValueError) as why:
            return str(why)
        return None

    def list(self) -> list[ModelVersion]:
        active = self.active_version()
        versions = []
        if self.root.exists():
            for folder in sorted(self.root.iterdir()):
                if (folder / MODEL_FILE).exists():
                    meta = json.loads((folder / META_FILE).read_text())
                    versions.append(ModelVersion(folder.name, folder, meta, folder.name == active))
        return versions

    def files_size(self, version: str) -> int:
        """Bytes of one version's own files (the embedder's bundled model is not ours)."""
        return sum(f.stat().st_size for f in (self.root / version).iterdir() if f.is_file())

    def load_for_serving(self, version: str | None = None) -> tuple[TriageModel, dict[str, Any]]:
        """The model for prediction only: from the serving arrays when the version has them
        (no scikit-learn import), else from the skops file."""
        version = version or self.active_version()
        if version is not None and serving.exists(self.root / version):
            meta = self._meta(version)
            return serving.load(self.root / version), meta
        return self.load(version)

    def _meta(self, version: str) -> dict[str, Any]:
        meta = json.loads((self.root / version / META_FILE).read_text())
        if meta.get("format") != MODEL_FORMAT:
            raise ModelNotFound(
                f"model {version} was saved in format {meta.get('format')!r}, this Triage Desk "
                f"reads format {MODEL_FORMAT}; run 'triage train' to make a new version"
            )
        return meta

    def load(self, version: str | None = None) -> tuple[TriageModel, dict[str, Any]]:
        import skops.io as sio

        version = version or self.active_version()
        if version is None:
            raise ModelNotFound(f"no active model in {self.root}; run 'triage train' to make one")
        path = self.root / version / MODEL_FILE
        if not path.exists():
            raise ModelNotFound(f"model file {path} is missing; run 'triage train'")
        meta = self._meta(version)
        untrusted = sio.get_untrusted_types(file=path)
        refused = [t for t in untrusted if not t.startswith(TRUSTED_PREFIXES)]
        if refused:
            raise ModelNotFound(f"model {path} contains types we do not load: {refused}")
        model = sio.load(path, trusted=untrusted)
        return model, meta
