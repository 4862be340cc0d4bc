"""Equal-time comparisons of relay settings: arms that continue the same run from the same step, side by side.

Each arm is a work directory of ``kakehashi train`` that resumed the relay checkpoint at ``--since`` with one
setting changed (corpora added, batch size, learning rate …), for the same minutes on the same machine, one
thread each at the same time, so that wall-clock minutes compare. This reads the arms' run states and, optionally,
a quality report (``kakehashi bench quality``, systems named like the arms) and adds the experiment to
``benchmarks/results/relay_experiments.json`` and ``.md`` (earlier experiments are kept)::

    python benchmarks/relay_experiment.py --name lexicon --since 8520 \\
        --arm baseline=~/.cache/kakehashi/train/kakehashi-ja-en --arm lexicon=~/.cache/kakehashi/train/exp-lexicon \\
        --quality /tmp/q-arms/quality.json --note "…"

The dev score is what `kakehashi train` evaluates: chrF on the run's 250 held-out pairs each way, greedy, int8.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
OUTPUT = RESULTS / "relay_experiments.json"


def _run_state(work: Path) -> dict[str, Any]:
    import torch

    return dict(torch.load(work / "state.pt", map_location="cpu", weights_only=False)["run"])


def arm_report(run: dict[str, Any], since: int, settings: dict[str, Any]) -> dict[str, Any]:
    """What an arm did after step ``since``: its sessions, dev evaluations (minutes from the arm's start) and
    compute."""
    sessions = [r for r in run.get("runs", []) if r["from_step"] >= since]
    if not sessions:
        raise SystemExit(f"the run records no session that began at or after step {since}")
    start = sessions[0]["from_minutes"]
    evaluations = [
        {
            "minutes": round(e["minutes"] - start, 1),
            "step": e["step"],
            "steps": e["step"] - since,
            "ja-en chrF": e["ja-en"]["chrf"],
            "en-ja chrF": e["en-ja"]["chrf"],
            "mean chrF": e["mean_chrf"],
        }
        for e in run.get("history", [])
        if e["step"] > since
    ]
    keys = (
        "threads",
        "batch_tokens",
        "accumulate",
        "learning_rate",
        "added_corpora",
        "moments",
        "cooldown_steps",
        "corpus_weights",
    )
    return {
        "settings": {k: sessions[0].get(k) for k in keys} | {"added_train": settings.get("added_train", [])},
        "steps": run["step"] - since,
        "wall_minutes": round(sessions[-1]["to_minutes"] - start, 1),
        "cpu_minutes": round(sum(r.get("cpu_minutes") or 0 for r in sessions), 1),
        "dev_evaluations": evaluations,
    }


def scores_by_testset(quality: dict[str, Any], arms: list[str]) -> list[dict[str, Any]]:
    """Each test set's BLEU and chrF per arm, with the paired-bootstrap p-value against the first arm."""
    rows = []
    for testset in quality["testsets"]:
        key = testset["key"] if isinstance(testset, dict) else testset
        row: dict[str, Any] = {"testset": key}
        for result in quality["results"]:
            if result["testset"] == key and result["system"] in arms:
                comparison = result.get("comparison") or {}
                row[result["system"]] = {
                    "BLEU": result["score"]["bleu"],
                    "chrF": result["score"]["chrf"],
                    "sentences": result["sentences"],
                    "p_BLEU": (comparison.get("BLEU") or {}).get("p_value"),
                    "p_chrF": (comparison.get("chrF2") or {}).get("p_value"),
                }
        rows.append(row)
    return rows


def markdown(experiments: dict[str, Any]) -> str:
    lines = [
        "# Relay experiments: equal-time arms from the same step",
        "",
        "Written by `benchmarks/relay_experiment.py`. Each arm continued the relay from the same step for the same "
        "minutes, one thread each, side by side; dev chrF on the run's held-out pairs (250 each way, greedy, int8).",
        "",
    ]
    for name, experiment in experiments.items():
        arms = experiment["arms"]
        lines += [f"## {name} (from step {experiment['since']:,}, {experiment['date']})", "", experiment["note"], ""]
        lines += ["| arm | setting | steps | wall min | CPU min | dev evaluations (min: mean chrF, ja-en / en-ja) |"]
        lines += ["|---|---|---|---|---|---|"]
        for arm, report in arms.items():
            added = ", ".join(Path(s.partition(":")[2]).name for s in report["settings"]["added_train"]) or "—"
            evals = "; ".join(
                f"{e['minutes']:.0f}: {e['mean chrF']} ({e['ja-en chrF']} / {e['en-ja chrF']})"
                for e in report["dev_evaluations"]
            )
            setting = f"{report['settings']['batch_tokens']:,} × {report['settings']['accumulate']} tokens, lr "
            setting += f"{report['settings']['learning_rate']}, added: {added}"
            if report["settings"].get("cooldown_steps"):
                setting += f", cool-down to zero over {report['settings']['cooldown_steps']} steps"
            if report["settings"].get("corpus_weights"):
                weights = report["settings"]["corpus_weights"].items()
                setting += ", corpora weighted " + ", ".join(f"{corpus} ×{weight:g}" for corpus, weight in weights)
            lines.append(
                f"| {arm} | {setting} | {report['steps']} | {report['wall_minutes']} | {report['cpu_minutes']} | {evals} |"
            )
        if experiment.get("tests"):
            names = list(arms)
            lines += ["", "| test set | " + " | ".join(f"{a} BLEU / chrF" for a in names) + " |"]
            lines += ["|---|" + "---|" * len(names)]
            for row in experiment["tests"]:
                cells = []
                for arm in names:
                    score = row.get(arm)
                    if not score:
                        cells.append("—")
                        continue
                    p = "" if score["p_chrF"] is None else f" (p {score['p_BLEU']:.3f} / {score['p_chrF']:.3f})"
                    cells.append(f"{score['BLEU']} / {score['chrF']}{p}")
                lines.append(f"| {row['testset']} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--name", required=True, help="the experiment's name (replaces one of that name)")
    parser.add_argument("--since", type=int, required=True, help="the step all arms resumed from")
    parser.add_argument("--arm", action="append", required=True, metavar="NAME=WORK_DIR", help="repeatable")
    parser.add_argument(
        "--quality", type=Path, action="append", help="quality.json of the arms' exported models (repeatable)"
    )
    parser.add_argument("--note", default="", help="what was compared, and what was found")
    parser.add_argument("--date", required=True, help="when the arms ran (YYYY-MM-DD)")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args()
    arms = {}
    for item in args.arm:
        name, _, folder = item.partition("=")
        work = Path(folder).expanduser()
        settings = json.loads((work / "config.json").read_text(encoding="utf-8"))
        arms[name] = arm_report(_run_state(work), args.since, settings)
    experiment: dict[str, Any] = {"since": args.since, "date": args.date, "note": args.note, "arms": arms}
    for quality in args.quality or []:
        experiment.setdefault("tests", []).extend(
            scores_by_testset(json.loads(quality.read_text(encoding="utf-8")), list(arms))
        )
    experiments = json.loads(args.output.read_text(encoding="utf-8")) if args.output.exists() else {}
    experiments[args.name] = experiment
    args.output.write_text(json.dumps(experiments, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    args.output.with_suffix(".md").write_text(markdown(experiments), encoding="utf-8")
    print(f"wrote {args.output} and .md ({len(experiments)} experiments)")


if __name__ == "__main__":
    main()
