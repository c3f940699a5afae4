"""`triage classify` on bad input: an error object on the bad message's line, the good ones
still classified, and an exit status that says some failed; never a traceback."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from tests.conftest import EXAMPLE_CONFIG
from tests.helpers import make_mail
from triage_desk.classifier.predict import Classifier
from triage_desk.classifier.store import ModelStore
from triage_desk.cli import main

GOOD = {"subject": "Sistēma nestrādā", "body": "Neviens nevar pieslēgties, visiem kļūda 500."}


@pytest.fixture
def classify(tmp_path, classifier: Classifier, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TRIAGE_DATABASE_URL", raising=False)
    ModelStore(tmp_path / "var" / "models").save(classifier.model, dict(classifier.meta))

    def run(stdin: bytes | str, *args: str):  # type: ignore[no-untyped-def]
        return CliRunner().invoke(
            main, ["--config", str(EXAMPLE_CONFIG), "classify", *args], input=stdin
        )

    return run


def _rows(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines()]


def test_one_bad_jsonl_line_costs_only_its_own_result(classify):
    lines = [
        json.dumps(GOOD),
        "[1,2]",
        "{not json",
        "",  # blank lines are skipped, as before
        json.dumps({**GOOD, "desk": "nosuch"}),
        json.dumps({**GOOD, "received_at": "9999-12-31T16:00:00"}),
        json.dumps({**GOOD, "received_at": "yesterday"}),
        json.dumps({**GOOD, "desk": "eparaksts", "subject": "Paldies", "body": "Paldies!"}),
    ]
    result = classify("\n".join(lines) + "\n", "--jsonl")
    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit)  # no traceback
    rows = _rows(result.stdout)
    assert len(rows) == 7
    assert rows[0]["desk"] == "municipal" and "category" in rows[0]
    assert rows[1] == {"error": "expected a JSON object, got list", "line": 2}
    assert rows[2]["line"] == 3 and rows[2]["error"].startswith("not JSON")
    assert rows[3]["line"] == 5 and "unknown desk 'nosuch'" in rows[3]["error"]
    assert rows[4]["line"] == 6 and "out of range" in rows[4]["error"]
    assert rows[5]["line"] == 7 and "bad received_at 'yesterday'" in rows[5]["error"]
    assert rows[6]["desk"] == "eparaksts" and "category" in rows[6]
    assert "5 of 7 message(s) could not be classified" in result.stderr
    assert "line 2: expected a JSON object" in result.stderr


@pytest.mark.parametrize(
    ("stdin", "error"),
    [
        (b"", "not an RFC 822 mail: empty message"),
        (b"hello, this is no mail\n", "not an RFC 822 mail: no header fields"),
        (
            make_mail(
                subject="Avārija: sistēma nestrādā",
                body="Sistēma pilnībā nestrādā, neviens nevar pieslēgties. Avārija!",
            ).replace(b"Date: Mon, 30 Nov 2026", b"Date: Fri, 31 Dec 9999"),
            "date value out of range",
        ),
    ],
    ids=["empty", "not-a-mail", "year-9999"],
)
def test_a_mail_that_cannot_be_classified_gets_an_error_object(classify, stdin, error):
    result = classify(stdin)
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    (row,) = _rows(result.stdout)
    assert set(row) == {"error"} and error in row["error"]


def test_all_good_lines_exit_zero(classify):
    result = classify(json.dumps(GOOD) + "\n", "--jsonl")
    assert result.exit_code == 0, result.output
    assert _rows(result.stdout)[0]["desk"] == "municipal"
