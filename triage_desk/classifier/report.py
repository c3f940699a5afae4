"""`triage eval` output: per-class figures per head and per language, confusion matrices as
text and as a PNG, and what auto-accept achieves."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from triage_desk.classifier.training import Evaluation

HEADS = (("category", "Category"), ("feedback", "Feedback type"))


def _class_table(title: str, classes: dict[str, dict[str, Any]]) -> Table:
    table = Table(
        "class", "precision", "recall", "F1", "support", title=title, title_justify="left"
    )
    for label, row in classes.items():
        if not row["support"] and not row["precision"]:
            continue
        table.add_row(
            label,
            f"{row['precision']:.3f}",
            f"{row['recall']:.3f}",
            f"{row['f1']:.3f}",
            str(row["support"]),
        )
    return table


def confusion_text(labels: list[str], matrix: list[list[int]]) -> str:
    """A plain-text confusion matrix: rows are the true labels, columns the predicted."""
    short = [label[:12] for label in labels]
    width = max(len(s) for s in short) + 1
    lines = ["true \\ predicted".ljust(width + 3) + "".join(s.rjust(width) for s in short)]
    for label, row in zip(short, matrix, strict=True):
        lines.append(label.ljust(width + 3) + "".join(str(v).rjust(width) for v in row))
    return "\n".join(lines)


def print_evaluation(console: Console, result: Evaluation, meta: dict[str, Any]) -> None:
    d = result.details
    console.print(
        f"[bold]model {meta.get('version')}[/bold] on {result.size} dev examples "
        f"(data {str(meta.get('data_hash', ''))[:12]}, trained {meta.get('created_at', '?')})"
    )
    console.print(
        f"macro-F1: category {result.category_macro_f1:.4f}, feedback type "
        f"{result.feedback_macro_f1:.4f}; suspension recall {d['suspension_recall']}; "
        f"semantic stage asked for {d['semantic_share']:.1%} of messages"
    )
    for key, name in HEADS:
        console.print(_class_table(f"{name} — all languages", d[f"{key}_classes"]))
    languages = Table(
        "language",
        "messages",
        "category macro-F1",
        "feedback macro-F1",
        "suspension recall",
        "auto-accept precision",
        "auto-accept coverage",
        title="Per language",
        title_justify="left",
    )
    for language, row in d["by_language"].items():
        languages.add_row(
            language,
            str(row["size"]),
            f"{row['category_macro_f1']:.4f}",
            f"{row['feedback_macro_f1']:.4f}",
            str(row["suspension_recall"]),
            str(row["auto_accept_precision"]),
            f"{row['auto_accept_coverage']:.1%}",
        )
    console.print(languages)
    for language, row in d["by_language"].items():
        for key, name in HEADS:
            console.print(_class_table(f"{name} — {language}", row[f"{key}_classes"]))
    for key, name in HEADS:
        console.print(f"[bold]{name} confusion matrix[/bold] (rows: true, columns: predicted)")
        console.print(
            confusion_text(d[f"{key}_labels"], d[f"{key}_confusion"]),
            highlight=False,
            soft_wrap=True,
        )
    console.print(
        f"auto-accept: threshold {result.auto_accept_threshold:.4f} on P(both heads right) "
        f"(chosen on the dev split for ≥ 97 % precision), precision "
        f"{result.auto_accept_precision:.1%}, coverage {result.auto_accept_coverage:.1%}"
    )
    oof = meta.get("auto_accept_threshold_oof")
    if oof is not None:
        console.print(f"  (out-of-fold predictions on the train split would choose {oof:.4f})")
    rules = meta.get("cross_validation", {}).get("auto_accept_rules")
    if rules:
        console.print(
            "  out of fold, coverage at 97 % precision: "
            + ", ".join(f"{name.replace('_', ' ')} {value:.1%}" for name, value in rules.items())
        )
    errors = meta.get("cross_validation", {}).get("auto_accept_rules_error")
    if errors:
        console.print(
            "  out of fold, error rate among the surest 20–60 %: "
            + ", ".join(f"{name.replace('_', ' ')} {value:.2%}" for name, value in errors.items())
        )


def confusion_png(result: Evaluation, path: Path, title: str = "") -> Path:
    """Both heads' confusion matrices, side by side, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    d = result.details
    figure, axes = plt.subplots(1, 2, figsize=(15, 6.5))
    for axis, (key, name) in zip(axes, HEADS, strict=True):
        labels = d[f"{key}_labels"]
        matrix = np.array(d[f"{key}_confusion"])
        axis.imshow(matrix, cmap="Blues")
        axis.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
        axis.set_yticks(range(len(labels)), labels)
        axis.set_xlabel("predicted")
        axis.set_ylabel("true")
        axis.set_title(name)
        peak = matrix.max() if matrix.size else 0
        for (row, col), value in np.ndenumerate(matrix):
            if value:
                axis.text(
                    col,
                    row,
                    str(value),
                    ha="center",
                    va="center",
                    color="white" if value > peak / 2 else "black",
                    fontsize=8,
                )
    figure.suptitle(title)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
