"""Virtual assistant benchmark: fit time, per-question latency, and accuracy end to end.

    .venv/bin/python bench/assistant.py [--rounds N] [--min-score S] [--detect]

Runs every question of tests/assistant_questions.jsonl through ``Assistant.answer`` and prints
the fit time, p50/p99/max latency per question and the top-1 / decline figures per split.
With ``--detect`` the language comes from the classifier's language detector instead of the
label, as it does in the pipeline (a Latvian question typed without diacritics may be taken
for English; the assistant then falls back to the desk's other languages).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from triage_desk.responders.assistant import DEFAULT_MIN_SCORE, Assistant, KnowledgeBase

QUESTIONS = Path(__file__).resolve().parent.parent / "tests" / "assistant_questions.jsonl"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--min-score", type=float, default=DEFAULT_MIN_SCORE)
    parser.add_argument("--detect", action="store_true", help="detect the question's language")
    args = parser.parse_args()

    started = time.perf_counter()
    kb = KnowledgeBase.load()
    loaded = time.perf_counter() - started
    started = time.perf_counter()
    assistant = Assistant(kb, args.min_score)
    fitted = time.perf_counter() - started
    rows = [json.loads(line) for line in QUESTIONS.read_text(encoding="utf-8").splitlines()]
    print(
        f"{len(kb.articles)} articles: read in {loaded * 1000:.0f} ms, fitted in "
        f"{fitted * 1000:.0f} ms; {len(rows)} questions x {args.rounds} rounds"
    )

    if args.detect:
        from triage_desk.classifier.language import detect_language

        for row in rows:
            row["detected"] = detect_language(row["question"], default="lv")
        wrong = sum(row["detected"] != row["language"] for row in rows)
        print(f"language detector disagrees with the label on {wrong}/{len(rows)} questions")

    timings: list[float] = []
    for _ in range(args.rounds):
        for row in rows:
            language = row.get("detected", row["language"])
            t0 = time.perf_counter()
            assistant.answer(row["question"], row["desk"], language)
            timings.append(time.perf_counter() - t0)
    timings.sort()
    p99 = timings[round(0.99 * (len(timings) - 1))]
    print(
        f"latency per question: p50 {statistics.median(timings) * 1000:.2f} ms, "
        f"p99 {p99 * 1000:.2f} ms, max {timings[-1] * 1000:.2f} ms"
    )

    for split in ("dev", "dev2", "test", None):
        chosen = [r for r in rows if split is None or r["split"] == split]
        right = labelled = declined = unrelated = 0
        for row in chosen:
            if row.get("near_miss"):
                continue
            matches = assistant.answer(
                row["question"], row["desk"], row.get("detected", row["language"])
            )
            top = matches[0].slug if matches else None
            if row["expected"] is None:
                unrelated += 1
                declined += top is None
            else:
                labelled += 1
                right += top == row["expected"]
        name = split or "all"
        print(
            f"{name:5} top-1 {right}/{labelled} = {right / labelled:.1%}; "
            f"unrelated declined {declined}/{unrelated} = {declined / unrelated:.1%}"
        )


if __name__ == "__main__":
    main()
