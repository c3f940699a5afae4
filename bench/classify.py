"""Benchmark of the triage classifier: prints figures, asserts nothing.

    .venv/bin/python bench/classify.py            # everything, cold training included
    .venv/bin/python bench/classify.py --no-cold  # skip training with an empty embedding cache

Figures (targets from issue 4, on the 2-core machine):
* training time: warm (sentence embeddings cached) and cold (empty cache, as on a new machine,
  where the bundled examples' vectors ship with them) — ≤ 120 s; and with nothing cached or
  shipped, every sentence embedded
* model load time (skops files → ready Classifier) — ≤ 2 s; model files — ≤ 20 MB of ours
* fast path (n-gram stage + language detection): batch msg/s ≥ 5,000; single p50/p99 ≤ 2 ms
* whole classifier (cascade: semantic stage when unsure): batch ≥ 50 msg/s; single p99 ≤ 150 ms
* peak RSS of this process

The messages are the dev split (held out from training), repeated where a batch needs more.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from triage_desk.classifier import embedding
from triage_desk.classifier.data import load_examples
from triage_desk.classifier.predict import Classifier, ClassifierInput
from triage_desk.classifier.store import ModelStore
from triage_desk.classifier.training import train

MUNICIPAL = {
    "emergency",
    "serious_error",
    "error",
    "inaccuracy",
    "data_processing",
    "consultation",
    "feedback",
}
EPARAKSTS = {"application", "suspension", "feedback"}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def line(name: str, value: str, target: str = "") -> None:
    print(f"  {name:<44} {value:>16}   {target}")


def cold_training(examples: list, shipped_vectors: bool) -> float:
    """Seconds to train with an empty embedding cache, as on a new machine; without the
    bundled examples' shipped vectors too, every sentence is embedded."""
    shipped = embedding.read_bundled_vectors
    previous = os.environ.get("TRIAGE_EMBEDDING_CACHE")
    with tempfile.TemporaryDirectory() as cache:
        os.environ["TRIAGE_EMBEDDING_CACHE"] = cache
        if not shipped_vectors:
            embedding.read_bundled_vectors = lambda *args, **kwargs: {}
        try:
            started = time.perf_counter()
            train(examples)
            return time.perf_counter() - started
        finally:
            embedding.read_bundled_vectors = shipped
            if previous is None:
                os.environ.pop("TRIAGE_EMBEDDING_CACHE")
            else:
                os.environ["TRIAGE_EMBEDDING_CACHE"] = previous


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--no-cold", action="store_true", help="skip the training run with an empty embedding cache"
    )
    parser.add_argument(
        "--single",
        type=int,
        default=300,
        help="messages classified one at a time (whole classifier)",
    )
    args = parser.parse_args()

    load1 = os.getloadavg()[0]
    print(f"machine: {os.cpu_count()} cores, load average {load1:.2f} at start")
    examples = load_examples()
    dev = [e for e in examples if e.split == "dev"]
    items = [
        ClassifierInput(
            e.subject,
            e.body,
            allowed_categories=MUNICIPAL if e.desk == "municipal" else EPARAKSTS,
            default_language="lv",
        )
        for e in dev
    ]

    print("training")
    if not args.no_cold:
        cold = cold_training(examples, shipped_vectors=True)
        line("training, cold (shipped vectors, no cache)", f"{cold:.1f} s", "target ≤ 120 s")
        cold = cold_training(examples, shipped_vectors=False)
        line("training, nothing cached or shipped", f"{cold:.1f} s")
    train(examples)  # fills the cache if it was empty
    started = time.perf_counter()
    model, meta = train(examples)
    line(
        "training, warm (embeddings cached)",
        f"{time.perf_counter() - started:.1f} s",
        "target ≤ 120 s",
    )

    with tempfile.TemporaryDirectory() as folder:
        store = ModelStore(Path(folder))
        version = store.save(model, meta)
        size = store.files_size(version)
        started = time.perf_counter()
        loaded, loaded_meta = store.load()
        classifier = Classifier(loaded, loaded_meta)
        load_seconds = time.perf_counter() - started
    started = time.perf_counter()
    classifier.warm_up()
    warm_seconds = time.perf_counter() - started
    print("model")
    line("model files (skops, serving arrays, meta)", f"{size / 1e6:.2f} MB", "target ≤ 20 MB")
    line("model load (files → Classifier)", f"{load_seconds * 1000:.0f} ms", "target ≤ 2 s")
    line("warm-up (lingua models, e5 mmap)", f"{warm_seconds * 1000:.0f} ms")

    print("fast path (n-gram stage + language detection)")
    batch = (items * (5000 // len(items) + 1))[:5000]
    classifier.classify_many(batch[:200], semantic=False)
    runs = []
    for _ in range(3):
        started = time.perf_counter()
        classifier.classify_many(batch, semantic=False)
        runs.append(time.perf_counter() - started)
    line(
        f"batch of {len(batch)}, best of 3",
        f"{len(batch) / min(runs):,.0f} msg/s",
        "target ≥ 5,000 msg/s",
    )
    timings = []
    for item in (items * 4)[:1200]:
        started = time.perf_counter()
        classifier.classify_many([item], semantic=False)
        timings.append(time.perf_counter() - started)
    line("single message p50", f"{percentile(timings, 50) * 1000:.3f} ms", "target ≤ 2 ms")
    line("single message p99", f"{percentile(timings, 99) * 1000:.3f} ms", "target ≤ 2 ms")

    print("whole classifier (cascade: semantic stage when the fast one is unsure)")
    started = time.perf_counter()
    predictions = classifier.classify_many(items)
    seconds = time.perf_counter() - started
    share = sum(p.stage == "semantic" for p in predictions) / len(predictions)
    line(f"batch of {len(items)}", f"{len(items) / seconds:,.1f} msg/s", "target ≥ 50 msg/s")
    line("  share sent to the semantic stage", f"{share:.1%}")
    timings, escalated = [], []
    for item in items[: args.single]:
        started = time.perf_counter()
        prediction = classifier.classify(item)
        elapsed = time.perf_counter() - started
        timings.append(elapsed)
        if prediction.stage == "semantic":
            escalated.append(elapsed)
    line(
        f"single message p50 ({len(timings)} messages)", f"{percentile(timings, 50) * 1000:.1f} ms"
    )
    line("single message p99", f"{percentile(timings, 99) * 1000:.1f} ms", "target ≤ 150 ms")
    if escalated:
        line(
            "  semantic-stage messages: median / max",
            f"{statistics.median(escalated) * 1000:.0f} / {max(escalated) * 1000:.0f} ms",
        )

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print("process")
    line("peak RSS", f"{peak:.0f} MB")
    print(
        f"load average {os.getloadavg()[0]:.2f} at the end (other work on the machine "
        "slows every figure)"
    )


if __name__ == "__main__":
    main()
