"""CPython's email test messages (../shared/corpora/cpython-email): many are malformed on
purpose. Every file is parsed or quarantined, never an exception; for the parsed ones the
subject agrees with the stdlib's own ``policy.default`` reading (where that reading is clean).
"""

from __future__ import annotations

from email import policy
from email.parser import BytesParser
from pathlib import Path

import pytest

from tests.conftest import IN_CI, SHARED
from triage_desk.intake.email.parse import inbound_from_email
from triage_desk.intake.errors import MailRejected


def corpus(name: str) -> Path:
    folder = SHARED / "corpora" / name
    if not folder.is_dir():
        if IN_CI:
            pytest.fail(
                f"{folder} is missing and CI=true: the conformance corpora must be "
                "checked out beside the repository (../shared/corpora)"
            )
        pytest.skip(f"{folder} is absent: the shared corpora are not beside this checkout")
    return folder


def test_every_cpython_message_is_parsed_or_quarantined() -> None:
    files = sorted(corpus("cpython-email").glob("*.txt"))
    assert len(files) >= 45
    parsed, quarantined, crashed, subjects_differ = 0, [], [], []
    for path in files:
        raw = path.read_bytes()
        try:
            inbound = inbound_from_email(raw, "municipal")
        except MailRejected as exc:
            quarantined.append(f"  {path.name}: {exc.reason} ({exc.detail})")
            continue
        except Exception as exc:  # what this test exists to catch
            crashed.append(f"  {path.name}: {type(exc).__name__}: {exc}")
            continue
        parsed += 1
        stdlib = str(BytesParser(policy=policy.default).parsebytes(raw).get("Subject", "") or "")
        if "\ufffd" not in stdlib and " ".join(stdlib.split()) != " ".join(inbound.subject.split()):
            subjects_differ.append(f"  {path.name}: ours={inbound.subject!r} stdlib={stdlib!r}")
    report = "\n".join(
        [
            f"cpython-email: {parsed} parsed, {len(quarantined)} quarantined, "
            f"{len(crashed)} crashed, of {len(files)}",
            *quarantined,
            f"subjects that differ from policy.default's: {len(subjects_differ)}",
            *subjects_differ,
        ]
    )
    print(report)  # shown with pytest -rA
    assert not crashed, report
    assert len(quarantined) <= 3, report
    assert len(subjects_differ) <= 2, report
