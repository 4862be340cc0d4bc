"""Speed, memory and accuracy of the reference index of a shipped model.

    nice python benchmarks/references.py --model kakehashi-ja-en --output benchmarks/results/references.json

Measured: the build over every pair of the model's corpora (in a child process, so the build's memory does not
inflate the load measurement; ``--skip-build`` reuses an index already built, and the build figures that
an earlier run wrote to the output file), the load time and the RSS the
loaded index adds (after loading, and after the 1,000 queries below have paged in what they read), and over 500 records drawn (seed 0) from those the model trained on, queried ja→en with the
record's own two sides as source and output:

* ``exact``: the share whose own record ranks first (a record whose texts equal another's — the same pair under
  two ids — counts as found when the first result has the same texts: ``exact_text``);
* ``paraphrase``: the same, with a light paraphrase of both sides (one Japanese word in five and one English
  word in five dropped, at least one of each; two neighbouring English words swapped);
* the median (p50) and p95 milliseconds of search + support per sentence, and the mean support score;
* ``steps``: how the index knows the training steps of each pair (the sessions replayed, or why not), and among
  the 500 records the distribution of ``times_seen`` and the share with steps.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from mt import Settings
from mt._japanese import ContentWords
from mt._references import Reference, ReferenceIndex, index_locations
from mt.bench.testsets import data_dir

SAMPLE = 500


def _rss_mb() -> dict[str, float]:
    """Resident memory in MB: private (anonymous) and file-backed (the memory-mapped index, shared and reclaimable)."""
    with open("/proc/self/status") as handle:
        fields = dict(line.split(":", 1) for line in handle if line.startswith(("RssAnon", "RssFile")))
    return {"private": int(fields["RssAnon"].split()[0]) / 1024, "file": int(fields["RssFile"].split()[0]) / 1024}


def _delta(before: dict[str, float]) -> dict[str, float]:
    now = _rss_mb()
    return {kind: round(now[kind] - before[kind], 1) for kind in before}


def _paraphrase(ja: str, en: str, words: ContentWords, rng: random.Random) -> tuple[str, str]:
    tagger = words._japanese_tagger()
    surfaces = [node.surface for node in tagger(ja)]
    drop = set(rng.sample(range(len(surfaces)), max(1, len(surfaces) // 5))) if len(surfaces) > 1 else set()
    ja2 = "".join(s for i, s in enumerate(surfaces) if i not in drop)
    tokens = en.split()
    if len(tokens) > 1:
        drop = set(rng.sample(range(len(tokens)), max(1, len(tokens) // 5)))
        tokens = [t for i, t in enumerate(tokens) if i not in drop]
    if len(tokens) > 2:
        i = rng.randrange(len(tokens) - 1)
        tokens[i], tokens[i + 1] = tokens[i + 1], tokens[i]
    return ja2, " ".join(tokens)


def _run(index: ReferenceIndex, queries: list[tuple[Reference, str, str]]) -> dict[str, Any]:
    found = found_text = 0
    times: list[float] = []
    supports: list[float] = []
    for own, source, output in queries:
        started = time.perf_counter()
        refs = index.search(source, output, "ja", "en", k=3)
        supports.append(index.support(output, refs, "en"))
        times.append(time.perf_counter() - started)
        if refs and refs[0].corpus == own.corpus and refs[0].id == own.id:
            found += 1
        if refs and (refs[0].source, refs[0].target) == (own.source, own.target):
            found_text += 1
    times.sort()
    return {
        "sentences": len(queries),
        "own_record_first": round(found / len(queries), 4),
        "own_record_or_same_texts_first": round(found_text / len(queries), 4),
        "ms_p50": round(1000 * statistics.median(times), 2),
        "ms_p95": round(1000 * times[int(0.95 * (len(times) - 1))], 2),
        "mean_support": round(statistics.fmean(supports), 4),
    }


def _seen(records: list[Reference]) -> dict[str, Any]:
    counts = sorted(r.times_seen for r in records if r.times_seen is not None)
    with_steps = sum(not isinstance(r.steps, str) for r in records)
    summary: dict[str, Any] = {"sampled_records": len(records), "share_with_steps": round(with_steps / len(records), 4)}
    if counts:
        summary["times_seen"] = {"min": counts[0], "median": statistics.median(counts), "max": counts[-1]}
    return summary


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="kakehashi-ja-en")
    parser.add_argument("--output", type=Path, default=Path("benchmarks/results/references.json"))
    parser.add_argument("--skip-build", action="store_true", help="reuse the index already built")
    args = parser.parse_args()
    entry = Settings.from_env().load_registry().get(args.model)
    result: dict[str, Any] = {
        "model": entry.name,
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()},
    }
    if args.skip_build and args.output.exists():
        earlier = json.loads(args.output.read_text(encoding="utf-8")).get("build")
        if earlier:
            result["build"] = {**earlier, "note": "measured by an earlier run of this script (--skip-build)"}
    if not args.skip_build:
        code = (
            "import json,resource,sys,time;from pathlib import Path;from mt import Settings;"
            "from mt._references import build_index;from mt.bench.testsets import data_dir;"
            f"e=Settings.from_env().load_registry().get({entry.name!r});t=time.perf_counter();"
            "p=build_index(e.path,e.manifest,data_dir(),progress=False);"
            "print(json.dumps({'seconds':round(time.perf_counter()-t,1),'path':str(p),"
            "'peak_rss_mb':round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss/1024)}))"
        )
        done = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
        result["build"] = json.loads(done.stdout.strip().splitlines()[-1])
    before = _rss_mb()
    started = time.perf_counter()
    index = ReferenceIndex.for_model(entry.path, entry.manifest)
    result["load_seconds"] = round(time.perf_counter() - started, 2)
    words = ContentWords()
    words.words("準備", "ja")  # load MeCab before timing
    index.search("準備", "ready", "ja", "en")
    result["index_rss_mb"] = _delta(before)
    place = next(p for p in index_locations(entry.path, entry.manifest) if (p / "index.json").exists())
    result["index_disk_mb"] = round(sum(f.stat().st_size for f in place.rglob("*") if f.is_file()) / 2**20, 1)
    result["documents"] = len(index)
    result["corpora"] = [{k: v for k, v in c.items() if k != "pages"} for c in index.meta["corpora"]]
    rng = random.Random(0)
    trained = [
        i for i in rng.sample(range(len(index)), min(len(index), 20 * SAMPLE)) if index.record(i, "ja").in_training
    ]
    own = [index.record(i, "ja") for i in trained[:SAMPLE]]
    result["exact"] = _run(index, [(r, r.source, r.target) for r in own])
    result["paraphrase"] = _run(index, [(r, *_paraphrase(r.source, r.target, words, rng)) for r in own])
    result["steps"] = {**index.meta["steps"], **_seen(own)}
    result["index_rss_mb_after_queries"] = _delta(before)
    result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    result["data_dir"] = str(data_dir())
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
