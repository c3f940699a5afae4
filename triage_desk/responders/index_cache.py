"""A folder of vectorised knowledge-base indexes, so a process loads them instead of building.

Vectorising one desk's articles takes ~0.2 s; an intake worker would spend it before its first
mail. The arrays are saved as ``.npz`` (read with ``allow_pickle=False``: nothing in the file
can run code) under a name made from everything they are derived from: the articles and the
source of the code that vectorises them. A changed article or a changed analyser is a new
name, so a stale file is never read; a missing or unreadable one is built again.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)


def fingerprint(parts: Iterable[str], sources: Iterable[Path]) -> str:
    """A short digest of ``parts`` (the inputs) and of the ``sources`` files' bytes."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode("utf-8", "surrogatepass"))
        digest.update(b"\0")
    for source in sources:
        digest.update(source.read_bytes())
    return digest.hexdigest()[:24]


def load(path: Path) -> dict[str, np.ndarray] | None:
    """The saved arrays, or None when there is no (readable) file."""
    try:
        with np.load(path, allow_pickle=False) as saved:
            return {name: saved[name] for name in saved.files}
    except FileNotFoundError:
        return None
    except Exception as exc:  # a torn or foreign file: build again, and say so
        log.warning("cannot read the knowledge-base index %s (%s); building it again", path, exc)
        return None


def save(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write atomically (readers never see half a file); a failure is only logged."""
    temporary = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        with os.fdopen(handle, "wb") as out:
            np.savez(out, **arrays)
        os.replace(temporary, path)
    except OSError as exc:
        log.warning("cannot save the knowledge-base index to %s: %s", path, exc)
        if temporary is not None:
            Path(temporary).unlink(missing_ok=True)
