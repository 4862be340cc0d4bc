"""Batch document translation: throughput, the gain from deduplication, and the cost of parsing and reassembly.

    python benchmarks/documents.py --output benchmarks/results/documents.json

A corpus of six documents (Markdown, HTML, SubRip, plain text, Word, gettext PO) is written to a temporary folder:
each carries its share of Tatoeba-test's Japanese sentences (``../shared/data``, ``KAKEHASHI_DATA_DIR``; a built-in
list when absent) between the same navigation, header and footer boilerplate. It is translated ja→en with the
shipped default model through the steps of ``kakehashi translate-file`` (plan and parse, translate the unique
units through the resume journal, render and write atomically), timed separately; the median of ``--runs`` runs
(each with a fresh journal, models loaded before timing) is reported.

* ``segments_per_s``: all units of all files (duplicates included) / total time of a run;
* ``overhead_share``: (parse + render and write) / total;
* ``dedup``: the same corpus translated file by file without the journal (what a one-file-at-a-time tool does, so
  every file's boilerplate goes to the model again) against the batch run: sentences given to the model and time
  (batch and file-by-file runs alternate, so that both meet the same load on a shared machine).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from mt import Kakehashi, Settings, TranslationOptions
from mt._segment_store import weights_fingerprint
from mt.documents._journal import Journal, JournalTranslator
from mt.documents._runner import RunOptions, collect, local_engine, plan_files, translate_collected, write_outputs
from mt.documents._runner import unique_units as unique_of

BOILERPLATE = [
    "ホーム",
    "製品情報",
    "お問い合わせ",
    "このページについて",
    "最終更新日は昨日です。",
    "ご質問はサポートまでお寄せください。",
    "すべての権利を保有します。",
    "個人情報の取り扱いについて",
    "ページの先頭へ戻る",
    "関連するページを見る",
]
FALLBACK = [
    "猫が好きです。",
    "京都に行きました。",
    "金閣寺はとてもきれいでした。",
    "明日は雨が降るでしょう。",
    "この本はおもしろいです。",
    "駅までどのくらいかかりますか。",
    "彼は毎朝走っています。",
    "日本語を勉強しています。",
]


def sentences(count: int) -> list[str]:
    root = Path(os.environ.get("KAKEHASHI_DATA_DIR", Path(__file__).resolve().parents[2] / "shared" / "data"))
    path = root / "testsets" / "tatoeba-test" / "tatoeba-test-v2021-08-07.eng-jpn.ja"
    if path.exists():
        lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        return list(dict.fromkeys(lines))[:count]
    return [f"{FALLBACK[i % len(FALLBACK)]}（{i}）" for i in range(count)]


def write_corpus(folder: Path, body: list[str]) -> None:
    import docx

    parts = [body[i::6] for i in range(6)]
    nav, foot = BOILERPLATE[:5], BOILERPLATE[5:]
    (folder / "guide.md").write_text(
        "\n".join(f"- [{n}](/{i})" for i, n in enumerate(nav))
        + "\n\n# 案内\n\n"
        + "\n\n".join(f"{s}" if i % 3 else f"**注意**：{s}" for i, s in enumerate(parts[0]))
        + "\n\n```\ncode block\n```\n\n"
        + "\n\n".join(foot)
        + "\n",
        encoding="utf-8",
    )
    (folder / "page.html").write_text(
        "<!DOCTYPE html><html><head><title>案内</title><style>p{margin:0}</style></head><body><nav>"
        + "".join(f'<a href="/{i}">{n}</a>' for i, n in enumerate(nav))
        + "</nav>"
        + "".join(f"<p>{s}</p>" if i % 4 else f"<p><b>重要</b>{s}</p>" for i, s in enumerate(parts[1]))
        + "<footer>"
        + "".join(f"<p>{f}</p>" for f in foot)
        + "</footer></body></html>",
        encoding="utf-8",
    )
    cues = nav + parts[2] + foot
    (folder / "talk.srt").write_text(
        "\n".join(
            f"{i + 1}\n00:{i // 60:02d}:{i % 60:02d},000 --> 00:{i // 60:02d}:{i % 60:02d},900\n{c}\n"
            for i, c in enumerate(cues)
        ),  # fmt: skip
        encoding="utf-8",
    )
    (folder / "notes.txt").write_text("\n\n".join(nav + parts[3] + foot) + "\n", encoding="utf-8")
    document = docx.Document()
    for text in nav + parts[4] + foot:
        document.add_paragraph(text)
    buffer = io.BytesIO()
    document.save(buffer)
    (folder / "manual.docx").write_bytes(buffer.getvalue())
    entries = [f'msgid "{t}"\nmsgstr ""\n' for t in dict.fromkeys(nav + parts[5] + foot)]
    (folder / "app.po").write_text('msgid ""\nmsgstr ""\n\n' + "\n".join(entries), encoding="utf-8")


def batch_run(corpus: Path, out: Path, settings: Settings, options: TranslationOptions) -> dict[str, Any]:
    """One ``translate-file`` run, step by step, with a fresh journal."""
    journal = Journal(out / "journal.sqlite")
    registry = settings.load_registry()
    from mt._engine import load_translator

    def journaled(directory: Path, runtime: Any) -> JournalTranslator:
        translator = load_translator(directory, runtime)
        return JournalTranslator(translator, journal, weights_fingerprint(directory, translator.manifest))

    kakehashi = Kakehashi(registry, settings.runtime(), loader=journaled)
    kakehashi.load_all()
    run_options = RunOptions(target="en", output=str(out / "en"))

    def translate(texts: list[str], source: str) -> list[str]:
        return [r.text for r in kakehashi.translate(texts, source, "en", options=options)]

    engine = local_engine(translate, "ja")
    started = time.perf_counter()
    tasks = plan_files([corpus], run_options)
    collect(tasks, run_options)
    units = unique_of(tasks)
    parsed = time.perf_counter()
    translations = translate_collected(units, engine)
    translated = time.perf_counter()
    write_outputs(tasks, translations, run_options)
    written = time.perf_counter()
    assert not [t.error for t in tasks if t.error], [t.error for t in tasks if t.error]
    total_units = sum(len(t.document.units) for t in tasks if t.document)
    journal.close()
    return {
        "files": len(tasks),
        "segments": total_units,
        "unique_segments": len(units),
        "sentences_to_model": journal.misses,
        "parse_s": parsed - started,
        "translate_s": translated - parsed,
        "render_write_s": written - translated,
        "total_s": written - started,
    }


def file_by_file(corpus: Path, out: Path, settings: Settings, options: TranslationOptions) -> dict[str, Any]:
    """The baseline: each file on its own, no journal, so nothing is shared between files."""
    from mt._engine import load_translator

    given: list[int] = []

    def counting(directory: Path, runtime: Any) -> Any:
        inner = load_translator(directory, runtime)
        original = inner.translate_segments

        def translate_segments(segments: Any, *args: Any, **kwargs: Any) -> Any:
            given.append(len(segments))
            return original(segments, *args, **kwargs)

        inner.translate_segments = translate_segments  # type: ignore[method-assign]
        return inner

    kakehashi = Kakehashi(settings.load_registry(), settings.runtime(), loader=counting)
    kakehashi.load_all()
    run_options = RunOptions(target="en", output=str(out / "en"))

    def translate(texts: list[str], source: str) -> list[str]:
        return [r.text for r in kakehashi.translate(texts, source, "en", options=options)]

    engine = local_engine(translate, "ja")
    started = time.perf_counter()
    for task in plan_files([corpus], run_options):
        collect([task], run_options)
        write_outputs([task], translate_collected(unique_of([task]), engine), run_options)
    return {"sentences_to_model": sum(given), "total_s": time.perf_counter() - started}


def median(rows: list[dict[str, Any]], key: str) -> float:
    return statistics.median(row[key] for row in rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sentences", type=int, default=240, help="distinct body sentences in the corpus")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--beam", type=int, default=4)
    parser.add_argument("--output", type=Path, default=Path("benchmarks/results/documents.json"))
    args = parser.parse_args()
    settings = Settings.from_env()
    options = TranslationOptions(beam_size=args.beam)
    body = sentences(args.sentences)
    with tempfile.TemporaryDirectory() as temporary:
        root = Path(temporary)
        corpus = root / "corpus"
        corpus.mkdir()
        write_corpus(corpus, body)
        # Parser libraries are imported on first use: once before timing, as models are loaded before it.
        warm = RunOptions(target="en", output=str(root / "warm"))
        collect(plan_files([corpus], warm), warm)
        runs, baselines = [], []
        # Batch and baseline runs alternate, so that both meet the same load on a shared machine.
        for number in range(args.runs):
            out = root / f"run{number}"
            out.mkdir()
            runs.append(batch_run(corpus, out, settings, options))
            print(json.dumps(runs[-1]))
            (out / "baseline").mkdir()
            baselines.append(file_by_file(corpus, out / "baseline", settings, options))
            print(json.dumps(baselines[-1]))
    total = median(runs, "total_s")
    overhead = median(runs, "parse_s") + median(runs, "render_write_s")
    result = {
        "benchmark": "documents",
        "model": settings.load_registry().entries[0].manifest.name,
        "beam_size": args.beam,
        "corpus": {
            "files": runs[0]["files"],
            "segments": runs[0]["segments"],
            "unique_segments": runs[0]["unique_segments"],
            "sentence_source": "tatoeba-test-v2021-08-07 ja" if len(body) and "（" not in body[0] else "built-in",
        },
        "runs": runs,
        "segments_per_s": runs[0]["segments"] / total,
        "median_total_s": total,
        "median_parse_s": median(runs, "parse_s"),
        "median_translate_s": median(runs, "translate_s"),
        "median_render_write_s": median(runs, "render_write_s"),
        "overhead_share": overhead / total,
        "dedup": {
            "file_by_file_sentences_to_model": baselines[0]["sentences_to_model"],
            "batch_sentences_to_model": runs[0]["sentences_to_model"],
            "sentences_saved_share": 1 - runs[0]["sentences_to_model"] / baselines[0]["sentences_to_model"],
            "file_by_file_runs": baselines,
            "file_by_file_median_total_s": median(baselines, "total_s"),
            "batch_median_total_s": total,
            "speedup": median(baselines, "total_s") / total,
        },
        "machine": {
            "python": platform.python_version(),
            "processor": platform.processor() or platform.machine(),
            "system": platform.system(),
            "cpus": os.cpu_count(),
        },
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(json.dumps({k: result[k] for k in ("segments_per_s", "overhead_share", "dedup")}, indent=2))


if __name__ == "__main__":
    main()
