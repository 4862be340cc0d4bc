"""The service logic shared by every API flavour: access, limits, translation (plain, markup, streamed),
languages, detection, readiness. Adapters parse their request format into these calls and format the results.

The service builds :class:`~mt.Kakehashi` with a loader that wraps each model's CTranslate2 translator in a
:class:`~serve._translator.CachedBatchedTranslator`, so a request goes down one way: adapter → service →
pipeline → cache and micro-batcher → engine.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from mt import (
    DetectedLanguage,
    InputTooLarge,
    InvalidRequest,
    Kakehashi,
    RuntimeOptions,
    StreamEvent,
    Translation,
    Translator,
    load_translator,
    parse_language,
)
from mt._annotate import Annotator
from serve._access import AccessControl, load_keys
from serve._batcher import MicroBatcher
from serve._cache import RedisCache, TranslationCache, make_cache
from serve._errors import QuotaExceeded
from serve._glossaries import GlossaryStore, make_glossary_store
from serve._markup import translatable_runs, translate_markup
from serve._metrics import Metrics
from serve._schema import LanguageInfo, TranslationRequest
from serve._settings import ServeSettings
from serve._translator import CachedBatchedTranslator, weights_fingerprint

log = logging.getLogger("kakehashi.service")

EngineLoader = Callable[[Path, RuntimeOptions], Translator]


class TranslationService:
    """Everything the routes of every API flavour do, over one pipeline.

    Args:
        settings: The server's settings.
        loader: Loads a model directory's engine translator (unit tests pass a fake; the default runs
            CTranslate2). The service wraps what it returns in its cache and micro-batcher.
    """

    def __init__(self, settings: ServeSettings, loader: EngineLoader = load_translator):
        self.settings = settings
        self.metrics = Metrics()
        self.cache: TranslationCache = make_cache(settings.redis_url, settings.cache_ttl_s, settings.cache_size)
        keys = load_keys(Path(settings.api_keys_file)) if settings.api_keys_file else []
        redis_client = self.cache.client if isinstance(self.cache, RedisCache) else None
        self.access = AccessControl(keys, settings.require_api_key, settings.rate_limit_per_minute, redis_client)
        # Glossaries live where the cache does: Redis (shared by replicas) when configured, else this process.
        self.glossaries: GlossaryStore = make_glossary_store(redis_client)
        self._engine_loader = loader
        self._batchers: list[MicroBatcher] = []
        # Requests name registered models only: a request must not make the server load any directory.
        self.kakehashi = Kakehashi(
            settings.engine.load_registry(), settings.engine.runtime(), loader=self._load, model_directories=False
        )
        # References and notes are added after translation, outside the cache and the batcher.
        self.annotator = Annotator(self.kakehashi.registry)
        self.loaded = False
        self.characters = 0

    # -- lifecycle

    def _load(self, directory: Path, runtime: RuntimeOptions) -> Translator:
        engine = self._engine_loader(directory, runtime)
        s = self.settings
        batcher = MicroBatcher(engine, s.batch_wait_ms, s.max_batch_tokens, s.max_queue, self.metrics.observe_batch)
        self._batchers.append(batcher)
        fingerprint = weights_fingerprint(directory, engine.manifest.revision)
        return CachedBatchedTranslator(engine, batcher, self.cache, fingerprint, self.metrics, s.request_timeout_s)

    def start(self) -> None:
        """Load every registered model and warm up the language detector (runs in the lifespan)."""
        self.kakehashi.load_all()
        self.kakehashi.detector  # noqa: B018 - loads the language identification model now, not on first use
        self.loaded = True

    def stop(self) -> None:
        for batcher in self._batchers:
            batcher.close()

    def models(self) -> list[dict[str, Any]]:
        """The installed models (the registry's description of each)."""
        return self.kakehashi.registry.describe()

    def readiness(self) -> dict[str, Any]:
        cache_ok = self.cache.healthy()
        return {
            "ready": self.loaded and cache_ok,
            "models_loaded": self.loaded,
            "models": self.kakehashi.registry.names(),
            "cache": {"kind": self.cache.kind, "reachable": cache_ok},
        }

    # -- access and limits

    def authorize(self, key: str | None, client: str) -> None:
        """Authenticate and count one request (blocking: Redis).

        Raises:
            Unauthorized, RateLimited.
        """
        self.access.check(key, client)

    def identify(self, key: str | None, client: str) -> str:
        """:meth:`authorize`, returning the identity (``key:NAME`` or ``ip:ADDRESS``) that owns glossaries."""
        return self.access.check(key, client)

    def check_limits(self, texts: Sequence[str]) -> None:
        """Raises:
        InputTooLarge: too many texts, a text too long, or too many characters in all."""
        s = self.settings
        if len(texts) > s.max_texts:
            raise InputTooLarge(f"{len(texts)} texts in one request; at most {s.max_texts} are accepted")
        total = 0
        for index, text in enumerate(texts):
            if len(text) > s.max_chars_per_text:
                raise InputTooLarge(
                    f"text #{index + 1} (of {len(texts)}) has {len(text)} characters; "
                    f"at most {s.max_chars_per_text} per text are accepted"
                )
            total += len(text)
        if total > s.max_chars_per_request:
            raise InputTooLarge(f"{total} characters in one request; at most {s.max_chars_per_request} are accepted")

    def _deadline(self) -> float:
        return time.monotonic() + self.settings.request_timeout_s

    def _count(self, characters: int, results: Sequence[Translation] = ()) -> None:
        self.characters += characters
        self.metrics.characters.inc(characters)
        for r in results:
            self.metrics.tokens.labels("source").inc(r.source_tokens)
            self.metrics.tokens.labels("target").inc(r.target_tokens)

    # -- translation (blocking: call from a worker thread)

    def translate(self, request: TranslationRequest, metered: bool = False) -> list[Translation]:
        """Translate every text of ``request`` (documents with ``markup``: their text between tags).

        ``metered``: count the characters against ``character_limit`` (DeepL's quota).

        Raises:
            InputTooLarge, QuotaExceeded, Overloaded, RequestTimedOut, and the pipeline's errors.
        """
        self.check_limits(request.texts)
        if metered:
            self.check_quota(request.characters)
        deadline = self._deadline()

        def run(texts: Sequence[str]) -> list[Translation]:
            return self.kakehashi.translate(
                texts,
                request.source,
                request.target,
                model=request.model,
                options=request.options,
                deadline=deadline,
                glossary=request.glossary,
            )

        results = self._translate_markup(request, run) if request.markup else run(request.texts)
        self._count(request.characters, results)
        return results

    def _translate_markup(
        self, request: TranslationRequest, run: Callable[[Sequence[str]], list[Translation]]
    ) -> list[Translation]:
        """Documents whose text runs are translated in one call; each document's translation carries its runs'
        language (the first run's, when they were detected one by one), models and token counts."""
        runs: list[Translation] = []

        def translate_runs(texts: list[str]) -> list[str]:
            translated = run(texts)
            runs.extend(translated)
            return [t.text for t in translated]

        documents = translate_markup(list(request.texts), translate_runs)
        fixed_source = "" if request.source == "auto" else parse_language(request.source).code
        target = parse_language(request.target).code
        out = []
        cursor = 0
        for original, document in zip(request.texts, documents):
            own = runs[cursor : cursor + len(translatable_runs(original)[1])]
            cursor += len(own)
            first = own[0] if own else Translation("", fixed_source, target, 0.0)
            out.append(
                dataclasses.replace(
                    first,
                    text=document,
                    score=sum(t.score for t in own) / len(own) if own else 0.0,
                    segments=(),
                    alternatives=(),
                    source_tokens=sum(t.source_tokens for t in own),
                    target_tokens=sum(t.target_tokens for t in own),
                    cached=bool(own) and all(t.cached for t in own),
                )
            )
        return out

    def stream(self, request: TranslationRequest) -> Iterator[tuple[int, StreamEvent]]:
        """Stream each text in turn, as ``(text index, event)`` (blocking iterator: consume it from a worker
        thread). Limits, timeout and queue bound are :meth:`translate`'s; cached sentences come from the cache.

        Raises:
            InputTooLarge (before the first event), Overloaded, RequestTimedOut, and the pipeline's errors.
        """
        self.check_limits(request.texts)
        if request.glossary is not None:
            raise InvalidRequest("glossaries are applied to whole sentences; send the request without 'stream'")
        deadline = self._deadline()
        for index, text in enumerate(request.texts):
            for event in self.kakehashi.stream(
                text, request.source, request.target, model=request.model, options=request.options, deadline=deadline
            ):
                if event.translation is not None:
                    self._count(len(text))
                yield index, event

    def annotate(
        self, translations: Sequence[Translation], references: bool, notes: bool, k: int = 3
    ) -> list[Translation]:
        """``translations`` with the requested references and cultural notes (blocking: call from a worker)."""
        return [self.annotator.annotate(t, references=references, notes=notes, k=k) for t in translations]

    def annotate_stream(
        self, events: Iterator[tuple[int, StreamEvent]], references: bool, notes: bool, k: int = 3
    ) -> Iterator[tuple[int, StreamEvent]]:
        """:meth:`stream`'s events with each final ``translation`` annotated; deltas pass unchanged."""
        for index, event in events:
            if event.translation is not None and (references or notes):
                annotated = self.annotator.annotate(event.translation, references=references, notes=notes, k=k)
                event = dataclasses.replace(event, translation=annotated)
            yield index, event

    # -- languages and detection

    def languages(self) -> list[LanguageInfo]:
        """Every source language with its reachable targets, by code."""
        return [
            LanguageInfo(code, parse_language(code).name, tuple(targets))
            for code, targets in sorted(self.kakehashi.languages().items())
        ]

    def detect(self, texts: Sequence[str]) -> list[list[DetectedLanguage]]:
        """Each text's candidate languages, most likely first (blocking).

        Raises:
            InputTooLarge.
        """
        self.check_limits(texts)
        return [self.kakehashi.detector.rank(text) for text in texts]

    def check_quota(self, characters: int) -> None:
        """Raises:
        QuotaExceeded: translating ``characters`` more would pass ``character_limit``."""
        limit = self.settings.character_limit
        if limit and self.characters + characters > limit:
            raise QuotaExceeded(f"character quota of {limit} reached")
