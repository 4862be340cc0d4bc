"""Document jobs and the Ray engine: segments/s of ``translate-file`` on the local engine and on Ray (same
outputs checked byte for byte), segments/s of document jobs with 1 and 2 ``kakehashi worker`` processes, and the
job latency overhead (upload to first translated segment, p50).

    python benchmarks/jobs.py --output benchmarks/results/jobs.json [--segments 2000] [--beam 2] [--skip-ray]

The corpus is Tatoeba-test's Japanese side (``../shared/data``; the tests' sample otherwise), one paragraph per
sentence, split into four text files. Model load time is left out of the local engine's time (a warm-up
translates one sentence first); the Ray time includes starting the actor pool and loading the model in each
actor, which every Ray run pays, and Ray's own start-up is reported apart. Workers get the machine's cores
between them (``--threads``); the Redis cache is flushed before each worker run. Runs on the shipped default model.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
TATOEBA = ROOT.parent / "shared" / "data" / "testsets" / "tatoeba-test" / "tatoeba-test-v2021-08-07.eng-jpn.ja"
FALLBACK = ROOT / "tests" / "data" / "tatoeba_sample.tsv"
MODEL = ROOT / "data" / "models" / "kakehashi-ja-en"
FILES = 4


def sentences(count: int, skip: int = 0) -> list[str]:
    if TATOEBA.exists():
        pool = TATOEBA.read_text(encoding="utf-8").splitlines()
    else:
        pool = [r.split("\t")[1] for r in FALLBACK.read_text(encoding="utf-8").splitlines()[1:]]
    return list(dict.fromkeys(s.strip() for s in pool if s.strip()))[skip : skip + count]


def write_corpus(folder: Path, texts: list[str]) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    size = -(-len(texts) // FILES)
    paths = []
    for number in range(FILES):
        path = folder / f"part{number}.txt"
        path.write_text("\n\n".join(texts[number * size : (number + 1) * size]) + "\n", encoding="utf-8")
        paths.append(path)
    return paths


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


# -- translate-file: local engine vs Ray


def engine_run(
    engine_name: str, inputs: list[Path], out: Path, registry: Path, beam: int, work: Path
) -> dict[str, Any]:
    from mt._engine import load_translator
    from mt.cli import build_parser
    from mt.documents._runner import RunOptions, run
    from mt.documents.cli import ENGINES

    arguments = ["translate-file", *map(str, inputs), "--from", "ja", "--to", "en", "-o", f"{out}/", "--quiet"]
    arguments += ["--registry", str(registry), "--beam", str(beam), "--journal", str(work / f"{engine_name}.journal")]
    arguments += ["--engine", engine_name]
    args = build_parser().parse_args(arguments)
    started = time.perf_counter()
    engine, finish = ENGINES[engine_name](args, load_translator)
    setup_s = time.perf_counter() - started
    if engine_name == "local":
        engine(["猫です。"])  # loads the model: load time is not translation time
    options = RunOptions(target="en", output=f"{out}/")
    started = time.perf_counter()
    summary = run(inputs, options, engine, chunk=max(1, args.chunk_units))
    elapsed = time.perf_counter() - started
    finish(summary)
    if summary.failed:
        raise SystemExit(f"{engine_name}: {summary.lines()}")
    return {
        "segments": summary.segments,
        "seconds": round(elapsed, 2),
        "segments_per_s": round(summary.segments / elapsed, 2),
        "setup_s": round(setup_s, 2),
    }


def bench_engines(texts: list[str], registry: Path, beam: int, work: Path, skip_ray: bool) -> dict[str, Any]:
    inputs = write_corpus(work / "in", texts)
    result: dict[str, Any] = {"local": engine_run("local", inputs, work / "local", registry, beam, work)}
    if skip_ray:
        return result
    result["ray"] = engine_run("ray", inputs, work / "ray", registry, beam, work)
    result["ray"]["note"] = "setup_s: Ray start-up; seconds include the actor pool start and each actor's model load"
    result["identical"] = all(
        (work / "local" / p.name).read_bytes() == (work / "ray" / p.name).read_bytes() for p in inputs
    )
    result["ray_vs_local"] = round(result["ray"]["segments_per_s"] / result["local"]["segments_per_s"], 3)
    return result


# -- document jobs: workers and latency


class Processes:
    def __init__(self) -> None:
        self.running: list[subprocess.Popen[bytes]] = []

    def start(self, command: list[str]) -> subprocess.Popen[bytes]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("KAKEHASHI_")}
        process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.running.append(process)
        return process

    def stop(self, process: subprocess.Popen[bytes]) -> None:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def stop_all(self) -> None:
        for process in self.running:
            self.stop(process)


def kakehashi(*arguments: str) -> list[str]:
    return [sys.executable, "-m", "mt.cli", *arguments]


def wait_until(check: Any, timeout_s: float, what: str) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise SystemExit(f"timed out waiting for {what}")


def records(client: Any, job_ids: list[str]) -> list[dict[str, str]]:
    return [{k.decode(): v.decode() for k, v in client.hgetall(f"kakehashi:doc:{j}").items()} for j in job_ids]


def upload(url: str, name: str, data: bytes, beam: int) -> str:
    form = {"target": "en", "source": "ja", "options": json.dumps({"beam_size": beam})}
    response = httpx.post(f"{url}/v1/documents", data=form, files={"file": (name, data)}, timeout=60)
    response.raise_for_status()
    return str(response.json()["id"])


def bench_workers(
    texts: list[str], fresh: list[str], registry: Path, beam: int, work: Path, repeats: int
) -> dict[str, Any]:
    import redis
    from rq import Worker

    from serve._jobs import make_queue

    processes = Processes()
    port = free_port()
    redis_port = free_port()
    redis_url = f"redis://127.0.0.1:{redis_port}/0"
    server = shutil.which("redis-server")
    if server is None:
        raise SystemExit("redis-server is not installed")
    processes.start([server, "--port", str(redis_port), "--save", "", "--appendonly", "no", "--dir", str(work)])
    client = redis.Redis(port=redis_port)
    wait_until(lambda: _pings(client), 10, "redis-server")
    api = processes.start(
        kakehashi(
            "serve", "--port", str(port), "--redis-url", redis_url, "--document-worker", "off", "--registry",
            str(registry), "--job-heartbeat", "1",
        )
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    wait_until(lambda: _ready(url), 120, "the API server")
    queue = make_queue(client)
    cores = os.cpu_count() or 1
    documents = [p.read_bytes() for p in write_corpus(work / "jobs-in", texts)]
    out: dict[str, Any] = {"documents": len(documents), "segments": len(texts), "repeats": repeats}
    rates: dict[int, list[float]] = {1: [], 2: []}
    try:
        # 1 and 2 workers alternate, so that a change in the machine's load falls on both.
        for count in [1, 2] * repeats:
            threads = max(1, cores // count)
            client.flushdb()  # no segment cached by the previous run
            command = kakehashi(
                "worker", "--redis-url", redis_url, "--registry", str(registry), "--threads", str(threads)
            )
            workers = [processes.start(command) for _ in range(count)]
            wait_until(lambda n=count: Worker.count(queue=queue) >= n, 120, f"{count} workers")
            ids = [upload(url, f"part{n}.txt", data, beam) for n, data in enumerate(documents)]
            wait_until(lambda i=ids: all(r.get("status") == "done" for r in records(client, i)), 1800, "the jobs")
            rows = records(client, ids)
            span = max(float(r["finished"]) for r in rows) - min(float(r["created"]) for r in rows)
            rates[count].append(len(texts) / span)
            if count == 1 and "latency" not in out:
                out["latency"] = latency(url, client, fresh, beam)
            for worker in workers:
                processes.stop(worker)
        for count, values in rates.items():
            out[f"workers_{count}"] = {
                "threads_per_worker": max(1, cores // count),
                "segments_per_s_median": round(statistics.median(values), 2),
                "segments_per_s_runs": [round(v, 2) for v in values],
            }
        out["two_vs_one"] = round(statistics.median(rates[2]) / statistics.median(rates[1]), 3)
    finally:
        processes.stop(api)
        processes.stop_all()
    return out


def latency(url: str, client: Any, fresh: list[str], beam: int) -> dict[str, Any]:
    """Upload → first translated segment, for small documents (3 new sentences) sent one at a time to an idle
    worker: server-side timestamps (created → first chunk done) and what a polling client sees."""
    overheads: list[float] = []
    client_seen: list[float] = []
    for number in range(0, len(fresh) - 2, 3):
        data = ("\n\n".join(fresh[number : number + 3]) + "\n").encode()
        started = time.perf_counter()
        job_id = upload(url, f"small{number}.txt", data, beam)
        wait_until(lambda j=job_id: records(client, [j])[0].get("status") == "done", 120, "a small job")
        client_seen.append(time.perf_counter() - started)
        record = records(client, [job_id])[0]
        overheads.append(float(record["first_segment"]) - float(record["created"]))
    return {
        "jobs": len(overheads),
        "upload_to_first_segment_p50_ms": round(statistics.median(overheads) * 1000, 1),
        "upload_to_first_segment_p95_ms": round(percentile(overheads, 95) * 1000, 1),
        "client_upload_to_done_p50_ms": round(statistics.median(client_seen) * 1000, 1),
        "note": "first segment = first chunk (here the whole 3-sentence document) translated and stored",
    }


def _pings(client: Any) -> bool:
    try:
        return bool(client.ping())
    except Exception:  # noqa: BLE001 - not up yet
        return False


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/readyz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def machine() -> dict[str, Any]:
    import ctranslate2
    import ray
    import rq

    return {
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "ctranslate2": ctranslate2.__version__,
        "ray": ray.__version__,
        "rq": rq.__version__,
        "load_average_at_start": os.getloadavg()[0],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", type=Path, default=ROOT / "benchmarks" / "results" / "jobs.json")
    parser.add_argument("--segments", type=int, default=2000)
    parser.add_argument("--beam", type=int, default=2)
    parser.add_argument("--latency-jobs", type=int, default=10)
    parser.add_argument("--skip-ray", action="store_true")
    parser.add_argument("--skip-workers", action="store_true")
    parser.add_argument("--repeats", type=int, default=2, help="runs of each worker count (alternating)")
    parser.add_argument("--worker-segments", type=int, help="segments of the worker runs (default: --segments)")
    parser.add_argument("--update", action="store_true", help="keep the parts of --output this run skips")
    args = parser.parse_args()
    texts = sentences(args.segments)
    fresh = sentences(3 * args.latency_jobs, skip=args.segments)
    previous = json.loads(args.output.read_text(encoding="utf-8")) if args.update and args.output.exists() else {}
    report: dict[str, Any] = {
        **previous,
        "benchmark": "document jobs and the Ray engine",
        "machine": machine(),
        "model": "kakehashi-ja-en (int8, CPU)",
        "corpus": f"{len(texts)} Tatoeba-test Japanese sentences, one paragraph each, in {FILES} .txt files",
        "beam_size": args.beam,
    }
    with tempfile.TemporaryDirectory(prefix="kakehashi-jobs-bench-") as directory:
        work = Path(directory)
        registry = work / "registry.toml"
        registry.write_text(f'[[model]]\nname = "kakehashi-ja-en"\npath = "{MODEL}"\ndefault = true\n')
        if not (args.skip_ray and args.update):
            report["translate_file"] = bench_engines(texts, registry, args.beam, work, args.skip_ray)
            print(json.dumps(report["translate_file"], indent=1), file=sys.stderr)
        if not args.skip_workers:
            worker_texts = sentences(args.worker_segments or args.segments)
            report["jobs"] = bench_workers(worker_texts, fresh, registry, args.beam, work, args.repeats)
            report["jobs"]["machine"] = machine()
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(json.dumps(report, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
