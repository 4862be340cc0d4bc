"""Whether a relay model should replace the shipped default: its dev scores against the default's, on enough
sentences to tell them apart.

The run's own dev set (250 held-out pairs each way, scored at export) moved by 0.3 chrF between evaluations ten
steps apart, as much as the models in question differ (``relay_experiments.md``). So the gate adds the Wiki Kyoto
dev split (1,097 sentences each way, articles never trained on) and ``tatoeba-gate`` (1,072 everyday sentences
of Tatoeba-test that the reports, which read its first 1,000, leave out: half the relay's goals are on
Tatoeba, which the other two sets hardly hold), translated as the service does (beam 4, int8, and both models
with the shipped one's recommended decoding, which ship.py carries over), and pools them: the candidate ships
when its chrF gain, averaged over the 2 × (250 + 1,097 + 1,072) dev sentences (each set weighted by its
sentences), is above zero *and* beyond noise: a paired bootstrap that draws the Wiki Kyoto and Tatoeba sentences
anew and pools again (the run dev gains held as they are) finds the pooled gain at or below zero in under
``--alpha`` (default 5 %) of its resamples. Checkpoints a few dozen steps apart differ by about 0.5 chrF on one
set (``relay_experiments.md``), so a gain above zero alone ships noise. Each set's own p-value is reported beside
it::

    python benchmarks/ship_gate.py ~/.cache/kakehashi/train/kakehashi-ja-en/model

writes ``ship_gate_<name>.json`` into ``--output`` (default ``/tmp/kakehashi-ship-gate``; translations are kept there
and reused by system name) and exits 0 when the candidate should ship, 1 when not. No pair the quality report of a
model that ships reads is a gate pair: Wiki Kyoto's test split and Tatoeba-test's first 1,000 stay for it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "data" / "models" / "kakehashi-ja-en"
DIRECTIONS = ("ja-en", "en-ja")
ALPHA = 0.05
DEV_TESTSETS = tuple(f"{name}:{direction}" for name in ("wikikyoto-dev", "tatoeba-gate") for direction in DIRECTIONS)


def run_dev(model: Path) -> dict[str, dict[str, float]]:
    """The model's export-time scores on its run's dev set, per direction: chrF and sentences."""
    summary = json.loads((model / "kakehashi.json").read_text(encoding="utf-8"))["training"]["summary"]
    chosen = summary["dev_scores"][summary["chosen_weights"]]
    return {d: {"chrf": chosen[d]["chrf"], "sentences": chosen[d]["sentences"]} for d in DIRECTIONS}


def pooled_gain(rows: list[dict[str, Any]]) -> float:
    """The chrF gain averaged over all rows' sentences: each row (a dev set in one direction) weighs by its size."""
    sentences = sum(r["sentences"] for r in rows)
    return sum((r["candidate"] - r["shipped"]) * r["sentences"] for r in rows) / sentences


def gate_rows(
    candidate_run_dev: dict[str, Any], shipped_run_dev: dict[str, Any], quality: dict[str, Any], name: str = "candidate"
) -> list[dict[str, Any]]:
    """The gate's rows: run dev, Wiki Kyoto dev and tatoeba-gate, each direction, with both models' chrF; ``name``
    is the candidate's system name in ``quality`` (the shipped model's is ``shipped``)."""
    rows = []
    for direction in DIRECTIONS:
        if candidate_run_dev[direction]["sentences"] != shipped_run_dev[direction]["sentences"]:
            raise SystemExit(
                f"the two models were scored on different run dev sets ({direction}: "
                f"{candidate_run_dev[direction]['sentences']} vs {shipped_run_dev[direction]['sentences']} sentences); "
                "the gate compares models of the same relay"
            )
        rows.append(
            {
                "set": f"run dev {direction}",
                "sentences": candidate_run_dev[direction]["sentences"],
                "candidate": candidate_run_dev[direction]["chrf"],
                "shipped": shipped_run_dev[direction]["chrf"],
                "p_chrF": None,
            }
        )
    for testset in DEV_TESTSETS:
        found = {r["system"]: r for r in quality["results"] if r["testset"] == testset}
        if not {name, "shipped"} <= set(found):
            raise SystemExit(f"the quality report has no scores of both systems on {testset}")
        comparison = found[name].get("comparison") or {}
        rows.append(
            {
                "set": testset.replace(":", " "),
                "sentences": found[name]["sentences"],
                "candidate": found[name]["score"]["chrf"],
                "shipped": found["shipped"]["score"]["chrf"],
                "p_chrF": (comparison.get("chrF2") or {}).get("p_value"),
            }
        )
    return rows


def decide(rows: list[dict[str, Any]], p_value: float, alpha: float = ALPHA) -> dict[str, Any]:
    """The pooled gain of the gate's rows and the decision: ship when the gain is above zero and ``p_value`` (the
    pooled paired bootstrap's, :func:`pooled_p_value`) is below ``alpha``."""
    gain = pooled_gain(rows)
    return {
        "rows": rows,
        "pooled_chrf_gain": round(gain, 3),
        "pooled_p": p_value,
        "alpha": alpha,
        "ship": gain > 0 and p_value < alpha,
    }


def pooled_p_value(
    output: Path, systems: list[Any], testsets: list[Any], run_dev_rows: list[dict[str, Any]], resamples: int
) -> float:
    """The pooled paired bootstrap's p-value of the candidate's gain (``systems``: shipped, candidate), from the
    translations the quality run kept in ``output``; the run dev rows are pooled in as they are."""
    from mt._evaluation import pooled_chrf_gain
    from mt.bench.quality import TranslationStore

    sets = []
    for testset in testsets:
        shipped, candidate = (TranslationStore(output, system, testset).finished() for system in systems)
        if shipped is None or candidate is None:
            raise SystemExit(f"the translations of {testset.key} were not kept in {output}")
        sets.append((shipped[0], candidate[0], testset.references))
    fixed = [(r["candidate"] - r["shipped"], r["sentences"]) for r in run_dev_rows]
    return pooled_chrf_gain(sets, fixed, resamples=resamples).p_value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("candidate", type=Path, help="a model directory written by kakehashi train")
    parser.add_argument("--shipped", type=Path, default=SHIPPED, help=f"the model to beat (default {SHIPPED})")
    parser.add_argument("--output", type=Path, default=Path("/tmp/kakehashi-ship-gate"))
    parser.add_argument(
        "--name",
        default="candidate",
        help="the candidate's system name: gates of several candidates into one --output translate the shipped "
        "model once",
    )
    parser.add_argument("--threads", type=int, default=2, help="CTranslate2 threads per system (default 2)")
    parser.add_argument(
        "--alpha",
        type=float,
        default=ALPHA,
        help=f"ship only when the pooled paired bootstrap's p-value is below this (default {ALPHA})",
    )
    parser.add_argument("--resamples", type=int, default=1000, help="paired bootstrap resamples (default 1000)")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)

    from mt.bench.quality import QualityOptions, run_quality
    from mt.bench.systems import open_system, parse_system
    from mt.bench.testsets import resolve

    # Both decode as the shipped model does (its manifest's decoding, which ship.py carries over to the candidate).
    # The shipped model first: the paired bootstrap compares every later system with the first.
    decoding = json.loads((args.shipped / "kakehashi.json").read_text(encoding="utf-8")).get("decoding", {})
    pinned = "".join(f",{key}={value}" for key, value in sorted(decoding.items()))
    systems = [
        open_system(parse_system(f"{name}={path}:beam=4,threads={args.threads}{pinned}"))
        for name, path in (("shipped", args.shipped.resolve()), (args.name, args.candidate.resolve()))
    ]
    options = QualityOptions(output=args.output, progress=not args.no_progress, resamples=args.resamples)
    testsets = [resolve(t) for t in DEV_TESTSETS]
    quality = run_quality(systems, testsets, options).to_json()
    rows = gate_rows(run_dev(args.candidate), run_dev(args.shipped), quality, args.name)
    # The run dev rows (no translations kept, only scores) go into the bootstrap as they are.
    p_value = pooled_p_value(args.output, systems, testsets, rows[: len(DIRECTIONS)], args.resamples)
    gate = decide(rows, p_value, args.alpha)
    gate = {"candidate": str(args.candidate), "shipped": str(args.shipped)} | gate
    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / f"ship_gate_{args.name}.json").write_text(
        json.dumps(gate, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    for row in gate["rows"]:
        p = "" if row["p_chrF"] is None else f"  p={row['p_chrF']:.3f}"
        print(f"{row['set']:<22} {row['sentences']:>5}  {row['candidate']:6.2f} vs {row['shipped']:6.2f}{p}")
    verdict = "ship it" if gate["ship"] else "keep the shipped model"
    print(
        f"pooled chrF gain {gate['pooled_chrf_gain']:+.3f} over the dev sentences, pooled p={gate['pooled_p']:.3f} "
        f"(ships below {gate['alpha']}): {verdict}"
    )
    return 0 if gate["ship"] else 1


if __name__ == "__main__":
    sys.exit(main())
