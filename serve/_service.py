"""The service logic shared by every API flavour: limits, cache, micro-batching, translation, readiness."""

from __future__ import annotations

import concurrent.futures
import logging
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mt import (
    InputTooLarge,
    Kakehashi,
    KakehashiError,
    Language,
    RegistryEntry,
    SegmentResult,
    StreamEvent,
    Translation,
    TranslationOptions,
    Translator,
)
from serve._access import AccessControl, load_keys
from serve._batcher import MicroBatcher
from serve._cache import RedisCache, TranslationCache, cache_key, make_cache
from serve._metrics import Metrics
from serve._settings import ServeSettings

log = logging.getLogger("kakehashi.service")


class RequestTimedOut(KakehashiError):
    def __init__(self, seconds: float):
        super().__init__(f"translation did not finish within the request timeout of {seconds:g} s")


@dataclass(frozen=True)
class Usage:
    characters: int
    limit: int


def _fingerprint(entry: RegistryEntry) -> str:
    weights = entry.path / "model.bin"
    stat = weights.stat() if weights.exists() else None
    stamp = f"{stat.st_size}-{stat.st_mtime_ns}" if stat else "missing"
    return f"{entry.manifest.revision or ''}:{stamp}"


class TranslationService:
    def __init__(self, settings: ServeSettings, kakehashi: Kakehashi | None = None):
        self.settings = settings
        self.kakehashi = kakehashi or Kakehashi(settings.engine.load_registry(), settings.engine.runtime())
        self.metrics = Metrics()
        self.cache: TranslationCache = make_cache(settings.redis_url, settings.cache_ttl_s, settings.cache_size)
        keys = load_keys(Path(settings.api_keys_file)) if settings.api_keys_file else []
        redis_client = self.cache.client if isinstance(self.cache, RedisCache) else None
        self.access = AccessControl(keys, settings.require_api_key, settings.rate_limit_per_minute, redis_client)
        self._batchers: dict[str, MicroBatcher] = {}
        self._fingerprints: dict[str, str] = {}
        self._lock = threading.Lock()
        self.loaded = False
        self.characters = 0

    # -- lifecycle

    def start(self) -> None:
        """Load every registered model and warm up the language detector (runs in the lifespan)."""
        for entry in self.kakehashi.registry.entries:
            self._batcher(entry, self.kakehashi.translator(entry))
        self.kakehashi.detector  # noqa: B018 - loads the language identification model now, not on first use
        self.loaded = True

    def stop(self) -> None:
        for batcher in self._batchers.values():
            batcher.close()

    def _batcher(self, entry: RegistryEntry, translator: Translator) -> MicroBatcher:
        with self._lock:
            batcher = self._batchers.get(entry.name)
            if batcher is None:
                batcher = MicroBatcher(
                    translator,
                    self.settings.batch_wait_ms,
                    self.settings.max_batch_tokens,
                    self.settings.max_queue,
                    self.metrics.observe_batch,
                )
                self._batchers[entry.name] = batcher
                self._fingerprints[entry.name] = _fingerprint(entry)
            return batcher

    def readiness(self) -> dict[str, Any]:
        cache_ok = self.cache.healthy()
        return {
            "ready": self.loaded and cache_ok,
            "models_loaded": self.loaded,
            "models": self.kakehashi.registry.names(),
            "cache": {"kind": self.cache.kind, "reachable": cache_ok},
        }

    # -- limits

    def check_limits(self, texts: Sequence[str]) -> None:
        s = self.settings
        if len(texts) > s.max_texts:
            raise InputTooLarge(f"{len(texts)} texts in one request; at most {s.max_texts} are accepted")
        total = 0
        for index, text in enumerate(texts):
            if len(text) > s.max_chars_per_text:
                raise InputTooLarge(
                    f"text #{index + 1} (of {len(texts)}) has {len(text)} characters; at most {s.max_chars_per_text} per text are accepted"
                )
            total += len(text)
        if total > s.max_chars_per_request:
            raise InputTooLarge(f"{total} characters in one request; at most {s.max_chars_per_request} are accepted")

    # -- translation (blocking: call from a worker thread)

    def translate(
        self,
        texts: Sequence[str],
        source: str,
        target: str,
        model: str | None = None,
        options: TranslationOptions | None = None,
    ) -> list[Translation]:
        self.check_limits(texts)
        options = options or TranslationOptions()
        deadline = time.monotonic() + self.settings.request_timeout_s
        results = self.kakehashi.translate(
            texts,
            source,
            target,
            model=model,
            options=options,
            runner=lambda entry, translator, sentences, src, tgt, opts: self._run_cached(
                entry, translator, sentences, src, tgt, opts, deadline
            ),
        )
        chars = sum(len(t) for t in texts)
        self.characters += chars
        self.metrics.characters.inc(chars)
        for r in results:
            self.metrics.tokens.labels("source").inc(r.source_tokens)
            self.metrics.tokens.labels("target").inc(r.target_tokens)
        return results

    def _run_cached(
        self,
        entry: RegistryEntry,
        translator: Translator,
        sentences: list[str],
        source: Language,
        target: Language,
        options: TranslationOptions,
        deadline: float,
    ) -> list[SegmentResult]:
        batcher = self._batcher(entry, translator)
        keys = [
            cache_key(entry.name, self._fingerprints[entry.name], source.code, target.code, options.cache_key(), s)
            for s in sentences
        ]
        found = self.cache.get_many(keys)
        hits = sum(r is not None for r in found)
        self.metrics.cache.labels("hit").inc(hits)
        self.metrics.cache.labels("miss").inc(len(found) - hits)
        missing = [i for i, r in enumerate(found) if r is None]
        if missing:
            self.metrics.queue_depth.labels(entry.name).set(batcher.depth)
            future = batcher.submit([sentences[i] for i in missing], source, target, options)
            try:
                computed = future.result(timeout=max(0.0, deadline - time.monotonic()))
            except concurrent.futures.TimeoutError:
                future.cancel()
                raise RequestTimedOut(self.settings.request_timeout_s) from None
            # Sampled outputs are random by request; caching them would freeze one draw for everyone.
            if not options.sampling:
                self.cache.set_many([(keys[i], r) for i, r in zip(missing, computed) if r.hypotheses[0].text])
            for i, result in zip(missing, computed):
                found[i] = result
        return [r for r in found if r is not None]

    def stream(
        self, texts: Sequence[str], source: str, target: str, model: str | None, options: TranslationOptions
    ) -> Iterator[tuple[int, StreamEvent]]:
        """Stream each text in turn (blocking iterator: consume it from a worker thread)."""
        for index, text in enumerate(texts):
            for event in self.kakehashi.stream(text, source, target, model=model, options=options):
                if event.translation is not None:
                    chars = len(text)
                    self.characters += chars
                    self.metrics.characters.inc(chars)
                yield index, event

    def usage(self) -> Usage:
        return Usage(self.characters, 0)
