"""Bounded work per mail (issue 16 item 1, part A): text, HTML, quotes, classifier, time.

The hostile mails of the issue, at their full sizes, through the real parser, classifier
and knowledge-base step: what each step sees is capped, the text kept for the ticket is cut
with a marker (the raw mail keeps everything), and one time budget per mail covers all of
its work. Sizes and structure are asserted, never seconds; the time limit is tested on a
clock the test moves.
"""

from __future__ import annotations

import base64
import datetime as dt
import random
import re
import tomllib
from collections.abc import Sequence
from typing import Any

import pytest
from sqlalchemy import select

from tests.conftest import EXAMPLE_CONFIG
from tests.helpers import Ticks
from triage_desk.classifier.predict import Classifier, ClassifierInput
from triage_desk.config import ClassifierConfig, ConfigError, EmailConfig, parse_config
from triage_desk.desks import Desks
from triage_desk.intake.email.html_text import MAX_NESTING, flatten_nesting, html_to_text
from triage_desk.intake.email.ingest import EmailIntake, RawMail
from triage_desk.intake.email.parse import inbound_from_email
from triage_desk.intake.email.prepare import MailPreparer, Prepared
from triage_desk.intake.errors import Deadline, ProcessingTimeout
from triage_desk.intake.pipeline import IntakePipeline
from triage_desk.intake.quarantine import held
from triage_desk.intake.triage import MessageTriage
from triage_desk.responders.render import TemplateRenderer
from triage_desk.storage.db import make_engine, make_session_factory
from triage_desk.storage.models import Direction, Message

MIB = 1024 * 1024
# A Saturday: out of hours, so the knowledge base is asked for every message.
SATURDAY = dt.datetime(2026, 11, 28, 12, 0, tzinfo=dt.UTC)
RULES = EmailConfig()
MAX_TEXT = RULES.max_text_chars
MAX_INPUT = ClassifierConfig().max_input_chars
MARKER = re.compile(
    r"\[text cut at ([\d,]+) characters \(email\.max_text_chars\): the raw mail keeps all of "
    r"it; body sha256 [0-9a-f]{16}\]$"
)
PROSE = (
    "Labdien! Atskaišu modulī poga 'Izveidot' nestrādā jau otro dienu, cita ceļa nav. "
    "Lūdzu, palīdziet, jo termiņš ir piektdien.\r\n"
)


def mail(content_type: str, body: bytes, subject: str = "Atskaite", tag: str = "1") -> bytes:
    head = (
        "From: Ilze Kalnina <ilze@novads.example.lv>\r\nTo: atbalsts@example.lv\r\n"
        f"Subject: {subject}\r\nDate: Sat, 28 Nov 2026 12:00:00 +0000\r\n"
        f"Message-ID: <bounds.{tag}@novads.example.lv>\r\nMIME-Version: 1.0\r\n"
        f"{content_type}\r\n\r\n"
    )
    return head.encode("ascii") + body


def nested_blockquotes(depth: int) -> str:
    """As a mail client quotes a reply chain, never closed (as in bench/hostile.py)."""
    return "<html><body>\r\n" + "<blockquote>q\r\n" * depth + "</body></html>\r\n"


def plain_mail(size: int, tag: str = "plain") -> bytes:
    body = PROSE.encode() * (size // len(PROSE.encode()))
    return mail("Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit",
                body, tag=tag)  # fmt: skip


def base64_garbage_mail(size: int) -> bytes:
    data = random.Random(16).randbytes(size * 3 // 4)
    body = base64.encodebytes(data).replace(b"\n", b"\r\n")
    return mail(
        "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64",
        body,
        tag="base64",
    )


def nested_quotes_mail(size: int) -> bytes:
    """A reply chain quoted again and again: each line one "> " deeper than the last."""
    lines, total, depth = [], 0, 1
    while total < size:
        line = "> " * depth + "citēts teksts\r\n"
        lines.append(line)
        total += len(line)
        depth += 1
    return mail("Content-Type: text/plain; charset=utf-8", "".join(lines).encode(), tag="quotes")


def quote_depth(line: str) -> int:
    return len(re.match(r"(?:> ?)*", line).group(0).replace(" ", ""))


def assert_cut(text: str, limit: int = MAX_TEXT) -> None:
    body, _, marker = text.rpartition("\n\n")
    assert MARKER.match(marker), marker[-200:]
    assert MARKER.match(marker).group(1) == f"{limit:,}"
    assert len(body) <= limit


class RecordingModel:
    """The trained model, with what it was asked to read recorded."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.texts: list[str] = []

    def probabilities(self, texts: Sequence[str], *args: Any, **kwargs: Any) -> Any:
        self.texts.extend(texts)
        return self.model.probabilities(texts, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.model, name)


class RecordingFinder:
    """A knowledge base that records the questions it is asked and knows no article."""

    def __init__(self) -> None:
        self.questions: list[str] = []

    def answer(self, question: str, desk: str, language: str, limit: int = 3, **_: Any) -> list:
        self.questions.append(question)
        return []


@pytest.fixture
def recorded(classifier, example_config):
    """A preparer over the real classifier whose model and knowledge base record their input."""
    model = RecordingModel(classifier.model)
    finder = RecordingFinder()
    real = Classifier(model, classifier.meta, semantic=False)  # the default max_input_chars
    triage = MessageTriage(Desks(example_config), real, finder, semantic_stage="off", rules=RULES)
    return MailPreparer(triage, RULES), model, finder


def prepare_one(preparer: MailPreparer, raw: bytes) -> Prepared:
    [prepared] = preparer.prepare([RawMail(raw, "municipal", "test", SATURDAY)])
    return prepared


# --- HTML: nested blockquotes ----------------------------------------------------------------


def test_ten_thousand_nested_blockquotes_give_bounded_text_with_quotes_kept_at_the_depth_cap():
    raw = mail("Content-Type: text/html; charset=utf-8", nested_blockquotes(10_000).encode())
    inbound = inbound_from_email(raw, "municipal", SATURDAY)
    assert len(inbound.text) < 2 * len(raw)
    lines = [line for line in inbound.text.splitlines() if line.strip(" >")]
    depths = [quote_depth(line) for line in lines if line.rstrip().endswith("q")]
    assert max(depths) == RULES.max_quote_depth
    assert depths[: RULES.max_quote_depth] == list(range(1, RULES.max_quote_depth + 1))
    assert len(inbound.new_text) <= len(inbound.text)


def test_html_quote_conversion_grows_linearly_not_with_the_square_of_the_depth():
    """Each quoted line used to get one "> " per level it is in: 4x the depth, 16x the text."""
    shallow, deep = (len(html_to_text(nested_blockquotes(depth))) for depth in (500, 2_000))
    assert deep < 6 * shallow
    prefixes = {quote_depth(line) for line in html_to_text(nested_blockquotes(2_000)).split("\n")}
    assert max(prefixes) == 20


def test_tags_nested_deeper_than_lexbor_handles_quickly_are_taken_out_their_text_kept():
    """Lexbor's time grows with the square of the nesting of <div>s and cannot be stopped
    midway: tags beyond MAX_NESTING are removed before it parses; every word stays."""
    markup = "<div>x" * 40_000 + "</div>" * 40_000
    flat = flatten_nesting(markup)
    assert flat.count("<div>") == flat.count("</div>") == MAX_NESTING
    assert flat.count("x") == 40_000
    assert html_to_text(markup).count("x") == 40_000
    normal = "<p>a</p><br><img src=x>" * 1_000 + "<div>" * 400 + "b" + "</div>" * 400
    assert flatten_nesting(normal) == normal  # <p>, <br>, <img> do not nest


# --- plain text, base64 garbage, nested quotes -----------------------------------------------


def test_24_mb_of_plain_text_is_stored_cut_with_a_marker_and_the_classifier_reads_at_most_its_cap(
    recorded,
):
    preparer, model, finder = recorded
    raw = plain_mail(24 * MIB)
    prepared = prepare_one(preparer, raw)
    assert prepared.triaged is not None, prepared.detail
    inbound = prepared.triaged.inbound
    assert inbound.raw is raw
    assert_cut(inbound.text)
    assert inbound.text.startswith(PROSE.strip())
    assert "text cut at" not in inbound.new_text  # the marker is for staff, not the model
    assert model.texts and all(len(text) <= MAX_INPUT + 1 for text in model.texts)
    assert finder.questions and all(len(q) <= MAX_INPUT + 1 for q in finder.questions)
    assert prepared.triaged.prediction.language == "lv"


def test_the_classifier_reads_at_most_max_input_chars_whoever_asks(classifier):
    """``Classifier.classify_many`` itself cuts: the refiner and ``triage classify`` call it
    directly. The subject takes at most a quarter of the cap."""
    model = RecordingModel(classifier.model)
    capped = Classifier(model, classifier.meta, semantic=False, max_input_chars=1_000)
    body = "Atskaišu modulis nestrādā. " * 10_000
    capped.classify_many(
        [ClassifierInput("Temats " * 1_000, body), ClassifierInput("Atskaite", body)]
    )
    long_subject, short_subject = model.texts
    assert len(long_subject) <= 1_001 and len(short_subject) <= 1_001
    assert long_subject.count("temats") <= 250 // len("temats ") + 1
    assert "atskaite\natskaisu" in short_subject or "atskaite atskaisu" in short_subject


def test_20_mb_of_base64_garbage_is_stored_cut_and_the_raw_mail_kept(
    database_url, example_config, classifier
):
    engine = make_engine(database_url)
    sessions = make_session_factory(engine)
    try:
        pipeline = IntakePipeline(
            sessions,
            Desks(example_config),
            classifier,
            TemplateRenderer(),
            rules=RULES,
            now=lambda: SATURDAY,
            semantic_stage="off",
        )
        raw = base64_garbage_mail(20 * MIB)
        [outcome] = EmailIntake(sessions, pipeline, RULES).ingest_many(
            [RawMail(raw, "municipal", "smtp", SATURDAY)]
        )
        assert outcome.result is not None and outcome.result.created_ticket, outcome.detail
        with sessions() as session:
            stored = session.scalars(
                select(Message).where(Message.direction == Direction.INBOUND)
            ).one()
            assert stored.raw == raw
            assert_cut(stored.text)
            assert len(stored.new_text) <= MAX_TEXT
    finally:
        engine.dispose()


def test_6_mb_of_nested_quotes_gives_a_bounded_new_text_with_quotes_flattened(recorded):
    preparer, model, _finder = recorded
    raw = nested_quotes_mail(6 * MIB)
    prepared = prepare_one(preparer, raw)
    assert prepared.triaged is not None, prepared.detail
    inbound = prepared.triaged.inbound
    assert_cut(inbound.text)
    assert len(inbound.new_text) <= MAX_TEXT
    depths = {quote_depth(line) for line in inbound.text.splitlines()[:-1] if line}
    assert max(depths) == RULES.max_quote_depth
    assert all(len(text) <= MAX_INPUT + 1 for text in model.texts)


def test_a_long_reply_keeps_its_own_words_and_the_text_before_the_cut():
    """Merely long mail is stored (cut), not refused; what the person wrote first is kept."""
    history = "".join(f"> {i}. rinda no iepriekšējās vēstules\r\n" for i in range(20_000))
    raw = mail(
        "Content-Type: text/plain; charset=utf-8", ("Skat. zemāk.\r\n\r\n" + history).encode()
    )
    rules = EmailConfig(max_text_chars=50_000)
    inbound = inbound_from_email(raw, "municipal", SATURDAY, rules=rules)
    assert_cut(inbound.text, 50_000)
    assert inbound.new_text == "Skat. zemāk."


def test_a_part_is_decoded_only_as_far_as_the_text_needs_and_never_mid_character():
    """Cut bytes end where a character ends: a UTF-8 text stays UTF-8 (not mojibake), a
    UTF-16 one stays UTF-16."""
    word = "ļoti žēl, ģimene čūska "
    for charset, encoded in (("utf-8", word.encode()), ("utf-16le", word.encode("utf-16-le"))):
        body = base64.encodebytes(encoded * 40_000).replace(b"\n", b"\r\n")
        raw = mail(
            f"Content-Type: text/plain; charset={charset}\r\nContent-Transfer-Encoding: base64",
            body,
        )
        inbound = inbound_from_email(
            raw, "municipal", SATURDAY, rules=EmailConfig(max_text_chars=1_001)
        )
        text = inbound.text.rpartition("\n\n")[0]
        assert text.startswith(word.strip()) and "\ufffd" not in text, charset
        assert set(text) <= set(word), charset
        assert_cut(inbound.text, 1_001)


def test_a_hard_limit_quarantines_the_mail_naming_the_key_to_raise(recorded):
    """Too many attachments is a hard limit (quarantine, reason ``limit``); long text is not."""
    parts = b"".join(
        b"--b\r\nContent-Type: application/octet-stream\r\n"
        b'Content-Disposition: attachment; filename="f%d.bin"\r\n\r\nx\r\n' % i
        for i in range(RULES.max_attachments + 1)
    )
    raw = mail("Content-Type: multipart/mixed; boundary=b", parts + b"--b--\r\n", tag="parts")
    preparer, _model, _finder = recorded
    prepared = prepare_one(preparer, raw)
    assert prepared.triaged is None and prepared.reason == "limit"
    assert "email.max_attachments" in (prepared.detail or "")


# --- the time limit covers every step --------------------------------------------------------


class SlowClassifier(Classifier):
    """The real classifier, whose every call takes ``seconds`` on the test's clock."""

    def __init__(self, real: Classifier, ticks: Ticks, seconds: float) -> None:
        super().__init__(real.model, real.meta, semantic=False)
        self.ticks, self.seconds = ticks, seconds

    def classify_many(self, items, semantic=None):  # type: ignore[no-untyped-def]
        self.ticks.now += self.seconds
        return super().classify_many(items, semantic)


class SlowFinder(RecordingFinder):
    """A knowledge base that takes ``seconds`` on the test's clock for one question."""

    def __init__(self, ticks: Ticks, seconds: float, slow_word: str) -> None:
        super().__init__()
        self.ticks, self.seconds, self.slow_word = ticks, seconds, slow_word

    def answer(self, question: str, desk: str, language: str, limit: int = 3, **_: Any) -> list:
        if self.slow_word in question:
            self.ticks.now += self.seconds
        return super().answer(question, desk, language, limit)


def batch(tag: str) -> list[RawMail]:
    """Two short mails around a long one (its text is most of the batch's)."""
    short = [
        RawMail(plain_mail(600, tag=f"{tag}.short{i}"), "municipal", "smtp", SATURDAY)
        for i in (1, 2)
    ]
    long_text = "Garš ziņojums. " + PROSE * 400
    body = long_text.encode()
    long = mail("Content-Type: text/plain; charset=utf-8", body, subject="Gars", tag=f"{tag}.long")
    return [short[0], RawMail(long, "municipal", "smtp", SATURDAY), short[1]]


@pytest.mark.parametrize(
    ("slow", "step"),
    [
        ("classifier", "classification and language detection"),
        ("knowledge base", "knowledge base"),
    ],
)
def test_a_mail_over_its_time_budget_in_any_step_is_quarantined_naming_it_the_others_stored(
    database_url, example_config, classifier, slow, step
):
    ticks = Ticks()
    model = SlowClassifier(classifier, ticks, 10.0 if slow == "classifier" else 0.0)
    finder = SlowFinder(ticks, 10.0 if slow == "knowledge base" else 0.0, "Gars")
    engine = make_engine(database_url)
    sessions = make_session_factory(engine)
    try:
        pipeline = IntakePipeline(
            sessions,
            Desks(example_config),
            model,
            TemplateRenderer(),
            rules=RULES,
            now=lambda: SATURDAY,
            assistant=finder,
            semantic_stage="off",
        )
        intake = EmailIntake(sessions, pipeline, RULES)
        intake.preparer.deadlines = lambda: Deadline(5.0, timer=ticks)
        mails = batch(slow.replace(" ", ""))
        outcomes = intake.ingest_many(mails)
        assert [o.result is not None for o in outcomes] == [True, False, True]
        assert outcomes[1].reason == "timeout"
        assert f"in step {step!r}" in outcomes[1].detail
        assert "email.processing_time_limit_seconds" in outcomes[1].detail
        with sessions() as session:
            [item] = held(session)
            assert item.raw == mails[1].raw and item.reason == "timeout"
            assert step in item.detail
            inbound = select(Message).where(Message.direction == Direction.INBOUND)
            assert len(session.scalars(inbound).all()) == 2
    finally:
        engine.dispose()


def test_the_budget_counts_only_the_mails_own_time():
    """A mail parsed first is not charged for the slow mail parsed after it in its batch."""
    ticks = Ticks()
    first, second = Deadline(5.0, timer=ticks), Deadline(5.0, timer=ticks)
    first.pause()
    ticks.now += 4.0  # the second mail's parsing
    second.pause()
    first.charge(0.5, "classification")
    second.charge(0.5, "classification")
    first.check()
    with pytest.raises(ProcessingTimeout, match="in step 'knowledge base'"):
        second.charge(1.0, "knowledge base")
        second.check()


def test_html_conversion_runs_on_the_budget_and_names_its_step():
    """The clock moves one second at every reading: the HTML walk, which reads it as it
    goes, is where a big document runs out."""
    markup = "<html><body>" + "<p>vārds <b>vēl</b></p>" * 20_000 + "</body></html>"
    raw = mail("Content-Type: text/html; charset=utf-8", markup.encode())
    with pytest.raises(ProcessingTimeout, match="in step 'HTML'"):
        inbound_from_email(raw, "municipal", SATURDAY, deadline=Deadline(50.0, timer=Ticks(1.0)))


# --- configuration -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key", ["email.max_text_chars", "email.max_quote_depth", "classifier.max_input_chars"]
)
@pytest.mark.parametrize("value", [0, -1])
def test_a_cap_of_zero_or_less_fails_at_start_naming_the_key(key, value):
    data = tomllib.loads(EXAMPLE_CONFIG.read_text(encoding="utf-8"))
    table, name = key.split(".")
    data.setdefault(table, {})[name] = value
    with pytest.raises(ConfigError) as caught:
        parse_config(data, "test.toml")
    assert f"{key} = {value}" in str(caught.value)


def test_the_caps_have_sane_defaults_and_are_read_from_the_file():
    data = tomllib.loads(EXAMPLE_CONFIG.read_text(encoding="utf-8"))
    assert (RULES.max_text_chars, RULES.max_quote_depth, MAX_INPUT) == (200_000, 20, 20_000)
    data["email"] = {"max_text_chars": 5_000, "max_quote_depth": 3}
    data["classifier"] = {"max_input_chars": 700}
    config = parse_config(data, "test.toml")
    assert (config.email.max_text_chars, config.email.max_quote_depth) == (5_000, 3)
    assert config.classifier.max_input_chars == 700
