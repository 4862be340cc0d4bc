"""CTranslate2 thread layouts on a CPU, idle and contended: what defect 9 (a server spinning in the OpenMP runtime
while another process held a core) came from, and which layout degrades gracefully.

    python benchmarks/threads.py --output benchmarks/results/threads.json [--model DIR] [--seconds 6]

Each layout runs in a fresh process (OpenMP reads its environment once) on the default model, measuring

* ``single`` — one sentence at a time, one client: latency p50/p95 (what an interactive user waits);
* ``batch`` — 64 sentences from 8 concurrent clients through ``ctranslate2.Translator`` calls, as the server's
  micro-batcher makes them: sentences/s.

twice: on the machine as it is, and ``contended`` with a busy-looping process per ``--hogs`` (default 1) at
normal priority, the situation of defect 9. Layouts are (inter_threads × intra_threads, OMP_WAIT_POLICY):
CTranslate2's defaults (1 × 0: OpenMP threads up to the cores), OpenMP threads made passive, one thread, and
one-thread replicas (2 × 1) that run concurrent batches side by side, each call cut into fixed 256-token
sub-batches. The layouts take turns for ``--rounds`` rounds; medians are reported, and ratios against the first
layout, all from the same run.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TATOEBA = ROOT.parent / "shared" / "data" / "testsets" / "tatoeba-test" / "tatoeba-test-v2021-08-07.eng-jpn.ja"
FALLBACK = ROOT / "tests" / "data" / "tatoeba_sample.tsv"

LAYOUTS: dict[str, dict[str, Any]] = {
    "ct2-default (1x0, OMP default)": {"inter": 1, "intra": 0, "env": {}},
    "1x2, OMP_WAIT_POLICY=PASSIVE": {"inter": 1, "intra": 2, "env": {"OMP_WAIT_POLICY": "PASSIVE"}},
    "1x1": {"inter": 1, "intra": 1, "env": {}},
    "2x1 replicas, 256-token sub-batches": {"inter": 2, "intra": 1, "env": {}, "sub_batch": 256},
}


def sentences(count: int) -> list[str]:
    if TATOEBA.exists():
        pool = TATOEBA.read_text(encoding="utf-8").splitlines()
    else:
        pool = [r.split("\t")[1] for r in FALLBACK.read_text(encoding="utf-8").splitlines()[1:]]
    return list(dict.fromkeys(pool))[:count]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def measure(model: str, inter: int, intra: int, sub_batch: int, seconds: float) -> dict[str, Any]:
    """Run in the layout's own process: the two workloads, each bounded by ``seconds``."""
    import ctranslate2
    import sentencepiece

    spm = sentencepiece.SentencePieceProcessor(model_file=str(Path(model) / "source.spm"))
    translator = ctranslate2.Translator(
        model, device="cpu", compute_type="int8", inter_threads=inter, intra_threads=intra
    )
    texts = sentences(400)
    tokens = [[">>eng<<", *spm.encode(t, out_type=str), "</s>"] for t in texts]
    arguments = {
        "beam_size": 4,
        "max_batch_size": sub_batch or 4096,
        "batch_type": "tokens",
        "max_decoding_length": 128,
    }
    translator.translate_batch(tokens[:8], **arguments)  # warm-up

    latencies: list[float] = []
    deadline = time.monotonic() + seconds
    for sentence in tokens[8:]:
        if time.monotonic() > deadline:
            break
        start = time.perf_counter()
        translator.translate_batch([sentence], **arguments)
        latencies.append(time.perf_counter() - start)

    # 8 clients, each sending batches of 8 sentences: concurrent calls run on separate replicas when inter > 1.
    batches = [tokens[i : i + 8] for i in range(8, len(tokens), 8)]
    done = 0
    start = time.perf_counter()
    deadline = time.monotonic() + seconds

    def client(index: int) -> int:
        count = 0
        for batch in batches[index::8]:
            if time.monotonic() > deadline:
                break
            translator.translate_batch(batch, **arguments)
            count += len(batch)
        return count

    with ThreadPoolExecutor(8) as pool:
        done = sum(pool.map(client, range(8)))
    elapsed = time.perf_counter() - start
    ms = [x * 1000 for x in latencies]
    return {
        "single": {
            "sentences": len(ms),
            "p50_ms": round(percentile(ms, 50), 1),
            "p95_ms": round(percentile(ms, 95), 1),
            "mean_ms": round(statistics.fmean(ms), 1),
        },
        "batch": {"sentences": done, "seconds": round(elapsed, 2), "sentences_per_s": round(done / elapsed, 1)},
        "cpu_seconds": round(sum(os.times()[:2]), 1),
    }


def summarize(runs: dict[str, dict[str, list[dict[str, Any]]]]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Medians over the rounds per layout and condition, and ratios to the first layout. ``sentences_per_cpu_s``
    (both workloads' sentences over the process's CPU time) shows the CPU a layout burns without translating."""

    def median(rows: list[dict[str, Any]], workload: str, key: str) -> float:
        return round(statistics.median(row[workload][key] for row in rows), 1)

    def efficiency(rows: list[dict[str, Any]]) -> float:
        per_run = [(r["single"]["sentences"] + r["batch"]["sentences"]) / r["cpu_seconds"] for r in rows]
        return round(statistics.median(per_run), 1)

    results = {
        name: {
            condition: {
                "single_p50_ms": median(rows, "single", "p50_ms"),
                "single_p95_ms": median(rows, "single", "p95_ms"),
                "batch_sentences_per_s": median(rows, "batch", "sentences_per_s"),
                "sentences_per_cpu_s": efficiency(rows),
                "rounds": rows,
            }
            for condition, rows in by_condition.items()
        }
        for name, by_condition in runs.items()
    }
    baseline = next(iter(results.values()))
    ratios = {
        name: {
            condition: {
                key: round(r[condition][metric] / baseline[condition][metric], 2)
                for key, metric in (
                    ("batch_throughput", "batch_sentences_per_s"),
                    ("cpu_efficiency", "sentences_per_cpu_s"),
                )
            }
            | {"single_p50_speedup": round(baseline[condition]["single_p50_ms"] / r[condition]["single_p50_ms"], 2)}
            for condition in r
        }
        for name, r in results.items()
    }
    return results, ratios


def hog(stop: Any) -> None:
    while not stop.is_set():
        for _ in range(100_000):
            pass


def run_layout(model: str, layout: dict[str, Any], seconds: float) -> dict[str, Any]:
    env = dict(os.environ, **layout["env"])
    command = [
        sys.executable,
        __file__,
        "--child",
        json.dumps([model, layout["inter"], layout["intra"], layout.get("sub_batch", 0), seconds]),
    ]
    out = subprocess.run(command, env=env, capture_output=True, text=True, timeout=20 * seconds + 120, check=True)
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=str(ROOT / "data" / "models" / "kakehashi-ja-en"))
    parser.add_argument("--seconds", type=float, default=4.0, help="per workload, layout and round")
    parser.add_argument("--rounds", type=int, default=3, help="turns each layout takes (medians are reported)")
    parser.add_argument("--hogs", type=int, default=1, help="busy-looping processes in the contended runs")
    parser.add_argument("--output", type=Path)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(*json.loads(args.child))))
        return

    # Layouts take turns, round after round, so that a change in the machine's other load hits all of them alike;
    # each figure is the median over the rounds.
    runs: dict[str, dict[str, list[dict[str, Any]]]] = {name: {} for name in LAYOUTS}
    for condition in ("as is", "contended"):
        stop = multiprocessing.Event()
        count = args.hogs if condition == "contended" else 0
        hogs = [multiprocessing.Process(target=hog, args=(stop,)) for _ in range(count)]
        for process in hogs:
            process.start()
        try:
            for round_number in range(args.rounds):
                for name, layout in LAYOUTS.items():
                    result = run_layout(args.model, layout, args.seconds)
                    runs[name].setdefault(condition, []).append(result)
                    print(round_number, name, condition, result, file=sys.stderr)
        finally:
            stop.set()
            for process in hogs:
                process.join()

    results, ratios = summarize(runs)
    load = os.getloadavg()
    report = {
        "benchmark": "threads",
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_average_at_end": [round(x, 2) for x in load],
            "note": "shared machine: a training run held one core under nice 10 throughout",
        },
        "model": Path(args.model).name,
        "decoding": "beam 4, int8",
        "contended_by": f"{args.hogs} busy-looping process(es) at nice 0",
        "layouts": {name: {**LAYOUTS[name], "results": r} for name, r in results.items()},
        "ratios_vs_first": ratios,
    }
    text = json.dumps(report, indent=2, ensure_ascii=False)
    if args.output:
        args.output.write_text(text + "\n", encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
