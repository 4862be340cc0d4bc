"""Training curves (loss, dev BLEU/chrF per direction) from a run's history.json → PNG.

    python benchmarks/plot_training.py ~/.cache/kakehashi/train/ja-en-v1/history.json \
        --output benchmarks/results/training_ja_en.png
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("history", type=Path)
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--manifest", type=Path, help="kakehashi.json of the exported model: its dev score as a star")
    args = parser.parse_args()
    run = json.loads(args.history.read_text(encoding="utf-8"))
    summary = json.loads(args.manifest.read_text(encoding="utf-8"))["training"]["summary"] if args.manifest else None
    plot(run, args.output, summary)


def plot(run: dict[str, Any], output: Path, summary: dict[str, Any] | None = None) -> None:
    """Draw a run's loss and dev curves (``history.json``) into ``output``; ``summary``, the exported model's
    training summary, adds its dev scores as stars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (loss_ax, dev_ax) = plt.subplots(1, 2, figsize=(11, 4))
    losses = run["losses"]
    loss_ax.plot([r["minutes"] for r in losses], [r["loss"] for r in losses], lw=0.8)
    loss_ax.set(xlabel="minutes", ylabel="training loss (label-smoothed CE)", title="Training loss")
    # A relay's runs happen on different machines: mark where each one started and on what.
    for record in run.get("runs", []):
        for ax in (loss_ax, dev_ax):
            ax.axvline(record["from_minutes"], color="grey", lw=0.6, ls=":")
        label = record["device"].split(" (")[-1].rstrip(")") if "(" in record["device"] else record["device"]
        loss_ax.annotate(
            f"{label}, {record['threads']} threads" if label == "cpu" else label,
            (record["from_minutes"], 1.0),
            xycoords=("data", "axes fraction"),
            fontsize=7,
            rotation=90,
            va="top",
            ha="right",
        )
    evals = run["history"]
    directions = sorted({k for e in evals for k, v in e.items() if isinstance(v, dict)})
    for direction in directions:
        minutes = [e["minutes"] for e in evals if direction in e]
        dev_ax.plot(
            minutes, [e[direction]["bleu"] for e in evals if direction in e], marker="o", label=f"{direction} BLEU"
        )
        dev_ax.plot(
            minutes,
            [e[direction]["chrf"] for e in evals if direction in e],
            marker="s",
            ls="--",
            label=f"{direction} chrF",
        )
    if summary:
        chosen = summary["dev_scores"][summary["chosen_weights"]]
        for direction in sorted(k for k, v in chosen.items() if isinstance(v, dict)):
            for metric, marker in (("bleu", "*"), ("chrf", "P")):
                dev_ax.plot(
                    [summary["minutes"]],
                    [chosen[direction][metric]],
                    marker=marker,
                    ms=11,
                    ls="none",
                    label=f"exported, {direction} {metric}",
                )
    dev_ax.set(xlabel="minutes", ylabel="score", title="Dev set (greedy, CTranslate2 int8)")
    dev_ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(output, dpi=110)
    plt.close(fig)
    print(f"wrote {output}")


if __name__ == "__main__":
    main()
