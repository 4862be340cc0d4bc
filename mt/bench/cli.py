"""``kakehashi bench``: ``testsets``, ``quality`` and ``speed``.

``add_bench_command(subparsers)`` registers the command on ``kakehashi``'s parser; :func:`main` runs it alone
(``python -m mt.bench …``, and the tests).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mt._errors import InvalidRequest, KakehashiError

DEFAULT_OUTPUT = Path("bench-results")


def _int_list(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated whole numbers such as 1,8,32; got {text!r}"
        ) from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected positive whole numbers such as 1,8,32; got {text!r}")
    return values


def add_bench_command(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``bench`` (with ``testsets``, ``quality``, ``speed``) to ``subparsers``; returns the ``bench`` parser."""
    from mt._evaluation import TOKENIZER_CHOICES

    bench = subparsers.add_parser(
        "bench",
        help="compare systems: translation quality (sacreBLEU, significance) and speed",
        description="Compare translation systems on named test sets (quality) or on a grid of batch/beam sizes (speed).",
    )
    sub = bench.add_subparsers(dest="bench_command", required=True)

    p = sub.add_parser("testsets", help="list the named test sets, their directions and licenses")
    p.add_argument("--json", action="store_true", help="print the list as JSON")
    p.set_defaults(func=cmd_testsets)

    p = sub.add_parser(
        "quality",
        help="translate test sets with each system and score them (BLEU, chrF2, TER, paired bootstrap)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=(
            "systems: MODEL[:beam=5,compute_type=float32,device=cpu,threads=2,max_length=256,batch=64,\n"
            "length_penalty=1.0,repetition_penalty=1.1,no_repeat_ngram_size=4,reconstruction_weight=0.5], default, "
            "libretranslate+http://HOST:PORT, deepl+https://HOST (key in DEEPL_AUTH_KEY), kakehashi+http://HOST:PORT "
            "[:batch=16,retries=4,backoff=1,timeout=120,key_env=VAR], file:PATH\n"
            "test sets: NAME:PAIR (kakehashi bench testsets) or files:SRC,REF[:PAIR]"
        ),
    )
    p.add_argument(
        "--system", action="append", default=[], metavar="NAME=SPEC", help="repeatable; the first is the baseline"
    )
    p.add_argument("--testset", action="append", required=True, metavar="NAME:PAIR", help="repeatable")
    p.add_argument("--limit", type=int, help="first N sentences of each test set")
    p.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help=f"report folder (default: {DEFAULT_OUTPUT})")
    p.add_argument("--tokenize", default="auto", choices=TOKENIZER_CHOICES, help="BLEU tokenizer (auto: by target)")
    p.add_argument("--resamples", type=int, default=1000, help="paired bootstrap resamples (default 1000)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_quality)

    p = sub.add_parser("speed", help="tokens/s, sentences/s, latency, memory and load time of engines")
    p.add_argument(
        "--system",
        action="append",
        default=[],
        metavar="NAME=SPEC",
        help="MODEL:compute_type=int8 or transformers:CHECKPOINT[:like=MODEL]; repeatable, the first is the "
        "baseline (default: the pair's default model at int8 and float32, plus int8_float16 and float16 on CUDA)",
    )
    p.add_argument("--testset", default="tatoeba-test:ja-en", metavar="NAME:PAIR", help="input sentences")
    p.add_argument("--sentences", type=int, default=200, help="how many sentences (default 200)")
    p.add_argument("--batch-sizes", type=_int_list, default=(1, 8, 32), help="default 1,8,32")
    p.add_argument("--beam-sizes", type=_int_list, default=(1, 4), help="default 1,4")
    p.add_argument("--repeats", type=int, default=3, help="timed passes per cell; the median is reported")
    p.add_argument("--max-length", type=int, default=128, help="maximum output tokens per sentence")
    p.add_argument("--threads", type=int, default=0, help="intra-op threads (0: the engine's default)")
    p.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help=f"report folder (default: {DEFAULT_OUTPUT})")
    p.set_defaults(func=cmd_speed)
    return bench


def cmd_testsets(args: argparse.Namespace) -> int:
    from mt.bench.testsets import DATA_DIR_VARIABLE, data_dir, default_data_dir, describe

    rows = describe()
    if args.json:
        print(json.dumps(rows, indent=2, ensure_ascii=False))
        return 0
    try:
        root = f"data directory: {data_dir()}"
    except KakehashiError:
        given = os.environ.get(DATA_DIR_VARIABLE)
        root = f"data directory {given or default_data_dir()} is missing; set {DATA_DIR_VARIABLE}"
    print(root)
    for row in rows:
        pairs = [str(pair) for pair in row["pairs"]]  # type: ignore[attr-defined]
        shown = ", ".join(pairs[:6]) + (f", … ({len(pairs)} directions)" if len(pairs) > 6 else "")
        mark = "" if row["present"] else "  [files missing]"
        print(f"{row['name']:<18} {shown}\n{'':<18} {row['description']}; license: {row['license']}{mark}")
    print("files:SRC,REF[:xx-yy]  any pair of line-aligned local files")
    return 0


def _stamp(report: dict[str, Any]) -> dict[str, Any]:
    from mt.bench.report import machine_info

    return {
        **report,
        "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": machine_info(),
    }


def cmd_quality(args: argparse.Namespace) -> int:
    from mt.bench.quality import QualityOptions, run_quality
    from mt.bench.report import write_reports
    from mt.bench.systems import open_system, parse_system
    from mt.bench.testsets import resolve

    if args.resamples < 1:
        raise InvalidRequest(f"--resamples must be positive; got {args.resamples}")
    testsets = [resolve(spec, limit=args.limit) for spec in args.testset]
    specs = [parse_system(text) for text in args.system] or [parse_system("default=default")]
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        raise InvalidRequest(f"system names must be unique (write NAME=SPEC); got {', '.join(names)}")
    systems = [open_system(spec) for spec in specs]
    options = QualityOptions(args.output, args.tokenize, args.resamples, progress=not args.no_progress)
    try:
        report = run_quality(systems, testsets, options)
    finally:
        for system in systems:
            system.close()
    data = _stamp(report.to_json())
    data["settings"]["limit"] = args.limit
    paths = write_reports("quality", data, args.output)
    for row in data["results"]:
        comparison = row["comparison"] or {}
        mark = "*" if comparison.get("BLEU", {}).get("significant") else ""
        print(
            f"{row['system']:<16} {row['testset']:<26} BLEU {row['score']['bleu']:6.2f}{mark:<1} "
            f"chrF2 {row['score']['chrf']:6.2f} TER {row['score']['ter']:6.2f}"
        )
    print("reports: " + ", ".join(str(p) for p in paths), file=sys.stderr)
    return 0


def _default_speed_systems() -> list[str]:
    import ctranslate2

    types = ["int8", "float32"]
    if ctranslate2.get_cuda_device_count() > 0:
        return [f"{t}=default:compute_type={t},device=cuda" for t in ("int8_float16", "float16", *types)]
    return [f"{t}=default:compute_type={t},device=cpu" for t in types]


def cmd_speed(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from mt.bench.report import write_reports
    from mt.bench.speed import SpeedOptions, run_speed
    from mt.bench.systems import parse_system
    from mt.bench.testsets import resolve

    testset = resolve(args.testset, limit=args.sentences)
    texts = args.system or _default_speed_systems()
    specs = [parse_system(text, kinds=("model", "transformers")) for text in texts]
    specs = [_route_default(spec, testset.source_lang, testset.target_lang) for spec in specs]
    if args.repeats < 1:
        raise InvalidRequest(f"--repeats must be positive; got {args.repeats}")
    options = SpeedOptions(args.batch_sizes, args.beam_sizes, args.repeats, args.max_length, args.threads)
    results = run_speed(specs, testset.sources, testset.source_lang, testset.target_lang, options)
    settings = {**asdict(options), "testset": testset.key, "sentences": len(testset.sources)}
    data = _stamp({"benchmark": "speed", "systems": [asdict(s) for s in specs], "settings": settings})
    data["results"] = [asdict(r) for r in results]
    paths = write_reports("speed", data, args.output)
    for r in results:
        print(
            f"{r.system:<16} batch {r.batch_size:>3} beam {r.beam_size:>2}  {r.tokens_per_s:>9.1f} tok/s "
            f"{r.sentences_per_s:>8.2f} sent/s  p50 {r.latency_ms['p50']:.1f} ms  RSS {r.peak_rss_mb:.0f} MB "
            f"({r.speed_ratio:.2f}× speed)"
        )
    print("reports: " + ", ".join(str(p) for p in paths), file=sys.stderr)
    return 0


def _route_default(spec: Any, source: str, target: str) -> Any:
    """``default`` → the installed model the registry routes the pair to (speed loads one model directly)."""
    from dataclasses import replace

    from mt import Settings, parse_language

    if spec.kind != "model" or spec.location != "default":
        return spec
    route = Settings.from_env().load_registry().route(parse_language(source), parse_language(target))
    if len(route.steps) != 1:
        raise InvalidRequest(f"{source}→{target} is pivoted through two models; name one model with --system")
    return replace(spec, location=str(route.steps[0][0].path))


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``kakehashi bench …`` (``argv`` without the leading ``bench``) through the ``kakehashi`` command line;
    exit status 2 on a user error."""
    from mt.cli import main as kakehashi_main

    return kakehashi_main(["bench", *(sys.argv[1:] if argv is None else argv)])
