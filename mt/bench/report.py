"""Benchmark reports: JSON, a Markdown table and PNG charts (matplotlib, imported only to draw), machine info."""

from __future__ import annotations

import json
import os
import platform
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from mt._errors import MissingDependency

LIBRARIES = ("kakehashi", "ctranslate2", "sacrebleu", "transformers", "torch", "numpy", "httpx")


def _cpuinfo(field: str) -> str | None:
    """The first value of ``field`` in /proc/cpuinfo (``None`` where there is none)."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith(field):
                return line.split(":", 1)[1].strip()
    return None


def _cpu_model() -> str:
    return _cpuinfo("model name") or platform.processor() or platform.machine()


# The vector extensions CTranslate2's int8 and bfloat16 kernels are fastest with; the same model's speed (and int8
# scores, slightly) differ between CPUs with and without them.
CPU_FEATURES = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_int8", "amx_bf16")


def _cpu_features() -> list[str]:
    flags = set((_cpuinfo("flags") or "").split())
    return [f for f in CPU_FEATURES if f in flags]


def machine_info() -> dict[str, Any]:
    """CPU model and cores, platform, Python and the versions of the libraries that shape the numbers."""
    versions: dict[str, str | None] = {}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    info: dict[str, Any] = {
        "cpu": _cpu_model(),
        "cpu_features": _cpu_features(),
        "cpu_count": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "libraries": versions,
    }
    try:
        import ctranslate2

        info["cuda_devices"] = ctranslate2.get_cuda_device_count()
    except ImportError:
        info["cuda_devices"] = None
    return info


def write_json(path: Path, data: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def _table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join("" if c is None else str(c) for c in row) + " |" for row in rows]
    return lines + [""]


def _delta(row: dict[str, Any], metric: str, key: str, baseline: dict[str, Any]) -> str:
    comparison = (row.get("comparison") or {}).get(metric)
    if comparison is None:
        return "baseline"
    diff = row["score"][key] - baseline["score"][key]
    mark = " *" if comparison["significant"] else ""
    return f"{diff:+.2f} (p={comparison['p_value']:.3f}){mark}"


def quality_markdown(report: dict[str, Any]) -> str:
    """One table per test set: BLEU, chrF2, TER and each difference from the first system with its p-value."""
    lines = ["# Translation quality", ""]
    alpha = report["settings"].get("alpha", 0.05)
    for testset in report["testsets"]:
        rows = [r for r in report["results"] if r["testset"] == testset["key"]]
        if not rows:
            continue
        lines += [
            f"## {testset['key']} ({testset['sentences']} of {testset['of']} sentences; {testset['license']})",
            "",
        ]
        baseline = rows[0]
        table = [
            [
                r["system"],
                r["score"]["bleu"],
                _delta(r, "BLEU", "bleu", baseline),
                r["score"]["chrf"],
                _delta(r, "chrF2", "chrf", baseline),
                r["score"]["ter"],
                _delta(r, "TER", "ter", baseline),
                "kept" if r["reused"] else (f"{r['seconds']:.1f}" if r["seconds"] is not None else ""),
            ]
            for r in rows
        ]
        lines += _table(["system", "BLEU", "Δ BLEU", "chrF2", "Δ chrF2", "TER", "Δ TER", "translation s"], table)
    signatures = sorted(
        {r["score"][k] for r in report["results"] for k in ("bleu_signature", "chrf_signature", "ter_signature")}
    )
    lines += [
        f"Δ: difference from the first system; * marks a significant one (paired bootstrap, "
        f"{report['settings'].get('resamples')} resamples, p < {alpha}). Lower TER is better.",
        "",
        "Signatures: " + "; ".join(f"`{s}`" for s in signatures),
        "",
    ]
    tests = sorted({sig for paired in report.get("significance", {}).values() for sig in paired["signatures"].values()})
    if tests:
        lines += ["Paired bootstrap: " + "; ".join(f"`{s}`" for s in tests), ""]
    return "\n".join(lines)


def speed_markdown(report: dict[str, Any]) -> str:
    """One row per system and grid cell: throughput, latency, memory, load time, ratios against the first."""
    machine = report["machine"]
    lines = [
        "# Translation speed",
        "",
        f"{machine['cpu']}, {machine['usable_cpus']} usable CPUs, {machine['platform']}; "
        f"{report['settings']['sentences']} sentences of {report['settings']['testset']}, "
        f"median of {report['settings']['repeats']} passes after a warm-up; model load timed separately.",
        "",
    ]
    rows = [
        [
            r["system"],
            r["batch_size"],
            r["beam_size"],
            r["tokens_per_s"],
            r["sentences_per_s"],
            r["latency_ms"]["p50"],
            r["latency_ms"]["p95"],
            r["peak_rss_mb"],
            r["load_s"],
            f"{r['speed_ratio']:.2f}×",
            f"{r['memory_ratio']:.2f}×",
        ]
        for r in report["results"]
    ]
    header = ["system", "batch", "beam", "tokens/s", "sentences/s", "p50 ms", "p95 ms", "peak RSS MB", "load s"]
    lines += _table([*header, "speed vs first", "memory vs first"], rows)
    return "\n".join(lines)


def _pyplot() -> Any:
    try:
        import matplotlib
    except ModuleNotFoundError as exc:
        raise MissingDependency("matplotlib", "bench", "drawing benchmark charts") from exc
    matplotlib.use("Agg")  # files only; never a window
    import matplotlib.pyplot as plt

    return plt


def quality_chart(report: dict[str, Any], path: Path) -> Path:
    """Grouped bars of BLEU and chrF2 per test set and system."""
    plt = _pyplot()
    keys = [t["key"] for t in report["testsets"]]
    systems = list(dict.fromkeys(r["system"] for r in report["results"]))
    figure, axes = plt.subplots(1, 2, figsize=(max(6.0, 1.6 * len(keys) * max(1, len(systems)) / 2 + 4), 4))
    width = 0.8 / max(1, len(systems))
    for axis, metric, label in ((axes[0], "bleu", "BLEU"), (axes[1], "chrf", "chrF2")):
        for i, system in enumerate(systems):
            values = [
                next((r["score"][metric] for r in report["results"] if r["system"] == system and r["testset"] == k), 0)
                for k in keys
            ]
            axis.bar([x + i * width for x in range(len(keys))], values, width, label=system)
        axis.set_xticks([x + width * (len(systems) - 1) / 2 for x in range(len(keys))], keys, rotation=20, ha="right")
        axis.set_ylabel(label)
        axis.set_title(label)
    axes[0].legend(fontsize="small")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def speed_chart(report: dict[str, Any], path: Path) -> Path:
    """Tokens/s against batch size, one line per system and beam size."""
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(7, 4))
    series: dict[tuple[str, int], list[tuple[int, float]]] = {}
    for r in report["results"]:
        series.setdefault((r["system"], r["beam_size"]), []).append((r["batch_size"], r["tokens_per_s"]))
    for (system, beam), points in series.items():
        points.sort()
        axis.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=f"{system}, beam {beam}")
    axis.set_xscale("log", base=2)
    sizes = sorted({r["batch_size"] for r in report["results"]})
    axis.set_xticks(sizes, [str(size) for size in sizes])
    axis.set_xlabel("batch size (sentences)")
    axis.set_ylabel("target tokens/s")
    axis.legend(fontsize="small")
    axis.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def write_reports(kind: str, report: dict[str, Any], output: Path) -> list[Path]:
    """``<kind>.json``, ``<kind>.md`` and ``<kind>.png`` in ``output``; the chart last, so a missing matplotlib
    still leaves the JSON and Markdown behind."""
    output.mkdir(parents=True, exist_ok=True)
    markdown = quality_markdown(report) if kind == "quality" else speed_markdown(report)
    paths = [write_json(output / f"{kind}.json", report), output / f"{kind}.md"]
    paths[1].write_text(markdown, encoding="utf-8")
    chart = quality_chart if kind == "quality" else speed_chart
    paths.append(chart(report, output / f"{kind}.png"))
    return paths
