"""The virtual assistant: its knowledge base, its retrieval, and how well it answers.

The evaluation questions (tests/assistant_questions.jsonl) were written by the team as people
write to the desks — typos, missing diacritics, long-winded — and are not the articles' own
question variants (a test below keeps it so). Each is labelled with the slug of the article
that answers it, or ``null`` for a question the assistant must decline. Splits:

- ``dev``, ``dev2``: the questions the scoring and the threshold were chosen on;
- ``test``: written after the scoring was fixed, and evaluated once before any further change.

``near_miss`` marks unrelated questions phrased exactly like a real topic ("I forgot my
Netflix password"): lexical retrieval cannot tell those apart, so they are reported, not held
to the decline target. The figures are printed with the test output.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from triage_desk.responders import assistant as assistant_module
from triage_desk.responders.assistant import (
    DEFAULT_MIN_SCORE,
    KB_ROOT,
    LANGUAGES,
    MAX_QUESTION_CHARS,
    NGRAMS,
    Assistant,
    KnowledgeBase,
    KnowledgeBaseError,
    _Question,
    first_paragraph,
    normalise,
    parse_front_matter,
    plain_text,
    stem,
)
from triage_desk.responders.tfidf import char_wb_ngrams

ROOT = Path(__file__).resolve().parent.parent
QUESTIONS = Path(__file__).resolve().parent / "assistant_questions.jsonl"
EXAMPLE_CONFIG = ROOT / "config.example.toml"
DESKS = ("municipal", "eparaksts")

TARGET_TOP1 = 0.80  # issue 5, "Done when": the top answer is right for at least 80 %
TARGET_DECLINE = 0.90  # unrelated questions are declined rather than answered


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return KnowledgeBase.load()


@pytest.fixture(scope="module")
def assistant(kb: KnowledgeBase) -> Assistant:
    return Assistant(kb, DEFAULT_MIN_SCORE)


def _questions() -> list[dict]:
    with QUESTIONS.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


# --------------------------------------------------------------------------- front matter


def test_front_matter_block_and_inline_lists() -> None:
    meta, body = parse_front_matter(
        "---\n"
        "title: Kā apturēt sertifikātu\n"
        "questions:\n"
        "  - Kā apturēt?\n"
        '  - "Vai var naktī: jā?"\n'
        "keywords: [apturēt, 'bloķēt', 24/7]\n"
        "url: https://www.eparaksts.lv\n"
        "categories: []\n"
        "---\n"
        "\n"
        "Pirmā rindkopa.\n"
        "Tā turpinās.\n"
        "\n"
        "Otrā rindkopa.\n"
    )
    assert meta == {
        "title": "Kā apturēt sertifikātu",
        "questions": ["Kā apturēt?", "Vai var naktī: jā?"],
        "keywords": ["apturēt", "bloķēt", "24/7"],
        "url": "https://www.eparaksts.lv",
        "categories": [],
    }
    assert body.startswith("Pirmā rindkopa.")
    assert first_paragraph(body) == "Pirmā rindkopa. Tā turpinās."
    assert first_paragraph("# Heading\n\nText here.\n\nMore.") == "Text here."


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("title: x\n---\nbody", "must start with"),
        ("---\ntitle: x\nbody", "no closing"),
        ("---\ntitle: x\nauthor: y\n---\nbody", "unknown key 'author'"),
        ("---\ntitle: x\ntitle: y\n---\nbody", "duplicate key"),
        ("---\n  - stray\n---\nbody", "list item outside"),
        ("---\nquestions: just one\n---\nbody", "must be a list"),
        ("---\nthis is not a pair\n---\nbody", "expected 'key: value'"),
    ],
)
def test_front_matter_errors_name_the_problem(text: str, message: str) -> None:
    with pytest.raises(KnowledgeBaseError, match=message):
        parse_front_matter(text, "x.md")


def test_load_rejects_bad_articles(tmp_path: Path) -> None:
    folder = tmp_path / "desk" / "lv"
    folder.mkdir(parents=True)
    (folder / "Bad_Slug.md").write_text("---\ntitle: x\n---\nbody\n", encoding="utf-8")
    with pytest.raises(KnowledgeBaseError, match="slug"):
        KnowledgeBase.load(tmp_path)
    (folder / "Bad_Slug.md").unlink()
    (folder / "no-title.md").write_text("---\nquestions: [a]\n---\nbody\n", encoding="utf-8")
    with pytest.raises(KnowledgeBaseError, match="no title"):
        KnowledgeBase.load(tmp_path)
    (folder / "no-title.md").unlink()
    (tmp_path / "desk" / "de").mkdir()
    (tmp_path / "desk" / "de" / "x.md").write_text("---\ntitle: x\n---\nb\n", encoding="utf-8")
    with pytest.raises(KnowledgeBaseError, match="language folder"):
        KnowledgeBase.load(tmp_path)


# --------------------------------------------------------------------------- the articles


def test_article_counts_per_desk_and_language(kb: KnowledgeBase) -> None:
    counts = {(d, lang): len(kb.for_desk(d, lang)) for d in DESKS for lang in LANGUAGES}
    for desk in DESKS:
        assert counts[(desk, "lv")] >= 15, counts
        assert counts[(desk, "en")] >= 15, counts
        assert counts[(desk, "ru")] >= 8, counts


def test_every_article_is_complete_and_translated_from_latvian(kb: KnowledgeBase) -> None:
    for desk in DESKS:
        latvian = {a.slug for a in kb.for_desk(desk, "lv")}
        assert {a.slug for a in kb.for_desk(desk, "en")} == latvian
        assert {a.slug for a in kb.for_desk(desk, "ru")} <= latvian
    for article in kb.articles:
        where = f"{article.desk}/{article.language}/{article.slug}"
        assert len(article.questions) >= 3, where
        assert len(article.keywords) >= 3, where
        assert len(article.summary) >= 40, where
        assert article.url and article.url.startswith("https://"), where
        assert "TODO" not in article.body, where


def test_article_categories_exist_in_the_desk_config(kb: KnowledgeBase) -> None:
    config = tomllib.loads(EXAMPLE_CONFIG.read_text(encoding="utf-8"))
    for article in kb.articles:
        known = set(config["desks"][article.desk]["categories"])
        assert set(article.categories) <= known, (article.path, article.categories)


def test_articles_quote_the_seed_contacts(kb: KnowledgeBase) -> None:
    config = tomllib.loads(EXAMPLE_CONFIG.read_text(encoding="utf-8"))
    phone = config["desks"]["eparaksts"]["contacts"]["phone"]
    emergency = config["desks"]["municipal"]["contacts"]["emergency_phone"]
    for language in LANGUAGES:
        suspend = kb.get("eparaksts", language, "suspend-certificate")
        assert suspend is not None and phone in suspend.body and "eparaksts.lv" in suspend.body
        assert "24" in suspend.body  # available 24 hours a day
        hours = kb.get("eparaksts", language, "working-hours")
        assert hours is not None and "9.00" in hours.body and "18.00" in hours.body
        down = kb.get("municipal", language, "emergency-phone")
        assert down is not None and emergency in down.body
        municipal_hours = kb.get("municipal", language, "business-hours")
        assert municipal_hours is not None
        assert "9:00" in municipal_hours.body and "17:00" in municipal_hours.body
    training = kb.get("municipal", "lv", "training")
    assert training is not None and "zzdats.lv/macibas" in training.body


# --------------------------------------------------------------------------- retrieval


def test_summaries_are_plain_text(kb: KnowledgeBase) -> None:
    assert plain_text("Call **67108787** or see [the portal](https://x.lv), `code`") == (
        "Call 67108787 or see the portal, code"
    )
    for article in kb.articles:
        assert "**" not in article.summary and "](" not in article.summary, article.path


def test_long_messages_are_read_from_the_start(assistant: Assistant) -> None:
    mail = (
        "Labdien!\n\nAizmirsu paroli, lūdzu palīdziet.\n\n"
        "Ar cieņu,\nJānis Bērziņš\nNovada dome, tālr. 26123456\n"
    )
    assert assistant.answer(mail, "municipal", "lv")[0].slug == "password-reset"
    start = mail + " " * (MAX_QUESTION_CHARS - len(mail))
    tail = "Kā pieteikt pasi un kur samaksāt nodevu? " * 2500  # another question, many times

    def ranked(text: str) -> list[tuple[str, float]]:
        return [(m.slug, m.score) for m in assistant.answer(text, "municipal", "lv")]

    # Only the start is read: the tail would change the answer, yet the answer is the start's.
    assert ranked(start)[0][0] == "password-reset"
    assert ranked(tail)[:1] != ranked(start)[:1]
    assert ranked(start + tail) == ranked(start)


def test_normalise_folds_diacritics_and_drops_function_words() -> None:
    assert normalise("Labdien! Kā nomainīt PAROLI? Paldies") == "nomainit paroli"
    assert normalise("Mans e-pasts") == "epasts"
    assert normalise("Подскажите, как сменить пароль") == "сменить пароль"
    assert stem("paroles") == stem("paroli") == stem("parole")
    assert stem("пароля") == stem("пароль")


@pytest.mark.parametrize(
    ("question", "desk", "language", "slug"),
    [
        ("aizmirsu paroli", "municipal", "lv", "password-reset"),
        ("I forgot my password", "municipal", "en", "password-reset"),
        ("kā eksportēt atskaiti uz excel", "municipal", "lv", "report-export"),
        ("ka eksportet atskaiti uz excel", "municipal", "lv", "report-export"),  # no diacritics
        ("забыл пароль от системы", "municipal", "ru", "password-reset"),
        ("telefons nozagts, steidzami jāaptur eparaksts", "eparaksts", "lv", "suspend-certificate"),
        ("lost my phone, block eparaksts", "eparaksts", "en", "suspend-certificate"),
        ("потерял телефон, заблокировать подпись", "eparaksts", "ru", "suspend-certificate"),
    ],
)
def test_answers_common_questions(
    assistant: Assistant, question: str, desk: str, language: str, slug: str
) -> None:
    matches = assistant.answer(question, desk, language)
    assert matches, question
    assert matches[0].slug == slug
    assert matches[0].language == language
    assert 0.0 < matches[0].score <= 1.0


def test_declines_what_it_does_not_know(assistant: Assistant) -> None:
    for question in ("", "   ", "?!", "asdf qwerty", "kur nopirkt biļetes?", "кто выиграл матч"):
        assert assistant.answer(question, "municipal", "lv") == []
    assert assistant.answer("aizmirsu paroli", "no-such-desk", "lv") == []
    assert assistant.answer("aizmirsu paroli", "municipal", "lv", limit=0) == []


def test_matches_are_distinct_sorted_and_limited(assistant: Assistant) -> None:
    question = "sistēma nedarbojas, kļūda, kam zvanīt un cik ātri reaģējat"
    matches = assistant.answer(question, "municipal", "lv", limit=3, min_score=0.01)
    assert 1 <= len(matches) <= 3
    assert len({m.slug for m in matches}) == len(matches)
    assert [m.score for m in matches] == sorted((m.score for m in matches), reverse=True)
    assert all(m.score >= 0.01 for m in matches)
    one = assistant.answer(question, "municipal", "lv", limit=1, min_score=0.01)
    assert [m.slug for m in one] == [matches[0].slug]
    first = matches[0]
    assert first.summary and first.summary in " ".join(plain_text(first.body).split())
    assert first.url and first.title and first.desk == "municipal"


def test_threshold_is_per_call_or_per_assistant(kb: KnowledgeBase) -> None:
    strict = Assistant(kb, min_score=0.99)
    assert strict.answer("aizmirsu paroli", "municipal", "lv") == []
    assert strict.answer("aizmirsu paroli", "municipal", "lv", min_score=0.1)
    with pytest.raises(ValueError, match="min_score"):
        Assistant(kb, min_score=1.5)


def _write(path: Path, title: str, questions: list[str], body: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    listed = "".join(f"  - {q}\n" for q in questions)
    path.write_text(
        f"---\ntitle: {title}\nquestions:\n{listed}keywords: [a, b]\n---\n{body}\n",
        encoding="utf-8",
    )


def test_falls_back_to_the_desks_other_languages(tmp_path: Path) -> None:
    _write(
        tmp_path / "desk" / "lv" / "vpn.md",
        "VPN tunelis",
        ["Kā iestatīt VPN tuneli?", "VPN router konfigurācija"],
        "VPN tuneli (router-to-router) konfigurē jūsu IT speciālists.",
    )
    _write(
        tmp_path / "desk" / "en" / "printing.md",
        "Printing",
        ["How do I print a report?", "The printer does not print"],
        "Use the print action of the report.",
    )
    assistant = Assistant(KnowledgeBase.load(tmp_path), min_score=0.2)
    # The English question has no good English article: the Latvian one answers, in Latvian.
    matches = assistant.answer("VPN router tunnel configuration", "desk", "en")
    assert [(m.slug, m.language) for m in matches] == [("vpn", "lv")]
    # A language the desk has no articles in searches all of them.
    assert assistant.answer("print a report", "desk", "de")[0].slug == "printing"
    # The question's own language wins when it has a good answer.
    assert assistant.answer("the printer does not print", "desk", "en")[0].language == "en"


# --------------------------------------------------------------------------- evaluation


def test_evaluation_questions_are_not_the_articles_own(kb: KnowledgeBase) -> None:
    """No evaluation question is (nearly) one of the question variants written in an article."""

    def grams(text: str) -> set[str]:
        padded = f" {normalise(text)} "
        return {padded[i : i + 3] for i in range(len(padded) - 2)}

    variants = [
        (grams(q), q) for article in kb.articles for q in (article.title, *article.questions)
    ]
    for row in _questions():
        own = grams(row["question"])
        for theirs, text in variants:
            overlap = len(own & theirs) / max(len(own | theirs), 1)
            assert overlap < 0.8, (row["question"], text)


def test_evaluation_data_is_well_formed(kb: KnowledgeBase) -> None:
    rows = _questions()
    slugs = {(a.desk, a.slug) for a in kb.articles}
    assert len({r["question"] for r in rows}) == len(rows), "duplicate questions"
    for row in rows:
        assert row["split"] in {"dev", "dev2", "test"}
        assert row["desk"] in DESKS and row["language"] in LANGUAGES
        if row["expected"] is not None:
            assert (row["desk"], row["expected"]) in slugs, row
    labelled = [r for r in rows if r["expected"]]
    unrelated = [r for r in rows if r["expected"] is None and not r.get("near_miss")]
    assert len(labelled) >= 40 * len(DESKS)
    assert len(unrelated) >= 20


def _rate(hits: int, total: int) -> str:
    return f"{hits}/{total} = {hits / total:.1%}" if total else "-"


def test_top_answer_is_right_and_unrelated_questions_are_declined(
    assistant: Assistant, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = _questions()
    right: dict[tuple[str, ...], list[int]] = defaultdict(lambda: [0, 0])
    declined: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    misses: list[str] = []
    for row in rows:
        matches = assistant.answer(row["question"], row["desk"], row["language"])
        top = matches[0].slug if matches else None
        if row["expected"] is None:
            group = "near_miss" if row.get("near_miss") else "unrelated"
            for key in (group, f"{group}/{row['split']}"):
                declined[key][0] += top is None
                declined[key][1] += 1
            if top is not None and group == "unrelated":
                misses.append(f"  answered {top} ({matches[0].score:.2f}): {row['question']}")
            continue
        ok = top == row["expected"]
        for key in (
            ("all",),
            ("desk", row["desk"]),
            ("desk/language", row["desk"], row["language"]),
            ("split", row["split"]),
            ("split/desk", row["split"], row["desk"]),
        ):
            right[key][0] += ok
            right[key][1] += 1
        if not ok:
            score = f"{matches[0].score:.2f}" if matches else "declined"
            misses.append(f"  wanted {row['expected']}, got {top} ({score}): {row['question']}")

    lines = [
        "",
        f"virtual assistant evaluation (min_score {DEFAULT_MIN_SCORE}, {len(rows)} questions)",
        f"top-1 right, all labelled: {_rate(*right[('all',)])}",
    ]
    lines += [f"  desk {d}: {_rate(*right[('desk', d)])}" for d in DESKS]
    lines += [
        f"  {d}/{lang}: {_rate(*right[('desk/language', d, lang)])}"
        for d in DESKS
        for lang in LANGUAGES
    ]
    for split in ("dev", "dev2", "test"):
        per_desk = ", ".join(f"{d} {_rate(*right[('split/desk', split, d)])}" for d in DESKS)
        lines.append(f"  split {split}: {_rate(*right[('split', split)])} ({per_desk})")
    lines.append(f"unrelated declined: {_rate(*declined['unrelated'])}")
    lines += [f"  split {s}: {_rate(*declined[f'unrelated/{s}'])}" for s in ("dev", "dev2", "test")]
    lines.append(f"near-miss unrelated declined (reported only): {_rate(*declined['near_miss'])}")
    lines.append("misses:")
    lines += misses
    with capsys.disabled():
        print("\n".join(lines))

    assert right[("all",)][0] / right[("all",)][1] >= TARGET_TOP1
    for desk in DESKS:
        hits, total = right[("desk", desk)]
        assert hits / total >= TARGET_TOP1, desk
    for split in ("dev", "dev2", "test"):
        hits, total = right[("split", split)]
        assert hits / total >= TARGET_TOP1, split
    hits, total = declined["unrelated"]
    assert hits / total >= TARGET_DECLINE


def test_the_assistant_is_fitted_for_every_language(kb: KnowledgeBase) -> None:
    # Its fitting time and latency per question are bench/assistant.py's figures.
    assistant = Assistant(kb)
    assert set(re.findall(r"\w+", " ".join(assistant.languages("municipal")))) == set(LANGUAGES)
    assert KB_ROOT.is_dir()


def _answers(assistant: Assistant) -> list[list[tuple[str, float]]]:
    questions = [q["question"] for q in _questions()[:60]]
    return [
        [(m.slug, m.score) for m in assistant.answer(q, desk, lang)]
        for q in questions
        for desk in DESKS
        for lang in ("lv", "en")
    ]


def _questions() -> list[dict]:
    return [
        json.loads(line)
        for line in QUESTIONS.read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]


def test_saved_indexes_give_the_same_answers_and_are_read_instead_of_built(
    kb: KnowledgeBase, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from triage_desk.responders import assistant as module

    expected = _answers(Assistant(kb))
    assert _answers(Assistant(kb, cache_dir=tmp_path)) == expected
    saved = sorted(p.name for p in tmp_path.iterdir())
    assert [name.split("-")[1] for name in saved] == sorted(DESKS)

    def never(*_args: object) -> None:
        raise AssertionError("built although a saved index was there")

    monkeypatch.setattr(module._Index, "build", never)
    assert _answers(Assistant(kb, cache_dir=tmp_path)) == expected


def test_a_changed_article_or_a_torn_file_is_never_read(
    kb: KnowledgeBase, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import dataclasses

    Assistant(kb, cache_dir=tmp_path).warm_up(["municipal"])
    (old,) = tmp_path.iterdir()
    changed = KnowledgeBase(
        tuple(
            dataclasses.replace(a, body=a.body + "\n\nMainīts.") if i == 0 else a
            for i, a in enumerate(kb.for_desk("municipal"))
        )
    )
    Assistant(changed, cache_dir=tmp_path).warm_up(["municipal"])
    assert len(list(tmp_path.iterdir())) == 2  # a new name: the old file was not read
    old.write_bytes(b"not an index")
    expected = _answers(Assistant(kb))
    assert _answers(Assistant(kb, cache_dir=tmp_path)) == expected
    assert "building it again" in caplog.text


def test_a_questions_ngrams_are_looked_up_word_by_word_as_the_vectoriser_counts_them(
    kb: KnowledgeBase, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The lexicon keeps each word's known n-grams (the same words come back in every
    question): the ids and counts are those of the whole question's n-grams, cold or warm,
    and a mail of made-up words cannot grow what is kept past its bound."""
    monkeypatch.setattr(assistant_module, "WORD_CACHE", 16)
    fresh = Assistant(kb)
    _indexes, lexicon = fresh._desk("municipal")
    question = "Aizmirsu paroli, parole nederīga; parole! Kā atjaunot paroli portālā?"
    query = _Question.of(question)
    counts = Counter(char_wb_ngrams(query.normalised, *NGRAMS))
    expected = sorted((lexicon.ids[g], n) for g, n in counts.items() if g in lexicon.ids)
    for _cold_then_warm in range(2):
        ids, found = lexicon.lookup(query)
        assert list(zip(ids.tolist(), found.tolist(), strict=True)) == expected
    assert fresh.answer(question, "municipal", "lv") == fresh.answer(question, "municipal", "lv")
    made_up = " ".join(f"vārds{i}x" for i in range(100))
    fresh.answer(made_up, "municipal", "lv")
    assert 0 < len(lexicon._word_ids) <= 16
