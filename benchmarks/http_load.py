"""HTTP load on a real `kakehashi serve` process over loopback: throughput and latency, cache misses vs hits,
and the gain of cross-request micro-batching.

    python benchmarks/http_load.py --output benchmarks/results/http_load.json [--registry FILE] [--sentences 256] \
        [--redis-url redis://127.0.0.1:6379/15]

``--redis-url`` names a database the benchmark empties first.

Phases (each bounded by a sentence count and a time limit):

1. sequential misses — one client, one sentence per request, every sentence new;
2. concurrent misses — ``--concurrency`` clients (default 32), new sentences;
3. concurrent hits — the same clients, sentences already translated (served from the cache).

The micro-batching gain is phase 2's sentences/s over phase 1's, measured on the same server in one run. The
server's peak RSS (VmHWM) is read from /proc at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
TATOEBA = ROOT.parent / "shared" / "data" / "testsets" / "tatoeba-test" / "tatoeba-test-v2021-08-07.eng-jpn.ja"
FALLBACK = ROOT / "tests" / "data" / "tatoeba_sample.tsv"


def _machine_info() -> dict[str, Any]:
    sys.path.insert(0, str(ROOT))
    from mt.bench.report import machine_info

    return machine_info()


def sentences(count: int) -> list[str]:
    if TATOEBA.exists():
        pool = TATOEBA.read_text(encoding="utf-8").splitlines()
    else:
        pool = [r.split("\t")[1] for r in FALLBACK.read_text(encoding="utf-8").splitlines()[1:]]
    unique = list(dict.fromkeys(pool))
    return unique[:count]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


async def run_phase(url: str, texts: list[str], concurrency: int, time_limit: float) -> dict[str, Any]:
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    cached = 0
    queue: asyncio.Queue[str] = asyncio.Queue()
    for text in texts:
        queue.put_nowait(text)
    deadline = time.monotonic() + time_limit

    async def client(http: httpx.AsyncClient) -> None:
        nonlocal cached
        while not queue.empty() and time.monotonic() < deadline:
            text = queue.get_nowait()
            start = time.perf_counter()
            r = await http.post(f"{url}/v1/translate", json={"texts": [text], "source": "ja", "target": "en"})
            latencies.append(time.perf_counter() - start)
            statuses[r.status_code] = statuses.get(r.status_code, 0) + 1
            if r.status_code == 200 and r.json()["translations"][0]["cached"]:
                cached += 1

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=120, limits=limits) as http:
        start = time.perf_counter()
        await asyncio.gather(*(client(http) for _ in range(concurrency)))
        elapsed = time.perf_counter() - start
    ms = [x * 1000 for x in latencies]
    return {
        "concurrency": concurrency,
        "requests": len(latencies),
        "seconds": round(elapsed, 2),
        "sentences_per_s": round(len(latencies) / elapsed, 2),
        "statuses": statuses,
        "cached": cached,
        "latency_ms": {
            "p50": round(percentile(ms, 50), 2),
            "p95": round(percentile(ms, 95), 2),
            "p99": round(percentile(ms, 99), 2),
            "mean": round(statistics.fmean(ms), 2),
        },
    }


def peak_rss_mb(pid: int) -> dict[str, float]:
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(("VmHWM:", "VmRSS:")):
            values[line.split(":")[0]] = round(int(line.split()[1]) / 1024, 1)
    return values


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--registry", help="registry TOML (default: the shipped models)")
    parser.add_argument("--sentences", type=int, default=256)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--time-limit", type=float, default=120.0, help="seconds per phase at most")
    parser.add_argument("--port", type=int, default=18763)
    parser.add_argument(
        "--redis-url",
        default="",
        help="cache in this Redis database, emptied first (give the benchmark one of its own: translations an earlier "
        "run left there would turn misses into hits); default: in-process LRU",
    )
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    if args.redis_url:
        import redis

        redis.Redis.from_url(args.redis_url).flushdb()
        print(f"emptied {args.redis_url} so that every miss phase misses")

    texts = sentences(2 * args.sentences)
    sequential_texts, concurrent_texts = texts[: args.sentences // 4], texts[args.sentences :]
    env = dict(os.environ, KAKEHASHI_REDIS_URL=args.redis_url)
    if args.registry:
        env["KAKEHASHI_REGISTRY"] = args.registry
    command = [sys.executable, "-m", "mt.cli", "serve", "--port", str(args.port)]
    server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{args.port}"
    try:
        for _ in range(600):
            try:
                if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if server.poll() is not None:
                raise SystemExit(f"server exited: {server.stderr.read().decode() if server.stderr else ''}")
            time.sleep(0.1)
        rss_idle = peak_rss_mb(server.pid)
        warm_up = texts[args.sentences // 4 : args.sentences // 4 + 8]  # used by no phase below
        asyncio.run(run_phase(url, warm_up, 1, 30))
        sequential = asyncio.run(run_phase(url, sequential_texts, 1, args.time_limit))
        concurrent = asyncio.run(run_phase(url, concurrent_texts, args.concurrency, args.time_limit))
        hits = asyncio.run(
            run_phase(url, concurrent_texts[: concurrent["requests"]], args.concurrency, args.time_limit)
        )
        single_hits = asyncio.run(run_phase(url, concurrent_texts[:200], 1, args.time_limit))
        rss = peak_rss_mb(server.pid)
        metrics = httpx.get(f"{url}/metrics").text
    finally:
        server.terminate()
        server.wait(timeout=30)
    report = {
        "benchmark": "http_load",
        "machine": _machine_info(),
        "registry": args.registry or "shipped",
        "cache": "redis" if args.redis_url else "in-process LRU",
        "phases": {
            "sequential_misses": sequential,
            "concurrent_misses": concurrent,
            "concurrent_hits": hits,
            "sequential_hits": single_hits,
        },
        "micro_batching_gain": round(concurrent["sentences_per_s"] / sequential["sentences_per_s"], 2),
        "cache_hit_p50_ms": single_hits["latency_ms"]["p50"],
        "server_rss_mb": {"after_load": rss_idle, "end": rss},
        "batch_size_histogram": [
            line for line in metrics.splitlines() if line.startswith("kakehashi_batch_sentences_bucket")
        ],
    }
    text = json.dumps(report, indent=2)
    if args.output:
        args.output.write_text(text + "\n", encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
