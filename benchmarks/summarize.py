"""Write benchmarks/results/README.md: tables from the JSON reports in that folder.

    python benchmarks/summarize.py

Every number comes from a report written by the other scripts in one run each; nothing here is typed in.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def _load(name: str) -> dict[str, Any] | None:
    path = RESULTS / name
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return out + [""]


def quality_section(name: str, report: dict[str, Any]) -> list[str]:
    rows = []
    for r in report["results"]:
        rows.append(
            [r["model"], r["test_set"], r["direction"], r["sentences"], r["bleu"], r["chrf"], r["sentences_per_s"]]
        )
    settings = report["settings"]
    limit = f"first {settings['limit']} sentences of each set" if settings.get("limit") else "whole test sets"
    lines = [
        f"## Translation quality (`{name}`)",
        "",
        f"sacreBLEU, beam {settings['beam_size']}, {limit}, {settings['threads']} threads. Japanese targets are "
        "scored with `ja-mecab` tokenisation, English with `13a`; signatures are in the JSON.",
        "",
    ]
    lines += _table(["model", "test set", "direction", "sentences", "BLEU", "chrF", "sentences/s"], rows)
    signatures = sorted(
        {r["bleu_signature"] for r in report["results"]} | {r["chrf_signature"] for r in report["results"]}
    )
    lines += ["Signatures: " + "; ".join(f"`{s}`" for s in signatures), ""]
    return lines


def speed_section(title: str, report: dict[str, Any]) -> list[str]:
    s = report["settings"]
    lines = [
        f"## {title}",
        "",
        f"`{report['checkpoint']}`, {s['sentences']} {s['source_lang']}→{s['target_lang']} sentences, beam "
        f"{s['beam']}, batches of {s['batch_sentences']}, {s['threads']} threads; median of {s['repeats']} passes, "
        "each engine in its own process. Ratios are against transformers in the same run.",
        "",
    ]
    rows = [
        [
            r["engine"],
            r["tokens_per_s"],
            r["sentences_per_s"],
            f"{r['speed_vs_transformers']}×",
            r["peak_rss_mb"],
            f"{r['memory_vs_transformers']}×",
        ]
        for r in report["results"]
    ]
    return lines + _table(["engine", "tokens/s", "sentences/s", "speed vs transformers", "peak RSS MB", "memory"], rows)


def http_section(report: dict[str, Any]) -> list[str]:
    lines = ["## HTTP service (`http_load.json`)", ""]
    rows = []
    for name, phase in report["phases"].items():
        lat = phase["latency_ms"]
        rows.append(
            [
                name,
                phase["concurrency"],
                phase["requests"],
                phase["sentences_per_s"],
                lat["p50"],
                lat["p95"],
                lat["p99"],
            ]
        )
    lines += _table(["phase", "clients", "requests", "sentences/s", "p50 ms", "p95 ms", "p99 ms"], rows)
    for key, value in report.items():
        if key not in ("phases", "machine", "settings") and not isinstance(value, dict | list):
            lines.append(f"- {key}: {value}")
    if isinstance(report.get("server_rss_mb"), dict):
        lines.append(f"- server memory in MB (VmRSS now, VmHWM peak): {report['server_rss_mb']}")
    return lines + [""]


def training_section(name: str, summary: dict[str, Any]) -> list[str]:
    lines = [f"### {name}", ""]
    for key in ("steps", "epochs", "minutes", "chosen_weights"):
        if key in summary:
            lines.append(f"- {key.replace('_', ' ')}: {summary[key]}")
    return lines + [""]


def _score(report: dict[str, Any] | None, model: str, test_set: str, direction: str, metric: str) -> float | None:
    for r in (report or {}).get("results", []):
        if (r["model"], r["test_set"], r["direction"]) == (model, test_set, direction):
            return float(r[metric])
    return None


def _engine(report: dict[str, Any] | None, engine: str) -> float | None:
    for r in (report or {}).get("results", []):
        if r["engine"] == engine:
            return float(r["speed_vs_transformers"])
    return None


def goals_section() -> list[str]:
    """The issues' goals, each against the measured figure (computed here from the reports)."""
    quality, llm = _load("quality.json"), _load("quality_llm.json")
    speed, llm_speed, http = _load("engine_speed.json"), _load("engine_speed_llm.json"), _load("http_load.json")
    rows: list[tuple[str, float | None, str, bool | None]] = []

    def goal(name: str, value: float | None, sign: str, bound: float, unit: str = "") -> None:
        """``sign`` is ``≥`` or ``≤``; a goal with no measurement is shown as not measured."""
        met = None if value is None else (value >= bound if sign == "≥" else value <= bound)
        rows.append((name, value, f"{sign} {bound:g}{unit}", met))

    for test_set, floor in (("tatoeba-test", 25), ("wikikyoto-test", 15)):
        goal(f"default ja→en BLEU, {test_set}", _score(quality, "int8", test_set, "ja-en", "bleu"), "≥", floor)
        goal(f"default en→ja chrF, {test_set}", _score(quality, "int8", test_set, "en-ja", "chrf"), "≥", 25)
    gaps = [
        abs((_score(quality, "float32", r["test_set"], r["direction"], "bleu") or 0) - r["bleu"])
        for r in (quality or {}).get("results", [])
        if r["model"] == "int8"
    ]
    goal("largest int8 − float32 BLEU gap", max(gaps) if gaps else None, "≤", 0.5)
    mt, dec = (
        _score(quality, "int8", "tatoeba-test", "ja-en", "bleu"),
        _score(llm, "llm-int8", "tatoeba-test", "ja-en", "bleu"),
    )
    gap = mt - dec if mt is not None and dec is not None else None
    goal("decoder-only ja→en BLEU behind the default (Tatoeba-test)", gap, "≤", 5)
    goal(
        "CTranslate2 int8 vs transformers, encoder-decoder (tokens/s)",
        _engine(speed, "ctranslate2-int8"),
        "≥",
        4,
        "×",
    )
    goal("Generator int8 vs transformers, decoder-only (tokens/s)", _engine(llm_speed, "ctranslate2-int8"), "≥", 3, "×")
    if http:
        goal("cache-hit p50 (ms)", http["cache_hit_p50_ms"], "≤", 3)
        goal("micro-batching gain", http["micro_batching_gain"], "≥", 6, "×")
        goal("server peak RSS with the shipped models (MB)", http["server_rss_mb"]["end"]["VmHWM"], "≤", 400)
    table = [
        [name, "—" if v is None else round(v, 2), target, {True: "met", False: "not met", None: "—"}[met]]
        for name, v, target, met in rows
    ]
    return ["## Goals", ""] + _table(["goal", "measured", "target", ""], table)


def main() -> None:
    lines = [
        "# Benchmark results",
        "",
        "Written by `benchmarks/summarize.py` from the JSON reports here; `benchmarks/reproduce.sh` reruns them all.",
        "Machine: 2 CPU cores, no GPU.",
        "",
    ]
    lines += goals_section()
    for path in sorted(RESULTS.glob("quality*.json")):
        lines += quality_section(path.name, json.loads(path.read_text(encoding="utf-8")))
    for file, title in (
        ("engine_speed.json", "Engine speed: encoder-decoder default (`engine_speed.json`)"),
        ("engine_speed_llm.json", "Engine speed: decoder-only LLM (`engine_speed_llm.json`)"),
    ):
        report = _load(file)
        if report:
            lines += speed_section(title, report)
    http = _load("http_load.json")
    if http:
        lines += http_section(http)
    trainings = sorted(RESULTS.glob("training_*.json"))
    if trainings:
        lines += ["## Training", ""]
        for path in trainings:
            data = json.loads(path.read_text(encoding="utf-8"))
            lines += training_section(path.stem, data.get("summary", {}))
            png = path.with_suffix(".png")
            if png.exists():
                lines += [f"![{path.stem}]({png.name})", ""]
    (RESULTS / "README.md").write_text("\n".join(lines), encoding="utf-8")
    print(RESULTS / "README.md")


if __name__ == "__main__":
    main()
