"""The journal that makes ``kakehashi translate-file`` resumable: every sentence the engine translates is committed
to SQLite as soon as the engine returns it, so a run killed at any moment and started again translates only what
was never finished, and no sentence is translated twice.

It wraps the engine seam (a :class:`~mt.Translator`), as the REST service's cache does: the pipeline above it is
unchanged. Keys and stored results are the service cache's (:mod:`mt._segment_store`): another model, other
weights or other options never reuse a translation.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

from mt._engine import SegmentResult, TranslationOptions, Translator
from mt._languages import Language
from mt._segment_store import decode_result, encode_result, segment_key


class Journal:
    """Translated sentences in one SQLite file (WAL mode: a killed writer never corrupts it).

    Args:
        path: The database file (its folder is created).
    """

    def __init__(self, path: Path):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), timeout=30, check_same_thread=False)
        self._lock = threading.Lock()
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS segments (key TEXT PRIMARY KEY, result TEXT NOT NULL)")
        self._db.commit()
        self.hits = 0
        self.misses = 0

    def get_many(self, keys: Sequence[str]) -> list[SegmentResult | None]:
        found: dict[str, SegmentResult] = {}
        with self._lock:
            for start in range(0, len(keys), 500):
                batch = list(keys[start : start + 500])
                marks = ",".join("?" * len(batch))
                rows = self._db.execute(f"SELECT key, result FROM segments WHERE key IN ({marks})", batch)
                for key, value in rows:
                    stored = decode_result(value)
                    if stored is not None:  # unreadable: translated again and overwritten
                        found[key] = stored
        return [found.get(key) for key in keys]

    def put_many(self, items: Sequence[tuple[str, SegmentResult]]) -> None:
        with self._lock:
            self._db.executemany(
                "INSERT OR REPLACE INTO segments (key, result) VALUES (?, ?)",
                [(key, encode_result(result)) for key, result in items],
            )
            self._db.commit()

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM segments").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()


class JournalTranslator:
    """A :class:`~mt.Translator` that answers from the journal and commits each engine result at once."""

    def __init__(self, translator: Translator, journal: Journal, fingerprint: str):
        self.manifest = translator.manifest
        self.translator = translator
        self.journal = journal
        self.fingerprint = fingerprint

    def count_tokens(self, text: str, source: Language | None = None, target: Language | None = None) -> int:
        return self.translator.count_tokens(text, source, target)

    def _key(self, sentence: str, source: Language, target: Language, options: TranslationOptions) -> str:
        return segment_key(
            self.manifest.name, self.fingerprint, source.code, target.code, options.cache_key(), sentence
        )

    def translate_segments(
        self,
        segments: Sequence[str],
        source: Language,
        target: Language,
        options: TranslationOptions,
        deadline: float | None = None,
    ) -> list[SegmentResult]:
        keys = [self._key(s, source, target, options) for s in segments]
        found = self.journal.get_many(keys)
        missing = [i for i, r in enumerate(found) if r is None]
        self.journal.hits += len(segments) - len(missing)
        self.journal.misses += len(missing)
        if missing:
            computed = self.translator.translate_segments(
                [segments[i] for i in missing], source, target, options, deadline
            )
            self.journal.put_many([(keys[i], r) for i, r in zip(missing, computed)])
            for i, result in zip(missing, computed):
                found[i] = result
        return [r for r in found if r is not None]

    def stream_segment(
        self,
        sentence: str,
        source: Language,
        target: Language,
        options: TranslationOptions,
        deadline: float | None = None,
    ) -> Iterator[str]:
        return self.translator.stream_segment(sentence, source, target, options, deadline)
