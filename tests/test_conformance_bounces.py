"""Bounce recognition on flufl.bounce's samples (../shared/corpora/bounces, see SOURCE.md).

For every file with an expectation in ``expected.csv``: recognised as a bounce, permanent or
temporary as expected, with the expected failed addresses (case-insensitive), for ≥ 95 % of
the files. ``qmail_08`` is an out-of-office reply (no bounce, but a robot: no
acknowledgement) and ``groupwise_03`` a person's reply (neither). The figures and every
disagreement are printed (``pytest -rA``).
"""

from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path

import pytest

from tests.conftest import IN_CI, SHARED
from triage_desk.intake.email.parse import inbound_from_email
from triage_desk.intake.errors import MailRejected
from triage_desk.intake.message import InboundMessage

NOT_BOUNCES = {
    "qmail_08.txt": "an out-of-office reply: a robot, not a bounce",
    "groupwise_03.txt": "a person's reply that confused flufl's GroupWise detector",
}
KNOWN_REASONS = {
    "simple_20.txt": "a bounce sent from an ordinary address under a 'RE:' subject: only "
    "header-level evidence opens the bounce scan, so a person writing about "
    "a delivery problem is never taken for a bounce",
}


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


Expectation = tuple[str | None, tuple[str, ...]] | None  # (kind or any, addresses); None: no bounce


def expectations(folder: Path) -> dict[str, Expectation]:
    """One expectation per file from expected.csv's rows (several detectors may speak)."""
    rows: dict[str, list[dict[str, str]]] = defaultdict(list)
    with (folder / "expected.csv").open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            if row["check"]:
                rows[row["file"]].append(row)
    result: dict[str, Expectation] = {}
    for name, found in rows.items():
        if name in NOT_BOUNCES:
            result[name] = None
            continue
        addresses = tuple(
            sorted({a.lower() for r in found for a in r["expected_addresses"].split()})
        )
        kinds = {r["kind"] for r in found if r["expected_addresses"]} or {r["kind"] for r in found}
        result[name] = (kinds.pop() if len(kinds) == 1 else None, addresses)
    return result


def ours(inbound: InboundMessage) -> Expectation:
    if inbound.bounce is None:
        return None
    kind = "permanent" if inbound.bounce.permanent else "temporary"
    return kind, tuple(sorted(a.lower() for a in inbound.bounce.failed_addresses))


def agrees(got: Expectation, expected: Expectation) -> bool:
    if got is None or expected is None:
        return got is expected
    kind, addresses = expected
    return (kind is None or kind == got[0]) and addresses == got[1]


@pytest.fixture(scope="module")
def parsed() -> dict[str, InboundMessage]:
    folder = corpus("bounces")
    mails = {}
    for path in sorted(folder.glob("*.txt")):
        mails[path.name] = inbound_from_email(path.read_bytes(), "municipal")
    return mails


def test_every_bounce_sample_is_parsed_or_quarantined() -> None:
    folder = corpus("bounces")
    crashed = []
    files = sorted(folder.glob("*.txt"))
    assert len(files) >= 100
    for path in files:
        try:
            inbound_from_email(path.read_bytes(), "municipal")
        except MailRejected:
            pass
        except Exception as exc:  # what this test exists to catch
            crashed.append(f"{path.name}: {type(exc).__name__}: {exc}")
    assert not crashed, "\n".join(crashed)


def test_bounces_and_failed_addresses_agree_with_expected_csv(
    parsed: dict[str, InboundMessage],
) -> None:
    expected = expectations(corpus("bounces"))
    lines, agree = [], 0
    for name, expectation in sorted(expected.items()):
        got = ours(parsed[name])
        if agrees(got, expectation):
            agree += 1
        else:
            reason = KNOWN_REASONS.get(name, "unexplained")
            lines.append(f"  {name}: ours={got} expected={expectation}\n      reason: {reason}")
    robots = sum(
        1 for name, m in parsed.items() if m.no_reply_reason and name != "groupwise_03.txt"
    )
    report = "\n".join(
        [
            f"bounces: {agree}/{len(expected)} files with an expectation agree "
            f"({agree / len(expected):.1%}) on bounce kind and failed addresses",
            f"robots (no acknowledgement): {robots} of {len(parsed) - 1} files that are not a "
            "person's reply",
            *lines,
        ]
    )
    print(report)  # shown with pytest -rA
    assert len(expected) >= 110
    assert agree / len(expected) >= 0.95, report


def test_the_out_of_office_sample_is_a_robot_but_no_bounce(
    parsed: dict[str, InboundMessage],
) -> None:
    ooo = parsed["qmail_08.txt"]
    assert ooo.bounce is None
    assert ooo.no_reply_reason  # Precedence: auto_reply / "Auto reply" subject
    assert "\ufffd" not in ooo.text  # its unknown charset label still decodes cleanly


def test_the_groupwise_reply_is_a_person(parsed: dict[str, InboundMessage]) -> None:
    reply = parsed["groupwise_03.txt"]
    assert reply.bounce is None and reply.no_reply_reason is None


def test_dsn_bounces_name_the_message_that_bounced(parsed: dict[str, InboundMessage]) -> None:
    with_original = [m for m in parsed.values() if m.bounce and m.bounce.original_message_ids]
    assert len(with_original) >= 20
    for inbound in with_original:
        assert inbound.external_id not in inbound.bounce.original_message_ids
