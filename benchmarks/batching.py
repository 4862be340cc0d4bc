"""How much of a training batch is padding: the loop's length-bucketed batches against batches drawn at random.

    python benchmarks/batching.py --work-dir ~/.cache/kakehashi/train/kakehashi-ja-en
    # → benchmarks/results/batching.json

Every batch is padded to its longest example (source or target side, as the Marian recipe pads), and holds as
many examples as fit in ``--batch-tokens`` padded tokens. The loop (:func:`mt.training.data.batches`) sorts the
examples by length (ties at random) before cutting batches, then shuffles the batches; the alternative cuts the
same way from a shuffled order. Padding is compute spent on nothing, so its share is the compute one order saves
over the other (attention grows faster than linearly with length, so the saving in time is larger still).
"""

from __future__ import annotations

import argparse
import json
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def padding(groups: list[list[int]], lengths: Sequence[int]) -> dict[str, Any]:
    padded = sum(max(lengths[i] for i in g) * len(g) for g in groups)
    real = sum(lengths[i] for g in groups for i in g)
    return {
        "batches": len(groups),
        "padded_tokens": padded,
        "real_tokens": real,
        "padding_share": round(1 - real / padded, 4),
        "examples_per_batch": round(sum(map(len, groups)) / len(groups), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work-dir", type=Path, required=True)
    parser.add_argument("--batch-tokens", type=int, default=4000)
    parser.add_argument("--output", type=Path, default=RESULTS / "batching.json")
    args = parser.parse_args()

    from mt.training.data import batches, cut_batches
    from mt.training.storage import DATA_FILE, load_token_data, row_lengths

    data = load_token_data(args.work_dir.expanduser() / DATA_FILE)
    lengths = [max(s, t) for s, t in zip(row_lengths(data["sources"]), row_lengths(data["targets"]))]
    bucketed = batches(lengths, args.batch_tokens, random.Random(1000))
    shuffled = list(range(len(lengths)))
    random.Random(1000).shuffle(shuffled)
    report = {
        "examples": len(lengths),
        "batch_tokens": args.batch_tokens,
        "length_bucketed": padding(bucketed, lengths),
        "random": padding(cut_batches(shuffled, lengths, args.batch_tokens), lengths),
    }
    report["padded_tokens_saved"] = round(
        1 - report["length_bucketed"]["padded_tokens"] / report["random"]["padded_tokens"], 4
    )
    args.output.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    print(
        f"length-bucketed batches: {report['length_bucketed']['padding_share']:.1%} padding; random batches: "
        f"{report['random']['padding_share']:.1%}; an epoch takes {report['padded_tokens_saved']:.0%} fewer padded "
        f"tokens bucketed; wrote {args.output}"
    )


if __name__ == "__main__":
    main()
