"""Write benchmarks/results/README.md: tables from the JSON reports in that folder.

    python benchmarks/summarize.py

Every number comes from a report written by the other scripts in one run each; nothing here is typed in.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"


def _load(name: str) -> dict[str, Any] | None:
    path = RESULTS / name
    if not path.exists():
        return None
    report: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    if name.startswith(("quality", "speed")) and "benchmark" not in report:
        # Written by the scripts `kakehashi bench` replaced; benchmarks/reproduce.sh writes the current format.
        print(f"skipping {path}: an old report format; rerun benchmarks/reproduce.sh", file=sys.stderr)
        return None
    return report


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return out + [""]


def _subsection(markdown: str, title: str) -> list[str]:
    """A report's Markdown (from ``mt.bench.report``) under this summary's ``title``, its headings one level down."""
    body = markdown.splitlines()[1:]  # its own "# ..." title is replaced by ours
    return [f"## {title}", *[("#" + line) if line.startswith("#") else line for line in body], ""]


def quality_section(report: dict[str, Any]) -> list[str]:
    from mt.bench.report import quality_markdown

    systems = ", ".join(f"`{s['name']}` = `{s['spec']}`" for s in report["systems"])
    lines = _subsection(quality_markdown(report), "Translation quality (`quality.json`, `kakehashi bench quality`)")
    return lines[:2] + [f"Systems: {systems}.", "", "![quality](quality.png)", ""] + lines[2:]


def speed_section(name: str, title: str, report: dict[str, Any]) -> list[str]:
    from mt.bench.report import speed_markdown

    lines = _subsection(speed_markdown(report), f"{title} (`{name}.json`, `kakehashi bench speed`)")
    return lines + [f"![{name}]({name}.png)", ""]


def decoding_section(name: str, report: dict[str, Any]) -> list[str]:
    with_p = report.get("baseline") is not None
    lines = [
        f"## Decoding settings (`{name}`, `benchmarks/decoding.py`)",
        "",
        f"`{report['model']}`"
        + (f" (step {report['training_steps']:,})" if report.get("training_steps") else "")
        + f" int8 on {report['sentences']:,} sentences of {report['dev']}, both directions; "
        "'stuttering' counts outputs that repeat a word trigram (MeCab words for Japanese) more often than "
        "their reference does."
        + (f" p: paired bootstrap of chrF against `{report['baseline']}`." if with_p else "")
        + (f" {report['note']}" if report.get("note") else ""),
        "",
    ]
    metrics = ("BLEU", "chrF", *(("p",) if with_p else ()), "stuttering", "sent/s")
    rows = []
    for r in report["results"]:
        row = [r["setting"]]
        for direction in ("ja-en", "en-ja"):
            d = r[direction]
            p = ("–" if d["p_chrf"] is None else f"{d['p_chrf']:.3f}",) if with_p else ()
            row += [d["bleu"], d["chrf"], *p, d["stuttering_outputs"], d["sentences_per_s"]]
        rows.append(row)
    header = ["setting"] + [f"{d} {m}" for d in ("ja→en", "en→ja") for m in metrics]
    return lines + _table(header, rows)


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
    machine = report.get("machine") or {}
    if machine.get("cpu"):
        features = ", ".join(machine.get("cpu_features") or ()) or "none listed"
        lines.append(f"- machine: {machine['cpu']}, {machine.get('cpu_count')} CPUs (vector extensions: {features})")
    return lines + [""]


def training_section(name: str, data: dict[str, Any]) -> list[str]:
    summary = data.get("summary", {})
    lines = [f"### {name}", ""]
    for key in ("steps", "epochs", "minutes", "chosen_weights"):
        if key in summary:
            lines.append(f"- {key.replace('_', ' ')}: {summary[key]}")
    lines.append("")
    if data.get("runs"):  # benchmarks/relay_report.py: the relay's chain of runs
        header = [
            "started",
            "device",
            "threads",
            "tokens/step",
            "lr",
            "added corpora",
            "corpus weights",
            "moments",
            "steps",
            "wall min",
            "CPU min",
            "dev chrF",
        ]
        rows = []
        for r in data["runs"]:
            batch = f"{r['batch_tokens']:,}" + (f" × {r['accumulate']}" if r["accumulate"] > 1 else "")
            dev = r["last_dev_evaluation"]
            rows.append(
                [
                    r["started"][:10],
                    r["device"],
                    r["threads"],
                    batch,
                    r["learning_rate"],
                    r.get("added_corpora", 0),
                    ", ".join(f"{c} ×{w:g}" for c, w in (r.get("corpus_weights") or {}).items()) or "—",
                    r.get("moments") or "not recorded",
                    r["steps"],
                    r["wall_minutes"],
                    r["cpu_minutes"] if r["cpu_minutes"] is not None else "not recorded",
                    f"{dev['mean_chrf']} (step {dev['step']:,})" if dev else "not kept",
                ]
            )
        lines += _table(header, rows)
    return lines


def _score(report: dict[str, Any] | None, system: str, testset: str, metric: str) -> float | None:
    for r in (report or {}).get("results", []):
        if (r["system"], r["testset"]) == (system, testset):
            return float(r["score"][metric])
    return None


def _engine(report: dict[str, Any] | None, system: str, beam: int) -> float | None:
    """The speed ratio against the run's first system, at beam ``beam`` and the largest batch measured."""
    rows = [r for r in (report or {}).get("results", []) if (r["system"], r["beam_size"]) == (system, beam)]
    return float(max(rows, key=lambda r: r["batch_size"])["speed_ratio"]) if rows else None


# The system of quality_reconstruction.json that decodes as the shipped default recommends.
SERVED_SYSTEM = "reconstruct0.5"


def goals_section() -> list[str]:
    """The issues' goals, each against the measured figure (computed here from the reports)."""
    quality, speed, llm_speed = _load("quality.json"), _load("speed.json"), _load("speed_llm.json")
    http = _load("http_load.json")
    rows: list[tuple[str, float | None, str, bool | None]] = []

    def goal(name: str, value: float | None, sign: str, bound: float, unit: str = "") -> None:
        """``sign`` is ``≥`` or ``≤``; a goal with no measurement is shown as not measured."""
        met = None if value is None else (value >= bound if sign == "≥" else value <= bound)
        rows.append((name, value, f"{sign} {bound:g}{unit}", met))

    # The shipped default's own scores: the relay's last comparison measures the model shipped now; the
    # reconstruction report measures it as it decodes now (its recommended decoding), where that report exists.
    default = _load("quality_relay.json") or quality
    served = _load("quality_reconstruction.json")
    scored, system = (served, SERVED_SYSTEM) if served else (default, "int8")
    for test_set, floor in (("tatoeba-test", 25), ("wikikyoto-test", 15)):
        goal(f"default ja→en BLEU, {test_set}", _score(scored, system, f"{test_set}:ja-en", "bleu"), "≥", floor)
        goal(f"default en→ja chrF, {test_set}", _score(scored, system, f"{test_set}:en-ja", "chrf"), "≥", 25)
    # The int8 − float32 gap of the model shipped now where the relay's report has its float32 twin.
    with_twin = default if any(r["system"] == "float32" for r in (default or {}).get("results", [])) else quality
    gaps = [
        abs(twin - r["score"]["bleu"])
        for r in (with_twin or {}).get("results", [])
        if r["system"] == "int8" and (twin := _score(with_twin, "float32", r["testset"], "bleu")) is not None
    ]
    goal("largest BLEU gap between int8 and float32 (either ahead)", max(gaps) if gaps else None, "≤", 0.5)
    mt, dec = (
        _score(quality, "int8", "tatoeba-test:ja-en", "bleu"),
        _score(quality, "llm-int8", "tatoeba-test:ja-en", "bleu"),
    )
    gap = mt - dec if mt is not None and dec is not None else None
    goal("decoder-only ja→en BLEU behind the default (Tatoeba-test)", gap, "≤", 5)
    goal(
        "CTranslate2 int8 vs transformers, encoder-decoder (tokens/s, beam 4)",
        _engine(speed, "ctranslate2-int8", 4),
        "≥",
        4,
        "×",
    )
    goal(
        "Generator int8 vs transformers, decoder-only (tokens/s, greedy)",
        _engine(llm_speed, "ctranslate2-int8", 1),
        "≥",
        3,
        "×",
    )
    if http:
        goal("cache-hit p50 (ms)", http["cache_hit_p50_ms"], "≤", 3)
        goal("micro-batching gain", http["micro_batching_gain"], "≥", 6, "×")
        goal("server peak RSS with the shipped models (MB)", http["server_rss_mb"]["end"]["VmHWM"], "≤", 400)
    table = [
        [name, "—" if v is None else round(v, 2), target, {True: "met", False: "not met", None: "—"}[met]]
        for name, v, target, met in rows
    ]
    source = (
        f"`quality_reconstruction.json`, system `{SERVED_SYSTEM}`: the model as it decodes by default"
        if served
        else "`quality_relay.json`, system `int8`"
    )
    return ["## Goals", "", f"The default's scores: {source}.", ""] + _table(["goal", "measured", "target", ""], table)


def main() -> None:
    sys.path.insert(0, str(ROOT))  # the sections reuse mt.bench.report's tables
    lines = [
        "# Benchmark results",
        "",
        "Written by `benchmarks/summarize.py` from the JSON reports here; `benchmarks/reproduce.sh` reruns them all.",
        "Machine: 2 CPU cores, no GPU.",
        "",
    ]
    lines += goals_section()
    quality = _load("quality.json")
    if quality:
        lines += quality_section(quality)
    for name, title in (
        ("speed", "Engine speed: encoder-decoder default"),
        ("speed_llm", "Engine speed: decoder-only LLM"),
    ):
        report = _load(name + ".json")
        if report:
            lines += speed_section(name, title, report)
    for name in ("decoding.json", "decoding_dev_sets.json", "decoding_reconstruction_dev.json"):
        decoding = _load(name)
        if decoding:
            lines += decoding_section(name, decoding)
    http = _load("http_load.json")
    if http:
        lines += http_section(http)
    lines += other_reports_section()
    trainings = sorted(RESULTS.glob("training_*.json"))
    if trainings:
        lines += ["## Training", ""]
        for path in trainings:
            data = json.loads(path.read_text(encoding="utf-8"))
            lines += training_section(path.stem, data)
            png = path.with_suffix(".png")
            if png.exists():
                lines += [f"![{path.stem}]({png.name})", ""]
    (RESULTS / "README.md").write_text("\n".join(lines), encoding="utf-8")
    print(RESULTS / "README.md")


# The reports that carry their own explanation: a link and what each measures.
OTHER_REPORTS = (
    (
        "quality_relay.md",
        "the relay's default (step 9,654) against its float32 twin and the one before it (step 9,565), paired bootstrap",
    ),
    (
        "quality_decoding.md",
        "the default (step 9,654) with its recommended decoding (`no_repeat_ngram_size` 4) against plain beam 4 on "
        "the test sets, paired bootstrap",
    ),
    (
        "quality_reconstruction.md",
        "the default (step 9,654) reranking its beam by translating back (`reconstruction_weight`) against beam 4 "
        "with `no_repeat_ngram_size` 4 alone on the test sets, paired bootstrap",
    ),
    (
        "quality_reconstruction_news.md",
        "the same two decodings on news, far from the training data (FLORES-200 devtest and WMT20, 500 sentences)",
    ),
    (
        "http_load_no_reranking.json",
        "`http_load.py` on the same machine as `http_load.json`, the default decoding without reranking by "
        "translating back: what the reranking costs a server",
    ),
    ("references.json", "source references: index build, load, search latency, memory, retrieval accuracy"),
    ("glossary.json", "glossaries: term accuracy with and without placeholders"),
    ("documents.json", "`translate-file`: segments/s, parse and render overhead, deduplication"),
    ("jobs.json", "document jobs and the Ray engine: segments/s, workers, upload-to-first-segment latency"),
    ("reliability.md", "faults, load and soak, contended CPU, dependencies (issue #16)"),
    ("threads.json", "thread layouts on a contended machine"),
    ("load.json", "HTTP load: cache hits, capacity, soak, overload"),
    ("relay_experiments.md", "equal-time relay arms from the same step (issue #10, item 4)"),
    ("precision_training.json", "training speed on this CPU: float32 against bfloat16 autocast"),
    ("batching.json", "padding in length-bucketed against random training batches"),
)


def other_reports_section() -> list[str]:
    present = [(name, what) for name, what in OTHER_REPORTS if (RESULTS / name).exists()]
    if not present:
        return []
    return ["## Other reports", "", *(f"* [`{name}`]({name}): {what}" for name, what in present), ""]


if __name__ == "__main__":
    main()
