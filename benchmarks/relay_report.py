"""The default model's training so far, from the relay checkpoint and the shipped model: every run with its
machine, batch, learning rate, steps, wall-clock and CPU minutes and the dev score it reached, and the curve.

    python benchmarks/relay_report.py   # → benchmarks/results/training_ja_en.json and .png

Run it after shipping a model (the checkpoint and data/models then tell the same run). The dev score is the mean
chrF of both directions on the 250 held-out pairs each way, greedy, int8 (what `kakehashi train` evaluates).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from plot_training import plot

ROOT = Path(__file__).resolve().parent.parent
CHECKPOINT = ROOT / "data" / "checkpoints" / "kakehashi-ja-en"
MODEL = ROOT / "data" / "models" / "kakehashi-ja-en"
RESULTS = ROOT / "benchmarks" / "results"


def run_rows(history: dict[str, Any], summary: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per run of the chain, with the last dev score measured within it (the shipped model's own for
    the run that made it)."""
    evaluations = [(e["step"], e["mean_chrf"]) for e in history.get("history", [])]
    if summary.get("steps") is not None:
        shipped = summary["dev_scores"][summary["chosen_weights"]]["mean_chrf"]
        evaluations.append((summary["steps"], shipped))
    rows = []
    for record in history.get("runs", []):
        accumulate = int(record.get("accumulate", 1))
        within = [(step, score) for step, score in evaluations if record["from_step"] < step <= record["to_step"]]
        rows.append(
            {
                "started": record["started"],
                "device": record["device"],
                "threads": record["threads"],
                "precision": record["precision"],
                "batch_tokens": record["batch_tokens"],
                "accumulate": accumulate,
                "tokens_per_step": record["batch_tokens"] * accumulate,
                "learning_rate": record["learning_rate"],
                "steps": f"{record['from_step']} → {record['to_step']}",
                "wall_minutes": round(record["to_minutes"] - record["from_minutes"], 1),
                "cpu_minutes": record.get("cpu_minutes"),
                # Corpora added to the run (--add-train) that this run trained on, and how its optimizer
                # moments came (full, factored from a small checkpoint, none: re-warmed); absent in older records.
                "added_corpora": record.get("added_corpora", 0),
                "moments": record.get("moments"),
                # Corpus weights of the run (--weight CORPUS=W: examples per epoch as a multiple of the corpus).
                "corpus_weights": record.get("corpus_weights") or {},
                # Exports' own evaluations were not kept in the history before step 8,327: the last one made
                # during the run stands for it.
                "last_dev_evaluation": {"step": within[-1][0], "mean_chrf": within[-1][1]} if within else None,
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", type=Path, default=CHECKPOINT)
    parser.add_argument("--model", type=Path, default=MODEL)
    parser.add_argument("--output", type=Path, default=RESULTS / "training_ja_en.json")
    args = parser.parse_args()
    history = json.loads((args.checkpoint / "history.json").read_text(encoding="utf-8"))
    training = json.loads((args.model / "kakehashi.json").read_text(encoding="utf-8"))["training"]
    if training["summary"].get("steps") != history.get("step"):
        raise SystemExit(
            f"the model in {args.model} was trained to step {training['summary'].get('steps')} but the checkpoint "
            f"in {args.checkpoint} is at step {history.get('step')}: ship the model that matches the checkpoint first"
        )
    report = {
        "config": training["config"],
        "summary": {k: v for k, v in training["summary"].items() if k != "runs"},
        "runs": run_rows(history, training["summary"]),
        "dev_evaluations": history.get("history", []),
    }
    args.output.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    plot(history, args.output.with_suffix(".png"), training["summary"])
    print(f"wrote {args.output} ({len(report['runs'])} runs, step {history.get('step')})")


if __name__ == "__main__":
    main()
