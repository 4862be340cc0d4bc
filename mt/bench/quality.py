"""``kakehashi bench quality``: translate test sets with every system, score them, test the differences.

Translations are kept under ``OUTPUT/translations/<system>/<testset>.<pair>.txt`` with a ``.json`` note of the
system spec and a hash of the sources; a rerun with the same system and sources only scores. A system that fails
part-way leaves its finished batches in a ``.partial.txt`` file, and the next run resumes after them.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from mt._errors import MissingDependency
from mt._evaluation import CorpusScore, MetricComparison, paired_bootstrap, score_corpus
from mt.bench.systems import System, SystemFailed
from mt.bench.testsets import TestSet


@dataclass(frozen=True)
class QualityOptions:
    """Settings of one quality run."""

    output: Path
    tokenize: str = "auto"
    resamples: int = 1000
    alpha: float = 0.05
    progress: bool = True


@dataclass(frozen=True)
class SystemScore:
    """One system on one test set: its scores and, past the first system, the paired test against the first."""

    system: str
    testset: str
    pair: str
    sentences: int
    score: CorpusScore
    seconds: float | None
    reused: bool
    comparison: dict[str, MetricComparison] | None = None


@dataclass(frozen=True)
class QualityReport:
    """Everything one quality run measured, JSON-ready through :meth:`to_json`."""

    systems: list[dict[str, Any]]
    testsets: list[dict[str, Any]]
    results: list[SystemScore]
    significance: dict[str, dict[str, Any]] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"benchmark": "quality", **asdict(self)}


class TranslationStore:
    """The translations of one system on one test set, kept on disk between runs."""

    def __init__(self, root: Path, system: System, testset: TestSet):
        folder = root / "translations" / system.spec.name
        stem = f"{testset.name}.{testset.pair}"
        self.done = folder / f"{stem}.txt"
        self.partial = folder / f"{stem}.partial.txt"
        self.note = folder / f"{stem}.json"
        digest = hashlib.sha256("\n".join(testset.sources).encode("utf-8")).hexdigest()
        self.identity = {
            "system": system.identity(testset.source_lang, testset.target_lang),
            "sources_sha256": digest,
            "sentences": len(testset.sources),
        }

    def _matches(self) -> bool:
        if not self.note.is_file():
            return False
        try:
            note = json.loads(self.note.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return False  # gone or unreadable: translated again
        return all(note.get(k) == v for k, v in self.identity.items())

    def _write_note(self, seconds: float | None) -> None:
        # Written whole, then renamed over the old note: another run reading it never sees half a file.
        written = self.note.with_name(f"{self.note.name}.{os.getpid()}.tmp")
        written.write_text(json.dumps({**self.identity, "seconds": seconds}, ensure_ascii=False), encoding="utf-8")
        written.replace(self.note)

    def finished(self) -> tuple[list[str], float | None] | None:
        """The kept translations and the seconds they took, when this system already translated these sources."""
        if self._matches() and self.done.is_file():
            lines = self.done.read_text(encoding="utf-8").splitlines()
            if len(lines) == self.identity["sentences"]:
                return lines, json.loads(self.note.read_text(encoding="utf-8")).get("seconds")
        return None

    def resume(self) -> list[str]:
        """Translations a failed earlier run finished (only for the same system and sources)."""
        if self._matches() and self.partial.is_file():
            return self.partial.read_text(encoding="utf-8").splitlines()
        return []

    def start(self, resumed: int) -> None:
        self.done.parent.mkdir(parents=True, exist_ok=True)
        self._write_note(None)
        if not resumed:
            self.partial.write_text("", encoding="utf-8")

    def append(self, lines: Sequence[str]) -> None:
        with self.partial.open("a", encoding="utf-8") as out:
            out.writelines(line + "\n" for line in lines)

    def finish(self, seconds: float) -> None:
        self.partial.replace(self.done)
        self._write_note(round(seconds, 2))


def _one_line(text: str) -> str:
    # Scoring and the kept files have one line per sentence; an endpoint may answer with line breaks.
    return " ".join(text.splitlines())


def hypotheses_for(system: System, testset: TestSet, options: QualityOptions) -> tuple[list[str], float | None, bool]:
    """(translations, seconds spent translating or None, whether kept translations were reused).

    Raises:
        SystemFailed: the system failed; what it finished is kept for the next run.
        HypothesisFileError: a file system's outputs do not fit the test set.
    """
    existing = system.existing_outputs(testset)
    if existing is not None:
        return existing, None, True
    store = TranslationStore(options.output, system, testset)
    finished = store.finished()
    if finished is not None:
        return finished[0], finished[1], True
    kept = store.resume()
    store.start(len(kept))
    sources = list(testset.sources)
    translated = list(kept)
    progress = _progress(len(sources), len(kept), f"{system.spec.name} {testset.key}", options.progress)
    start = time.perf_counter()
    try:
        for i in range(len(kept), len(sources), system.batch_size):
            batch = sources[i : i + system.batch_size]
            lines = [_one_line(t) for t in system.translate(batch, testset.source_lang, testset.target_lang)]
            store.append(lines)
            translated += lines
            progress(len(batch))
    except SystemFailed as exc:
        raise SystemFailed(
            f"{exc}; {len(translated)} of {len(sources)} translations of {testset.key} are kept in "
            f"{store.partial} and a rerun resumes after them"
        ) from exc
    seconds = time.perf_counter() - start
    store.finish(seconds)
    return translated, seconds, False


def _progress(total: int, initial: int, label: str, enabled: bool) -> Callable[[int], None]:
    try:
        from tqdm import tqdm
    except ModuleNotFoundError as exc:
        raise MissingDependency("tqdm", "bench", "progress bars of kakehashi bench") from exc

    # disable=None: a bar on a terminal, silence in logs and CI.
    bar = tqdm(total=total, initial=initial, desc=label, unit="sent", disable=None if enabled else True, leave=False)

    def advance(count: int) -> None:
        bar.update(count)
        if bar.n >= total:
            bar.close()

    return advance


def run_quality(systems: Sequence[System], testsets: Sequence[TestSet], options: QualityOptions) -> QualityReport:
    """Translate (or reuse) and score every test set with every system; paired bootstrap against the first.

    Raises:
        SystemFailed, HypothesisFileError, InvalidRequest: see :func:`hypotheses_for` and :func:`score_corpus`.
    """
    results: list[SystemScore] = []
    significance: dict[str, dict[str, Any]] = {}
    for testset in testsets:
        outputs: dict[str, list[str]] = {}
        rows: list[SystemScore] = []
        for system in systems:
            hypotheses, seconds, reused = hypotheses_for(system, testset, options)
            outputs[system.spec.name] = hypotheses
            score = score_corpus(hypotheses, testset.references, testset.target_lang, options.tokenize)
            rows.append(
                SystemScore(system.spec.name, testset.key, testset.pair, len(hypotheses), score, seconds, reused)
            )
        if len(systems) > 1:
            paired = paired_bootstrap(
                outputs, testset.references, testset.target_lang, options.tokenize, options.resamples, options.alpha
            )
            significance[testset.key] = paired.to_json()
            rows = [replace(row, comparison=paired.systems[row.system] if i else None) for i, row in enumerate(rows)]
        results += rows
    return QualityReport(
        systems=[system.describe() for system in systems],
        testsets=[
            {
                "key": t.key,
                "name": t.name,
                "pair": t.pair,
                "sentences": len(t.sources),
                "of": t.total,
                "license": t.license,
                "files": list(t.files),
            }
            for t in testsets
        ],
        results=results,
        significance=significance,
        settings={"tokenize": options.tokenize, "resamples": options.resamples, "alpha": options.alpha},
    )
