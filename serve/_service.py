"""The service logic shared by every API flavour: access, limits, translation (plain, markup, streamed),
languages, detection, readiness. Adapters parse their request format into these calls and format the results.

The service builds :class:`~mt.Kakehashi` with a loader that wraps each model's CTranslate2 translator in a
:class:`~serve._translator.CachedBatchedTranslator`, so a request goes down one way: adapter → service →
pipeline → cache and micro-batcher → engine.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import anyio
import anyio.to_thread

from mt import (
    DetectedLanguage,
    InputTooLarge,
    Kakehashi,
    RuntimeOptions,
    StreamEvent,
    Translation,
    Translator,
    load_translator,
    parse_language,
)
from mt._annotate import Annotator
from mt._engine import available_cpus
from mt._segment_store import weights_fingerprint
from serve._access import AccessControl, load_keys
from serve._batcher import MicroBatcher
from serve._cache import CachedResponse, NoCache, RedisCache, ResponseCache, TranslationCache, make_cache
from serve._errors import Overloaded, QuotaExceeded
from serve._glossaries import GlossaryStore, make_glossary_store
from serve._markup import translate_documents
from serve._metrics import Metrics
from serve._schema import LanguageInfo, TranslationRequest
from serve._settings import ServeSettings
from serve._translator import CachedBatchedTranslator

log = logging.getLogger("kakehashi.service")
T = TypeVar("T")

# Worker threads for model work (translations, streams' next events) in each server process. They are not the
# shared pool's: authorization, Redis, glossaries and health checks never wait behind translations there, and a
# request waiting for one of these threads has passed admission, so the queue bound counts it.
MODEL_THREADS = 40

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
        # Repeated requests are answered from here on the event loop (ResponseCache says why).
        self.responses = ResponseCache(settings.cache_size, settings.cache_ttl_s)
        self._fingerprints: dict[str, str] = {}
        keys = load_keys(Path(settings.api_keys_file)) if settings.api_keys_file else []
        redis_client = self.cache.client if isinstance(self.cache, RedisCache) else None
        self.access = AccessControl(keys, settings.require_api_key, settings.rate_limit_per_minute, redis_client)
        # Only rate limits counted in Redis make authorising wait; otherwise it is cheap enough for the event loop.
        limited = settings.rate_limit_per_minute > 0 or any(k.rate_limit_per_minute for k in keys)
        self.authorization_blocks = redis_client is not None and limited
        # Glossaries live where the cache does: Redis (shared by replicas) when configured, else this process.
        self.glossaries: GlossaryStore = make_glossary_store(redis_client)
        self._engine_loader = loader
        self._batchers: list[MicroBatcher] = []
        # Requests name registered models only: a request must not make the server load any directory.
        # Worker processes share the CPUs: each lays its model replicas out over its own part of them.
        runtime = dataclasses.replace(
            settings.engine.runtime(), cpu_share=max(1, available_cpus() // max(1, settings.workers))
        )
        self.kakehashi = Kakehashi(settings.engine.load_registry(), runtime, loader=self._load, model_directories=False)
        # References and notes are added after translation, outside the cache and the batcher.
        self.annotator = Annotator(self.kakehashi.registry)
        self.loaded = False
        self._admitted = 0
        self._model_threads: Any = None
        self.characters = 0

    # -- lifecycle

    def _load(self, directory: Path, runtime: RuntimeOptions) -> Translator:
        engine = self._engine_loader(directory, runtime)
        s = self.settings
        # One batch at a time per CTranslate2 replica of the model (fakes and other engines: one).
        replicas = int(getattr(engine, "replicas", 1))
        batcher = MicroBatcher(
            engine, s.batch_wait_ms, s.max_batch_tokens, s.max_queue, self.metrics.observe_batch, replicas
        )
        self._batchers.append(batcher)
        fingerprint = weights_fingerprint(directory, engine.manifest)
        self._fingerprints[engine.manifest.name] = fingerprint
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

    # -- admission (on the event loop)

    async def admitted(self, function: Callable[..., T], *args: Any) -> T:
        """Run blocking translation work on a model thread, or refuse it at once (:class:`Overloaded`, 429 with
        Retry-After) when ``max_queue`` requests already wait for a model thread or the model: they would
        otherwise wait where no bound sees them, until clients time out."""
        if self._admitted >= self.settings.max_queue:
            raise Overloaded()
        self._admitted += 1
        self.metrics.admitted.set(self._admitted)
        try:
            return await self.on_model_thread(function, *args)
        finally:
            self._admitted -= 1
            self.metrics.admitted.set(self._admitted)

    @property
    def admitted_count(self) -> int:
        """Requests admitted and not yet answered (waiting for a model thread or the model, or translating)."""
        return self._admitted

    async def on_model_thread(self, function: Callable[..., T], *args: Any) -> T:
        """Run model work on this process's model threads (``MODEL_THREADS``), apart from the shared pool.

        Only :meth:`admitted` work and the later events of an admitted stream come here."""
        if self._model_threads is None:  # created on the event loop, at first use
            self._model_threads = anyio.CapacityLimiter(MODEL_THREADS)
        return await anyio.to_thread.run_sync(functools.partial(function, *args), limiter=self._model_threads)

    # -- the cache-hit fast path (on the event loop: no I/O)

    def response_key(self, request: TranslationRequest, flavour: str) -> str | None:
        """The key under which the answer to ``request`` (formatted by API ``flavour``) is kept whole, or None
        when it must not be: sampled, with a glossary, with caching off, or before the models are loaded."""
        if isinstance(self.cache, NoCache) or request.options.sampling or request.glossary is not None:
            return None
        if not self.loaded:
            return None
        return ResponseCache.key(
            {
                "flavour": flavour,
                # Every loaded model's weights: a request may route to any of them (pivots, auto source).
                "models": self._fingerprints,
                "model": request.model,
                "source": request.source,
                "target": request.target,
                "markup": request.markup,
                "options": request.options.cache_key(),
                "texts": list(request.texts),
            }
        )

    def cached_response(self, key: str | None) -> bytes | None:
        """The body kept under ``key`` (counted as served, like the pipeline counts it), or None."""
        found = self.responses.get(key) if key is not None and not self.cache.down else None
        if found is None:
            return None
        self.characters += found.characters
        self.metrics.characters.inc(found.characters)
        self.metrics.tokens.labels("source").inc(found.source_tokens)
        self.metrics.tokens.labels("target").inc(found.target_tokens)
        self.metrics.cache.labels("hit").inc(found.sentences)
        return found.body

    def remember_response(
        self, key: str | None, request: TranslationRequest, results: Sequence[Translation], body: bytes
    ) -> None:
        """Keep ``body``, the answer to ``request`` (whose :meth:`response_key` is ``key``) made of ``results``,
        to serve it again: its translations must say ``"cached": true``."""
        if key is None:
            return
        self.responses.put(
            key,
            CachedResponse(
                body,
                characters=request.characters,
                source_tokens=sum(r.source_tokens for r in results),
                target_tokens=sum(r.target_tokens for r in results),
                sentences=sum(len(r.segments) for r in results),
            ),
        )

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

        def run(texts: Sequence[str], source: str | None = None) -> list[Translation]:
            return self.kakehashi.translate(
                texts,
                source or request.source,
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
        self, request: TranslationRequest, run: Callable[[Sequence[str], str | None], list[Translation]]
    ) -> list[Translation]:
        """Documents (through the document registry) whose sentences are translated in one call per source
        language (with source auto, each document's is detected on its text without tags); each document's
        translation carries its language, models and token counts."""
        detect = (lambda text: self.kakehashi.detect(text).language) if request.source == "auto" else None
        documents = translate_documents(list(request.texts), request.markup or "html", run, detect)
        fixed_source = "" if request.source == "auto" else parse_language(request.source).code
        target = parse_language(request.target).code
        out = []
        for document, own in documents:
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
        deadline = self._deadline()
        for index, text in enumerate(request.texts):
            for event in self.kakehashi.stream(
                text,
                request.source,
                request.target,
                model=request.model,
                options=request.options,
                deadline=deadline,
                glossary=request.glossary,
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
