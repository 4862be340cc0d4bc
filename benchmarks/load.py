"""Load and soak on a real `kakehashi serve` over loopback, bounded in requests and time.

    python benchmarks/load.py --output benchmarks/results/load.json [--workers 2] [--soak-seconds 180] \
        [--phases hits,capacity,soak,overload] [--redis-url redis://127.0.0.1:6379/15] [--env KAKEHASHI_X=Y] \
        [--hogs N]

Phases:

* ``hits`` — the cache-hit path: 32 connections repeating requests already answered (``wrk`` when installed,
  else the Python client, which then costs a core of its own): requests/s and latency;
* ``compare`` — with ``--baseline-env``: a second server with those settings, and both measured in turn on
  cache misses, round after round (medians, ratios): how a setting (the thread layout) changes throughput and
  latency on the same machine at the same time;
* ``capacity`` — closed loop on cache misses (new Tatoeba sentences) at 1, 8 and 32 clients: sentences/s;
* ``soak`` — open loop at ``--soak-load`` (default 0.8) of the capacity found, half repeated and half new
  sentences, for ``--soak-seconds``: errors by class, latency, and every server process's RSS sampled;
* ``overload`` — open loop at three times capacity for 20 s on a server whose queue holds ``--max-queue``
  requests: the refusals must be 429 (or 503) with ``Retry-After``, never other errors.

``--hogs N`` runs N busy-looping processes for the whole run (a contended machine); ``--env`` passes settings
(thread layout) to the server. Load goes to 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import multiprocessing
import os
import platform
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp
import httpx

ROOT = Path(__file__).resolve().parent.parent
TATOEBA = ROOT.parent / "shared" / "data" / "testsets" / "tatoeba-test" / "tatoeba-test-v2021-08-07.eng-jpn.ja"
TATOEBA_TRAIN = ROOT.parent / "shared" / "data" / "train" / "tatoeba_manythings_jpn-eng_2022-05-02" / "jpn.train.txt"
FALLBACK = ROOT / "tests" / "data" / "tatoeba_sample.tsv"


def sentences() -> list[str]:
    """Distinct Japanese sentences, shuffled the same way each run: Tatoeba-test and the Tatoeba train split
    (92k; a load test needs more sentences than any test set has, and quality is not measured here)."""
    if TATOEBA.exists():
        pool = TATOEBA.read_text(encoding="utf-8").splitlines()
        if TATOEBA_TRAIN.exists():
            pool += [line.split("\t")[1] for line in TATOEBA_TRAIN.read_text(encoding="utf-8").splitlines()]
    else:
        pool = [r.split("\t")[1] for r in FALLBACK.read_text(encoding="utf-8").splitlines()[1:]]
    distinct = list(dict.fromkeys(p for p in pool if p.strip()))
    random.Random(0).shuffle(distinct)
    return distinct


def percentiles(seconds: list[float]) -> dict[str, float]:
    if not seconds:
        return {}
    ms = sorted(x * 1000 for x in seconds)

    def at(q: float) -> float:
        return round(ms[min(len(ms) - 1, max(0, round(q / 100 * (len(ms) - 1))))], 1)

    return {
        "p50": at(50),
        "p95": at(95),
        "p99": at(99),
        "max": round(ms[-1], 1),
        "mean": round(statistics.fmean(ms), 1),
    }


class Server:
    """``kakehashi serve`` in a process of its own; RSS is summed over it and its worker processes."""

    def __init__(self, port: int, workers: int, env: dict[str, str]):
        self.url = f"http://127.0.0.1:{port}"
        self.log = tempfile.TemporaryFile()
        command = [sys.executable, "-m", "mt.cli", "serve", "--port", str(port), "--workers", str(workers)]
        self.process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=self.log, stderr=self.log)
        deadline = time.monotonic() + 180
        while True:
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.log.seek(0)
                raise SystemExit(f"the server did not start: {self.log.read().decode(errors='replace')[-3000:]}")
            time.sleep(0.2)

    def pids(self) -> list[int]:
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        found = [int(p) for p in children.read_text().split()] if children.exists() else []
        return [self.process.pid, *found]

    def rss_mb(self) -> dict[str, float]:
        out = {}
        for pid in self.pids():
            try:
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        out[str(pid)] = round(int(line.split()[1]) / 1024, 1)
            except OSError:
                continue
        return out

    def gauges(self) -> dict[str, Any]:
        """The admission count and batch queue of the worker that answers /metrics (one of them), and RSS."""
        out: dict[str, Any] = {"rss_mb": self.rss_mb()}
        try:
            text = httpx.get(f"{self.url}/metrics", timeout=5).text
        except httpx.HTTPError as exc:
            return {**out, "metrics": type(exc).__name__}
        for line in text.splitlines():
            if line.startswith(("kakehashi_admitted_requests ", "kakehashi_queue_depth{")):
                name, value = line.rsplit(" ", 1)
                out[name] = float(value)
        return out

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(60)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()


def body(text: str) -> dict[str, Any]:
    return {"texts": [text], "source": "ja", "target": "en"}


class Recorder:
    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.statuses: Counter[str] = Counter()
        self.missing_retry_after = 0
        self.cached = 0

    async def send(self, http: aiohttp.ClientSession, url: str, text: str) -> None:
        start = time.perf_counter()
        try:
            async with http.post(f"{url}/v1/translate", json=body(text)) as r:
                status, refused_without_retry = r.status, r.status in (429, 503) and "Retry-After" not in r.headers
                row = (await r.json())["translations"][0] if status == 200 else None
        except (TimeoutError, aiohttp.ClientError) as exc:
            self.statuses[type(exc).__name__] += 1
            return
        self.latencies.append(time.perf_counter() - start)
        self.statuses[str(status)] += 1
        self.missing_retry_after += refused_without_retry
        if row is not None:
            self.cached += bool(row["cached"])
            if not row["text"]:
                self.statuses["200 with empty text"] += 1

    def report(self, seconds: float) -> dict[str, Any]:
        ok = self.statuses.get("200", 0)
        return {
            "requests": sum(self.statuses.values()),
            "seconds": round(seconds, 1),
            "ok_per_s": round(ok / seconds, 1),
            "statuses": dict(self.statuses),
            "errors": sum(n for s, n in self.statuses.items() if s not in ("200", "429", "503")),
            "refusals_without_retry_after": self.missing_retry_after,
            "cached": self.cached,
            "latency_ms": percentiles(self.latencies),
        }


# Enough connections for both workers' admission bounds and more: past them, requests would wait in the client.
OPEN_LOOP_CONNECTIONS = 1024


def session(connections: int) -> aiohttp.ClientSession:
    """The load client: aiohttp, whose connection pool stays cheap with thousands of requests in flight (httpx's
    pool costs time quadratic in them: above capacity the client, not the server, became the bottleneck)."""
    return aiohttp.ClientSession(
        timeout=aiohttp.ClientTimeout(total=120), connector=aiohttp.TCPConnector(limit=connections)
    )


async def closed_loop(url: str, texts: list[str], clients: int, seconds: float) -> dict[str, Any]:
    recorder = Recorder()
    queue = list(reversed(texts))
    deadline = time.monotonic() + seconds
    async with session(clients) as http:

        async def client() -> None:
            while queue and time.monotonic() < deadline:
                await recorder.send(http, url, queue.pop())

        start = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(clients)))
        elapsed = time.perf_counter() - start
    return recorder.report(elapsed)


async def open_loop(
    url: str, texts: list[str], rate: float, seconds: float, sample: Any = None, every_s: float = 5.0
) -> dict[str, Any]:
    """Requests sent at ``rate`` per second whatever the answers (arrivals do not wait for the server)."""
    recorder = Recorder()
    tasks: set[asyncio.Task[None]] = set()
    samples: list[dict[str, Any]] = []
    cpu = time.process_time()
    async with session(OPEN_LOOP_CONNECTIONS) as http:
        start = time.perf_counter()
        next_sample = 0.0
        sent = 0
        while (now := time.perf_counter() - start) < seconds:
            if sample is not None and now >= next_sample:
                samples.append({"t_s": round(now, 1), "client_in_flight": len(tasks), **sample()})
                next_sample += every_s
            due = int(now * rate) + 1
            while sent < due:
                task = asyncio.create_task(recorder.send(http, url, texts[sent % len(texts)]))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
                sent += 1
            await asyncio.sleep(0.005)
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - start
    out = recorder.report(elapsed)
    # The client must not be the bottleneck: its own CPU time, against the run's wall time.
    out.update({"offered_per_s": round(rate, 1), "sent": sent, "client_cpu_s": round(time.process_time() - cpu, 1)})
    if samples:
        out["samples"] = samples
    return out


def wrk_hits(url: str, text: str, seconds: int, connections: int) -> dict[str, Any] | None:
    if not shutil.which("wrk"):
        return None
    script = Path(tempfile.mkstemp(suffix=".lua")[1])
    script.write_text(
        'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
        f"wrk.body = {json.dumps(json.dumps(body(text), ensure_ascii=False), ensure_ascii=False)}\n",
        encoding="utf-8",
    )
    command = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script)]
    out = subprocess.run([*command, f"{url}/v1/translate"], capture_output=True, text=True, timeout=seconds + 30).stdout
    script.unlink()

    def find(pattern: str) -> str:
        match = re.search(pattern, out)
        return match.group(1) if match else "0"

    def ms(value: str) -> float | None:
        match = re.match(r"([\d.]+)(us|ms|s|m)$", value)
        if match is None:
            return None
        return round(float(match.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[match.group(2)], 2)

    return {
        "client": f"wrk -t2 -c{connections} -d{seconds}s",
        "requests": int(find(r"(\d+) requests in")),
        "requests_per_s": float(find(r"Requests/sec:\s+([\d.]+)")),
        "non_2xx": int(find(r"Non-2xx or 3xx responses: (\d+)")),
        "socket_errors": find(r"Socket errors: (.*)") if "Socket errors" in out else "none",
        "latency_ms": {q: ms(find(rf"{q}%\s+(\S+)")) for q in ("50", "90", "99")},
        "output": out.strip().splitlines()[-12:],
    }


def compare(
    servers: dict[str, Server], new_texts: Any, rounds: int, seconds: float, clients: tuple[int, ...] = (1, 8)
) -> dict[str, Any]:
    """Closed-loop misses on each server in turn, round after round (so that the machine's other load hits all
    alike): the median sentences/s and p50 latency per server and client count, and ratios to the first."""
    rows: dict[str, dict[int, list[dict[str, Any]]]] = {name: {c: [] for c in clients} for name in servers}
    for _ in range(rounds):
        for count in clients:
            for name, server in servers.items():
                rows[name][count].append(asyncio.run(closed_loop(server.url, new_texts(2000), count, seconds)))
    out: dict[str, Any] = {}
    for name, by_clients in rows.items():
        out[name] = {
            str(count): {
                "ok_per_s": statistics.median(r["ok_per_s"] for r in runs),
                "p50_ms": statistics.median(r["latency_ms"]["p50"] for r in runs if r["latency_ms"]),
                "errors": sum(r["errors"] for r in runs),
                "rounds": runs,
            }
            for count, runs in by_clients.items()
        }
    first = next(iter(out))
    out["ratios_to_" + first] = {
        name: {
            str(c): {
                "throughput": round(out[name][str(c)]["ok_per_s"] / out[first][str(c)]["ok_per_s"], 2),
                "p50_speedup": round(out[first][str(c)]["p50_ms"] / out[name][str(c)]["p50_ms"], 2),
            }
            for c in clients
        }
        for name in rows
    }
    return out


def hog(stop: Any) -> None:
    while not stop.is_set():
        for _ in range(100_000):
            pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--port", type=int, default=18791)
    parser.add_argument(
        "--redis-url",
        default="",
        help="a Redis database for this benchmark alone: emptied first, so that new sentences are cache misses "
        "(default: each worker's in-process cache)",
    )
    parser.add_argument("--phases", default="hits,capacity,soak,overload")
    parser.add_argument("--soak-seconds", type=float, default=180)
    parser.add_argument("--soak-load", type=float, default=0.8, help="share of the measured capacity")
    parser.add_argument("--phase-seconds", type=float, default=15, help="each capacity step and the hits run")
    parser.add_argument("--max-queue", type=int, default=64, help="the server's queue bound (overload phase)")
    parser.add_argument("--env", action="append", default=[], help="KAKEHASHI_NAME=VALUE for the server")
    parser.add_argument(
        "--baseline-env",
        action="append",
        default=[],
        help="with the compare phase: a second server with these settings is measured in turn with the first",
    )
    parser.add_argument("--rounds", type=int, default=3, help="turns each server takes in the compare phase")
    parser.add_argument("--hogs", type=int, default=0, help="busy-looping processes during the run")
    parser.add_argument("--output", type=Path)
    parser.add_argument(
        "--note",
        default="shared 2-core machine: a training run held one core under nice 10",
        help="what else ran on the machine, for the report",
    )
    args = parser.parse_args()
    phases = args.phases.split(",")

    env = {k: v for k, v in os.environ.items() if not k.startswith("KAKEHASHI_")}
    env.update(KAKEHASHI_REDIS_URL=args.redis_url, KAKEHASHI_MAX_QUEUE=str(args.max_queue))
    env.update(dict(item.split("=", 1) for item in args.env))
    if args.redis_url:
        import redis

        redis.Redis.from_url(args.redis_url).flushdb()
    stop = multiprocessing.Event()
    hogs = [multiprocessing.Process(target=hog, args=(stop,)) for _ in range(args.hogs)]
    for process in hogs:
        process.start()
    pool = sentences()
    fresh = itertools.count()

    def new_texts(count: int) -> list[str]:
        # Once the test set is used up, a round number keeps sentences new (cache misses).
        numbers = [next(fresh) for _ in range(count)]
        return [pool[n % len(pool)] + (f"（{n // len(pool)}）" if n >= len(pool) else "") for n in numbers]

    report: dict[str, Any] = {
        "benchmark": "load",
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "note": args.note,
        },
        "server": {"workers": args.workers, "cache": args.redis_url or "in-process", "max_queue": args.max_queue},
        "server_env": [item for item in args.env],
        "hogs": args.hogs,
        "phases": {},
    }
    server = Server(args.port, args.workers, env)
    try:
        report["rss_mb_start"] = server.rss_mb()
        warm = new_texts(16)
        asyncio.run(closed_loop(server.url, warm, 4, 60))
        if "hits" in phases:
            hit = warm[0]
            measured = wrk_hits(server.url, hit, int(args.phase_seconds), 32)
            python = asyncio.run(closed_loop(server.url, warm * 400, 32, args.phase_seconds))
            report["phases"]["hits"] = {"wrk": measured, "python_client_32": python}
        if "compare" in phases:
            benv = {k: v for k, v in env.items() if not k.startswith("KAKEHASHI_")}
            benv.update(KAKEHASHI_REDIS_URL=args.redis_url, KAKEHASHI_MAX_QUEUE=str(args.max_queue))
            benv.update(dict(item.split("=", 1) for item in args.baseline_env))
            baseline = Server(args.port + 1, args.workers, benv)
            try:
                asyncio.run(closed_loop(baseline.url, new_texts(16), 4, 60))
                servers = {"baseline " + " ".join(args.baseline_env): baseline, "this " + " ".join(args.env): server}
                report["phases"]["compare"] = compare(servers, new_texts, args.rounds, args.phase_seconds)
            finally:
                baseline.stop()
        capacity = 0.0
        if "capacity" in phases or "soak" in phases or "overload" in phases:
            steps = {}
            for clients in (1, 8, 32):
                steps[str(clients)] = asyncio.run(closed_loop(server.url, new_texts(4000), clients, args.phase_seconds))
                capacity = max(capacity, steps[str(clients)]["ok_per_s"])
            report["phases"]["capacity"] = {"closed_loop_misses": steps, "capacity_per_s": capacity}
        if "soak" in phases:
            repeated = new_texts(200)
            asyncio.run(closed_loop(server.url, repeated, 8, 60))
            # Misses at the soak load of their capacity, as many hits beside them, new sentences to the end.
            rate = max(1.0, 2 * capacity * args.soak_load)
            misses = new_texts(int(rate * args.soak_seconds / 2) + 1)
            mix = [t for pair in zip(itertools.cycle(repeated), misses) for t in pair]
            soak = asyncio.run(open_loop(server.url, mix, rate, args.soak_seconds, server.gauges, 10.0))
            report["phases"]["soak"] = {"mix": "half repeated, half new sentences", **soak}
        if "overload" in phases:
            rate = 3 * capacity
            report["phases"]["overload"] = asyncio.run(open_loop(server.url, new_texts(int(rate * 20) + 1), rate, 20))
        report["rss_mb_end"] = server.rss_mb()
    finally:
        server.stop()
        stop.set()
        for process in hogs:
            process.join()
    text = json.dumps(report, indent=2, ensure_ascii=False)
    if args.output:
        args.output.write_text(text + "\n", encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
