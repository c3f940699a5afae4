"""Conformance on Zammad's mail fixtures (../shared/corpora/zammad-mail, SOURCE.md has the schema).

Every .box is parsed or quarantined (a ``MailRejected``), never another exception. On the
.yml expectations: sender address, display name and subject agree for ≥ 95 % of the files,
the plain-text body (content_type text/plain, whitespace-normalised) for ≥ 90 %, attachment
names and MD5s (Zammad's own ``message.html`` pseudo-attachment ignored) for ≥ 95 %. Every
disagreement is printed with its reason (see it with ``pytest -rA``) and repeated in the
assertion message when a figure falls below its floor.

How values are compared: addresses case-insensitively (we store them lower-cased), names and
subjects whitespace-normalised (Zammad keeps leading/trailing blanks and tabs), attachment
bytes by MD5, also after CRLF→LF (Zammad's mail library stores 7bit message/* parts with LF).
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import IN_CI, SHARED
from triage_desk.intake.email.parse import inbound_from_email
from triage_desk.intake.errors import MailRejected
from triage_desk.intake.message import InboundMessage

yaml = pytest.importorskip("yaml")

# Deliberate differences, each checked by hand against the raw mail.
KNOWN_REASONS = {
    ("mail018", "subject"): "Zammad leaves the UTF-7 encoded word undecoded ('+ANw-'); "
    "we decode it to 'Ü'",
    ("mail046", "from_display_name"): "raw 8-bit GB2312 bytes in a quoted name with no charset: "
    "no reading is certain (Zammad's is Latin-2 mojibake)",
    ("mail076", "from_email"): "broken From header; Zammad keeps a stray '>' in the address",
    ("mail076", "from_display_name"): "broken From header; Zammad takes address text as name",
    ("mail087", "from_display_name"): "'From: Test test@example.com' has no display name; "
    "Zammad repeats the whole header as the name",
    ("mail087", "body"): "the text part has no Content-Type, which RFC 2045 makes text/plain "
    "body; Zammad makes it an attachment named 'file'",
    ("mail087", "attachments"): "the same untyped text part: body for us, attachment 'file' "
    "for Zammad",
    ("mail102", "attachments"): "Zammad renames the second of two same-named attachments "
    "('… at 091.00.38.png'); we keep the names the sender gave",
    ("mail105", "body"): "multipart/mixed whose boundary never occurs: we keep the text "
    "(nothing is lost), Zammad shows 'no visible content'",
    ("mail117", "from_email"): "an encoded word inside the address: RFC 2047 §5 forbids "
    "decoding it there, we keep the address literally",
    ("mail118", "from_email"): "an encoded word inside the address: RFC 2047 §5 forbids "
    "decoding it there, we keep the address literally",
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


class _Loader(yaml.SafeLoader):
    pass


_Loader.add_multi_constructor(
    "!ruby/hash:", lambda loader, _suffix, node: loader.construct_mapping(node, deep=True)
)
_Loader.add_constructor(
    "!binary", lambda loader, node: base64.b64decode(loader.construct_scalar(node))
)


def _ws(text: str | None) -> str:
    return " ".join((text or "").split())


def _md5s(data: bytes) -> set[str]:
    return {hashlib.md5(data).hexdigest(), hashlib.md5(data.replace(b"\r\n", b"\n")).hexdigest()}


@dataclass
class Tally:
    agree: int = 0
    total: int = 0
    disagreements: list[str] = field(default_factory=list)

    def add(self, mail: str, key: str, ours: object, theirs: object) -> None:
        self.total += 1
        if ours == theirs:
            self.agree += 1
            return
        reason = KNOWN_REASONS.get((mail, key), "unexplained")
        self.disagreements.append(
            f"  {mail} {key}: ours={ours!r:.160} zammad={theirs!r:.160}\n      reason: {reason}"
        )

    @property
    def share(self) -> float:
        return self.agree / self.total if self.total else 1.0

    def line(self, label: str) -> str:
        return f"{label}: {self.agree}/{self.total} = {self.share:.1%}"


@dataclass
class Results:
    tallies: dict[str, Tally]
    attachments_each: Tally
    attachments_strict: Tally
    pairs: int

    def report(self) -> str:
        lines = [f"Zammad conformance on {self.pairs} expectation files:"]
        for key, tally in self.tallies.items():
            lines.append(tally.line(key))
        lines.append(
            self.attachments_strict.line(
                "attachments, only files expecting at least one real attachment"
            )
        )
        lines.append(self.attachments_each.line("attachments, one by one"))
        for key, tally in self.tallies.items():
            if tally.disagreements:
                lines.append(f"{key} disagreements:")
                lines.extend(tally.disagreements)
        return "\n".join(lines)


def _compare_attachments(
    inbound: InboundMessage, expected: list[dict], mail: str, each: Tally
) -> list[str]:
    ours = {(md5, a.filename) for a in inbound.attachments for md5 in _md5s(a.data)}
    problems = []
    for item in expected:
        data = item["data"]
        data = data.encode("utf-8") if isinstance(data, str) else data
        found = any((md5, item["filename"]) in ours for md5 in _md5s(data))
        each.add(mail, "attachment", found, True)
        if not found:
            same_bytes = [a.filename for a in inbound.attachments if _md5s(a.data) & _md5s(data)]
            problems.append(
                f"{item['filename']!r} ({len(data)} bytes) "
                + (f"found as {same_bytes}" if same_bytes else "bytes not found")
            )
    return problems


@pytest.fixture(scope="module")
def results() -> Results:
    folder = corpus("zammad-mail")
    tallies = {
        key: Tally()
        for key in ("from_email", "from_display_name", "subject", "body", "attachments")
    }
    each, strict = Tally(), Tally()
    pairs = 0
    for expectation in sorted(folder.glob("*.yml")):
        mail = expectation.stem
        expected = yaml.load(expectation.read_text(encoding="utf-8"), Loader=_Loader)
        pairs += 1
        try:
            inbound = inbound_from_email(expectation.with_suffix(".box").read_bytes(), "municipal")
        except MailRejected as exc:
            for key in tallies:
                tallies[key].add(mail, key, f"quarantined: {exc.reason}", "parsed")
            continue
        if "from_email" in expected:
            tallies["from_email"].add(
                mail, "from_email", inbound.sender, (expected["from_email"] or "").lower()
            )
        if "from_display_name" in expected:
            tallies["from_display_name"].add(
                mail,
                "from_display_name",
                _ws(inbound.sender_name),
                _ws(expected["from_display_name"]),
            )
        if "subject" in expected:
            tallies["subject"].add(mail, "subject", _ws(inbound.subject), _ws(expected["subject"]))
        if expected.get("content_type") == "text/plain" and "body" in expected:
            body = expected["body"] or ""
            body = "" if body == "no visible content" else body
            tallies["body"].add(mail, "body", _ws(inbound.text), _ws(body))
        if "attachments" in expected:
            real = [
                a
                for a in expected["attachments"] or []
                if not (a.get("preferences") or {}).get("original-format")
            ]
            problems = _compare_attachments(inbound, real, mail, each)
            tallies["attachments"].add(mail, "attachments", problems, [])
            if real:
                strict.add(mail, "attachments", problems, [])
    return Results(tallies, each, strict, pairs)


def test_every_zammad_mail_is_parsed_or_quarantined() -> None:
    folder = corpus("zammad-mail")
    boxes = sorted(folder.glob("*.box"))
    assert len(boxes) >= 100
    parsed, quarantined, crashed = 0, [], []
    for box in boxes:
        try:
            inbound_from_email(box.read_bytes(), "municipal")
            parsed += 1
        except MailRejected as exc:
            quarantined.append(f"{box.name}: {exc.reason} ({exc.detail})")
        except Exception as exc:  # what this test exists to catch
            crashed.append(f"{box.name}: {type(exc).__name__}: {exc}")
    print(f"zammad-mail: {parsed} of {len(boxes)} .box parsed, {len(quarantined)} quarantined")
    for line in quarantined:
        print("  quarantined", line)
    assert not crashed, "\n".join(crashed)


def test_zammad_report_lists_every_disagreement_with_its_reason(results: Results) -> None:
    report = results.report()
    print(report)  # shown with pytest -rA
    disagreeing = sum(len(t.disagreements) for t in results.tallies.values())
    assert report.count("reason: ") == disagreeing


def test_zammad_sender_and_subject_agree(results: Results) -> None:
    for key in ("from_email", "from_display_name", "subject"):
        assert results.tallies[key].share >= 0.95, results.report()


def test_zammad_plain_text_bodies_agree(results: Results) -> None:
    assert results.tallies["body"].total >= 25
    assert results.tallies["body"].share >= 0.90, results.report()


def test_zammad_attachment_names_and_md5s_agree(results: Results) -> None:
    assert results.tallies["attachments"].total >= 50
    assert results.tallies["attachments"].share >= 0.95, results.report()
    assert results.attachments_each.share >= 0.95, results.report()


def test_zammad_pairs_are_all_there(results: Results) -> None:
    assert results.pairs >= 90  # SOURCE.md: 94 box/yml pairs
