"""Training speed of the default model on this CPU: float32 against bfloat16 mixed precision (autocast).

    python benchmarks/precision_training.py --work-dir ~/.cache/kakehashi/train/kakehashi-ja-en
    # → benchmarks/results/precision_training.json

Takes the relay's work directory (its prepared data and weights: run ``make relay`` once, or ``kakehashi train
--resume data/checkpoints/kakehashi-ja-en --prepare-only``) and times whole optimizer steps as ``make relay``
takes them (``--accumulate`` batches of ``--batch-tokens``) on ``--threads`` threads, the two precisions taking
turns on the same batches so that both see the same machine. Also reports how far the bfloat16 loss of each
batch is from the float32 one (the weights are the same). A step changes the weights, so each round starts from
the work directory's weights again, after one untimed step (kernel set-up). Step times are medians.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import platform
import random
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work-dir", type=Path, required=True)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch-tokens", type=int, default=4000)
    parser.add_argument("--accumulate", type=int, default=4)
    parser.add_argument("--steps", type=int, default=3, help="optimizer steps per precision and round")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--output", type=Path, default=RESULTS / "precision_training.json")
    args = parser.parse_args()

    import torch

    from mt.training.config import fast_bfloat16
    from mt.training.data import batches
    from mt.training.loop import accumulate_gradients
    from mt.training.order import config_from_json
    from mt.training.recipes import make_recipe
    from mt.training.state import load_state
    from mt.training.storage import DATA_FILE, load_token_data

    torch.set_num_threads(args.threads)
    work = args.work_dir.expanduser()
    config = replace(config_from_json(json.loads((work / "config.json").read_text(encoding="utf-8"))), work_dir=work)
    recipe = make_recipe(config)
    recipe.vocabulary(work, [], ["en", "ja"])
    print("loading the prepared data and the weights …", flush=True)
    data = load_token_data(work / DATA_FILE)
    saved = load_state(work / "state.pt")
    order = batches(recipe.lengths(data, 2), args.batch_tokens, random.Random(12345))
    contexts = {
        "float32": contextlib.nullcontext,
        "bfloat16": lambda: torch.autocast("cpu", dtype=torch.bfloat16),
    }
    timings: dict[str, list[float]] = {name: [] for name in contexts}
    tokens: dict[str, int] = {name: 0 for name in contexts}
    loss_gaps: list[float] = []
    rounds: dict[str, list[float]] = {}
    for round_number in range(args.rounds):
        groups = [
            order[
                (round_number * args.steps + s) * args.accumulate : (round_number * args.steps + s + 1)
                * args.accumulate
            ]
            for s in range(args.steps)
        ]
        losses: dict[str, list[float]] = {}
        for name, context in contexts.items():
            model = recipe.new_model()
            model.load_state_dict(saved.weights)
            model.train()
            optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5, betas=(0.9, 0.98), eps=1e-9)
            losses[name] = []
            # One untimed step first: the first products of a shape set up their kernels (oneDNN) and memory.
            optimizer.zero_grad(set_to_none=True)
            accumulate_gradients(recipe, model, data, groups[0], 2, context)
            model.load_state_dict(saved.weights)
            for group in groups:
                started = time.perf_counter()
                optimizer.zero_grad(set_to_none=True)
                torch.manual_seed(round_number)  # the same dropout masks in both precisions
                loss, count = accumulate_gradients(recipe, model, data, group, 2, context)
                optimizer.step()
                timings[name].append(time.perf_counter() - started)
                tokens[name] += count
                losses[name].append(float(loss))
            rounds.setdefault(name, []).append(round(sum(timings[name][-args.steps :]), 1))
            print(f"round {round_number + 1} {name}: {rounds[name][-1]} s", flush=True)
        loss_gaps += [abs(a - b) / a for a, b in zip(losses["float32"], losses["bfloat16"])]
    report: dict[str, Any] = {
        "machine": {"cpu": platform.processor() or platform.machine(), "threads": args.threads},
        "fast_bfloat16": fast_bfloat16("cpu"),
        "settings": {
            "batch_tokens": args.batch_tokens,
            "accumulate": args.accumulate,
            "steps_per_round": args.steps,
            "rounds": args.rounds,
            "model": {k: getattr(config, k) for k in ("d_model", "encoder_layers", "decoder_layers", "vocab_size")},
        },
        "precisions": {
            name: {
                "seconds_per_step": round(sorted(timings[name])[len(timings[name]) // 2], 2),  # the median
                "seconds_per_round": rounds[name],
                "tokens_per_second": round(tokens[name] / sum(timings[name])),
            }
            for name in contexts
        },
        # Of the median step times: a step that waited on another process weighs no more than any other.
        "speedup_bfloat16": round(
            sorted(timings["float32"])[len(timings["float32"]) // 2]
            / sorted(timings["bfloat16"])[len(timings["bfloat16"]) // 2],
            2,
        ),
        "loss_relative_gap": {"mean": round(sum(loss_gaps) / len(loss_gaps), 5), "max": round(max(loss_gaps), 5)},
    }
    args.output.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    print(
        f"bfloat16 trains {report['speedup_bfloat16']}× as fast as float32 here "
        f"({report['precisions']['bfloat16']['tokens_per_second']:,} against "
        f"{report['precisions']['float32']['tokens_per_second']:,} tokens/s on {args.threads} thread(s)); "
        f"losses differ by {report['loss_relative_gap']['mean']:.2%} on average; wrote {args.output}"
    )


if __name__ == "__main__":
    main()
