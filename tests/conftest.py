"""Shared fixtures: the example config, both database backends, one trained model."""

from __future__ import annotations

import fcntl
import hashlib
import os
import threading
import time
import uuid
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from triage_desk.classifier.data import load_examples
from triage_desk.classifier.predict import Classifier
from triage_desk.classifier.store import ModelNotFound, ModelStore
from triage_desk.classifier.training import train
from triage_desk.config import Config, load_config
from triage_desk.storage.db import normalise_url, upgrade

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_CONFIG = ROOT / "config.example.toml"
SHARED = ROOT.parent / "shared"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

# Suites whose outcome could depend on the day they run (acknowledgement age, due times, the
# demo's dates, retry times): .ci/run runs them again under faketime at two other dates.
DATE_SENSITIVE = {
    "test_chat_assistant",
    "test_demo",
    "test_dispatcher",
    "test_email_rules",
    "test_pipeline",
    "test_refiner",
    "test_responders",
    "test_sla_due",
    "test_smtp_listener",
    "test_queue",
}


def _sleep_on_a_condition(seconds: float) -> None:
    if seconds < 0:
        raise ValueError("sleep length must be non-negative")
    threading.Event().wait(seconds)


if "faketime" in os.environ.get("LD_PRELOAD", ""):
    # libfaketime 0.9.10 with FAKETIME_DONT_FAKE_MONOTONIC=1 (as .ci/run uses it: monotonic
    # time must stay real, or every timed wait of a thread hangs) turns the absolute monotonic
    # deadline of clock_nanosleep into garbage, so time.sleep fails with EINVAL. A timed wait
    # on a condition uses the real monotonic clock and sleeps as asked.
    time.sleep = _sleep_on_a_condition


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.module is not None and item.module.__name__.rsplit(".", 1)[-1] in DATE_SENSITIVE:
            item.add_marker(pytest.mark.dates)


def postgres_url() -> str | None:
    url = os.environ.get("TRIAGE_DATABASE_URL")
    if url and url.startswith("postgres"):
        return url
    if IN_CI:
        raise RuntimeError(
            "CI=true but TRIAGE_DATABASE_URL does not name a PostgreSQL database; "
            ".ci/run must export it so the storage suite runs on PostgreSQL too"
        )
    return None


@pytest.fixture(scope="session")
def example_config() -> Config:
    return load_config(EXAMPLE_CONFIG)


# Training takes a minute or more; .ci/run's faketime runs and a developer's reruns load the
# model an earlier run trained from the same code, data and libraries instead.
MODEL_CACHE = ROOT / ".venv" / "test-models"


def _training_digest() -> str:
    digest = hashlib.sha256()
    for library in ("numpy", "scipy", "scikit-learn", "skops"):
        digest.update(f"{library}=={version(library)};".encode())
    for path in sorted((ROOT / "triage_desk" / "classifier").rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


@pytest.fixture(scope="session")
def classifier() -> Classifier:
    """One model trained on the bundled data, shared by every test that needs one."""
    folder = MODEL_CACHE / _training_digest()
    store = ModelStore(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    # Parallel workers (pytest-xdist) train once: the first holds the lock while it trains,
    # the others wait and load what it saved.
    with open(folder.parent / f"{folder.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            model, meta = store.load()
        except ModelNotFound:
            model, meta = train(load_examples())
            store.save(model, meta)
    return Classifier(model, {**meta, "version": "test"})


def _sqlite_url(tmp_path: Path) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'triage.sqlite'}"
    upgrade(url)
    yield url


def _postgres_schema_url(server_url: str) -> Iterator[str]:
    """A fresh schema per test, so tests never see each other's rows."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(normalise_url(server_url))
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in server_url else "?"
    url = f"{server_url}{separator}options=-csearch_path%3D{schema}"
    upgrade(url)
    try:
        yield url
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def _backends() -> list[object]:
    return [
        pytest.param("sqlite", id="sqlite"),
        pytest.param(
            "postgresql",
            id="postgresql",
            marks=pytest.mark.skipif(
                postgres_url() is None,
                reason="TRIAGE_DATABASE_URL is not set to a PostgreSQL URL (it is in .ci/run)",
            ),
        ),
    ]


@pytest.fixture(params=_backends())
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty database on each backend: SQLite always, PostgreSQL when configured."""
    if request.param == "sqlite":
        yield from _sqlite_url(tmp_path)
    else:
        base = postgres_url()
        assert base is not None
        yield from _postgres_schema_url(base)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> Iterator[str]:
    yield from _sqlite_url(tmp_path)


# The staff console's world and its server on a loopback port, for every test module that
# asks for ``world`` or ``base`` (a module that defines its own fixture of that name keeps it).
from tests.console_support import base, world  # noqa: E402, F401
