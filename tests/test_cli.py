"""The command line as scripts use it: real processes, JSON on stdout."""

from __future__ import annotations

import json
import os
import smtplib
import socket
import subprocess
import sys
import time
from email import policy
from email.parser import BytesParser
from pathlib import Path

import pytest

from tests.conftest import EXAMPLE_CONFIG
from tests.helpers import make_mail
from triage_desk.classifier.store import ModelStore


def triage(
    *args: str, cwd: Path, stdin: str | None = None, env: dict | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "triage_desk", "--config", str(EXAMPLE_CONFIG), *args],
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env or _env(),
    )


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("TRIAGE_DATABASE_URL", None)  # these runs use the example's embedded SQLite
    return env


@pytest.fixture(scope="module")
def workdir(tmp_path_factory, classifier) -> Path:
    """One working folder for the CLI tests of this module, with the session's model saved
    where the example config looks (`triage train` itself runs in test_model_activation)."""
    folder = tmp_path_factory.mktemp("cli")
    ModelStore(folder / "var" / "models").save(classifier.model, dict(classifier.meta))
    return folder


def test_due_prints_the_three_times_as_json(workdir):
    result = triage(
        "due",
        "--desk",
        "municipal",
        "--category",
        "serious_error",
        "--received",
        "2026-11-27T16:30:00+02:00",
        cwd=workdir,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "clock_start": "2026-11-27T16:30:00+02:00",
        "response_due": "2026-11-30T10:30:00+02:00",  # 30 min Friday + 1 h 30 Monday
        # 40 bh: 0.5 h Friday + 4 × 8 h Mon–Thu = 32.5 h; 7.5 h more on Friday 4 December.
        "resolution_due": "2026-12-04T16:30:00+02:00",
    }


def test_due_errors_name_the_bad_option(workdir):
    result = triage(
        "due",
        "--desk",
        "municipal",
        "--category",
        "urgent",
        "--received",
        "2026-11-27T16:30",
        cwd=workdir,
    )
    assert result.returncode == 2
    assert "--category" in result.stderr and "serious_error" in result.stderr
    result = triage(
        "due", "--desk", "municipal", "--category", "error", "--received", "yesterday", cwd=workdir
    )
    assert result.returncode == 2 and "--received" in result.stderr


def test_classify_jsonl_contract(workdir):
    lines = [
        {
            "subject": "Sistēma nestrādā",
            "body": "Neviens nevar pieslēgties sistēmai, visiem kļūda 500.",
            "channel": "email",
            "sender": "a@novads.example.lv",
            "received_at": "2026-12-24T10:00:00+02:00",
        },
        {
            "subject": "",
            "body": "I lost my ID card, please block my certificate now",
            "channel": "chat",
            "sender": "123",
            "desk": "eparaksts",
            "received_at": "2026-11-29T03:00:00+02:00",
        },
        {
            "subject": "Вопрос",
            "body": "Как выгрузить отчёт в Excel?",
            "channel": "email",
            "sender": "b@example.lv",
        },
    ]
    stdin = "\n".join(json.dumps(line, ensure_ascii=False) for line in lines) + "\n"
    result = triage("classify", "--jsonl", cwd=workdir, stdin=stdin)
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(rows) == 3
    required = {
        "category",
        "feedback_type",
        "confidence",
        "language",
        "desk",
        "clock_start",
        "response_due",
        "resolution_due",
        "auto_accept",
    }
    for row in rows:
        assert required <= set(row)
        assert 0 <= row["confidence"] <= 1
    assert [r["desk"] for r in rows] == ["municipal", "eparaksts", "municipal"]
    assert [r["language"] for r in rows] == ["lv", "en", "ru"]
    # Christmas Eve is a public holiday in Latvia: the clock starts Monday 28 December.
    assert rows[0]["clock_start"] == "2026-12-28T09:00:00+02:00"
    assert rows[1]["category"] in {"application", "suspension"}


def test_classify_infers_the_desk_when_none_is_given(workdir):
    """A suspension sent without a desk must not be forced into a municipal category."""
    lines = [
        {
            "subject": "",
            "body": "My phone with eParaksts mobile was stolen, please block it immediately",
        },
        {
            "subject": "Atskaite",
            "body": "Labdien! Atskaišu modulī poga 'Eksportēt' nestrādā, "
            "bet varam nokopēt tabulu ar roku.",
        },
        {"subject": "", "body": "Thank you, great service!", "desk": "municipal"},
    ]
    stdin = "\n".join(json.dumps(line, ensure_ascii=False) for line in lines) + "\n"
    result = triage("classify", "--jsonl", cwd=workdir, stdin=stdin)
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(r["desk"], r["desk_inferred"]) for r in rows] == [
        ("eparaksts", True),
        ("municipal", True),
        ("municipal", False),
    ]
    assert rows[0]["category"] == "suspension"


def test_classify_reads_an_rfc822_mail(workdir):
    raw = make_mail(
        to="eparaksts@example.lv",
        subject="Paldies",
        body="Liels paldies konsultantei par ātru un laipnu palīdzību!",
    )
    result = subprocess.run(
        [sys.executable, "-m", "triage_desk", "--config", str(EXAMPLE_CONFIG), "classify"],
        cwd=workdir,
        input=raw,
        capture_output=True,
        timeout=120,
        env=_env(),
    )
    assert result.returncode == 0, result.stderr
    row = json.loads(result.stdout)
    assert row["desk"] == "eparaksts" and row["language"] == "lv"
    # The mail's Date header (Mon 30 Nov 2026 08:00 UTC = 10:00 Riga) is the receipt time.
    assert row["clock_start"] == "2026-11-30T10:00:00+02:00"


def test_classify_rejects_bad_input_clearly(workdir):
    result = triage("classify", "--jsonl", cwd=workdir, stdin="{not json\n")
    assert result.returncode != 0 and "line 1" in result.stderr
    bad_desk = json.dumps({"subject": "x", "body": "y", "desk": "nope"}) + "\n"
    result = triage("classify", "--jsonl", cwd=workdir, stdin=bad_desk)
    assert result.returncode != 0 and "unknown desk 'nope'" in result.stderr


def test_a_broken_config_is_reported_with_key_and_fix(tmp_path):
    config = tmp_path / "bad.toml"
    config.write_text(
        EXAMPLE_CONFIG.read_text(encoding="utf-8").replace(
            'response = "2 business_hours"', 'response = "2 bizness_hours"', 1
        ),
        encoding="utf-8",
    )
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "triage_desk",
            "--config",
            str(config),
            "due",
            "--desk",
            "municipal",
            "--category",
            "error",
            "--received",
            "2026-11-30T10:00",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env=_env(),
    )
    assert result.returncode == 2
    assert "desks.municipal.categories.emergency.response" in result.stderr
    assert "bizness_hours" in result.stderr


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_for_port(port: int, process: subprocess.Popen, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"triage run exited early: {process.stderr.read()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"triage run did not listen on {port} within {seconds} s")


def test_triage_run_turns_a_mail_into_a_ticket_and_an_acknowledgement(workdir, tmp_path):
    port = _free_port()
    config = tmp_path / "config.toml"
    config.write_text(
        EXAMPLE_CONFIG.read_text(encoding="utf-8").replace("port = 8025", f"port = {port}")
        + "\n[web]\nport = 0\n",  # the example's web form: any free port, never 8080
        encoding="utf-8",
    )
    (tmp_path / "var").mkdir()
    (tmp_path / "var" / "models").symlink_to(workdir / "var" / "models")
    process = subprocess.Popen(
        [sys.executable, "-m", "triage_desk", "--config", str(config), "run"],
        cwd=tmp_path,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_for_port(port, process)
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
            client.sendmail(
                "ilze@novads.example.lv",
                ["atbalsts@example.lv"],
                make_mail(
                    subject="Atskaite neveidojas",
                    body="Labdien! Atskaite neveidojas, lūdzu palīdziet.",
                ),
            )
        outbox = tmp_path / "var" / "outbox"
        deadline = time.monotonic() + 30
        while not list(outbox.glob("*.eml")) and time.monotonic() < deadline:
            time.sleep(0.2)
        [eml] = list(outbox.glob("*.eml"))
        listed = subprocess.run(
            [sys.executable, "-m", "triage_desk", "--config", str(config), "tickets", "--json"],
            cwd=tmp_path,
            env=_env(),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert listed.returncode == 0, listed.stderr
        [ticket] = [json.loads(line) for line in listed.stdout.splitlines()]
        assert ticket["number"].startswith("MUN-") and ticket["from"] == "ilze@novads.example.lv"
        ack = BytesParser(policy=policy.default).parsebytes(eml.read_bytes())
        assert ack["To"] == "ilze@novads.example.lv"
        assert ticket["number"] in ack["Subject"]
        body = ack.get_content()
        assert ticket["number"] in body
        assert "plkst." in body  # the response due, written the Latvian way
    finally:
        process.terminate()
        process.wait(timeout=30)
    assert process.returncode in (0, -15)
