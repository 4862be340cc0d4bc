"""The REST service's :class:`~mt.Translator`: a CTranslate2 translator wrapped in the segment cache and the
cross-request micro-batcher.

The service hands :class:`~mt.Kakehashi` a loader that returns these, so the pipeline calls down only:
pipeline → :class:`CachedBatchedTranslator` → (cache, micro-batcher) → CTranslate2 translator.
"""

from __future__ import annotations

import concurrent.futures
import time
from collections.abc import Iterator, Sequence

from mt import Language, SegmentResult, TranslationOptions, Translator
from mt._segment_store import segment_key
from serve._batcher import MicroBatcher
from serve._cache import TranslationCache
from serve._errors import RequestTimedOut
from serve._metrics import Metrics


class CachedBatchedTranslator:
    """Serves sentences from the cache; sends the rest, merged with other requests' sentences, to ``batcher``.

    Args:
        translator: The engine translator the batcher runs.
        batcher: The micro-batcher over ``translator`` (one per loaded model directory).
        cache: The segment cache shared by every model.
        fingerprint: :func:`mt._segment_store.weights_fingerprint` of the model directory, part of every cache key.
        metrics: Cache hits and misses, queue depth.
        timeout_s: The request timeout the deadlines were computed from (for the error message).
    """

    def __init__(
        self,
        translator: Translator,
        batcher: MicroBatcher,
        cache: TranslationCache,
        fingerprint: str,
        metrics: Metrics,
        timeout_s: float,
    ):
        self.manifest = translator.manifest
        self.translator = translator
        self.batcher = batcher
        self.cache = cache
        self.fingerprint = fingerprint
        self.metrics = metrics
        self.timeout_s = timeout_s

    def count_tokens(self, text: str, source: Language | None = None, target: Language | None = None) -> int:
        return self.translator.count_tokens(text, source, target)

    def _keys(
        self, sentences: Sequence[str], source: Language, target: Language, options: TranslationOptions
    ) -> list[str]:
        name, settings = self.manifest.name, options.cache_key()
        return [segment_key(name, self.fingerprint, source.code, target.code, settings, s) for s in sentences]

    def _lookup(self, keys: list[str]) -> list[SegmentResult | None]:
        found = self.cache.get_many(keys)
        hits = sum(r is not None for r in found)
        self.metrics.cache.labels("hit").inc(hits)
        self.metrics.cache.labels("miss").inc(len(found) - hits)
        return found

    def translate_segments(
        self,
        segments: Sequence[str],
        source: Language,
        target: Language,
        options: TranslationOptions,
        deadline: float | None = None,
    ) -> list[SegmentResult]:
        """Cached sentences from the cache, the others through the micro-batcher.

        Raises:
            Overloaded: the batcher's queue is full.
            RequestTimedOut: ``deadline`` passed while the sentences waited or ran.
        """
        keys = self._keys(segments, source, target, options)
        found = self._lookup(keys)
        missing = [i for i, r in enumerate(found) if r is None]
        if missing:
            self.metrics.queue_depth.labels(self.manifest.name).set(self.batcher.depth)
            future = self.batcher.submit([segments[i] for i in missing], source, target, options)
            try:
                computed = future.result(timeout=None if deadline is None else max(0.0, deadline - time.monotonic()))
            except concurrent.futures.TimeoutError:
                # A cancelled item is dropped by the batcher unless its batch already runs.
                future.cancel()
                raise RequestTimedOut(self.timeout_s) from None
            # Sampled outputs are random by request; caching them would freeze one draw for everyone.
            if not options.sampling:
                self.cache.set_many([(keys[i], r) for i, r in zip(missing, computed) if r.hypotheses[0].text])
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
        """A cached sentence in one piece; otherwise the engine's stream, holding a place in the queue's bound.

        Streamed outputs are not cached: they carry no score or token counts to serve later requests with.

        Raises:
            Overloaded: the batcher's queue is full.
            RequestTimedOut: ``deadline`` passed while the sentence streamed.
        """
        if not options.sampling:
            cached = self._lookup(self._keys([sentence], source, target, options))[0]
            if cached is not None:
                yield cached.text
                return
        with self.batcher.streaming():
            self.metrics.queue_depth.labels(self.manifest.name).set(self.batcher.depth)
            for delta in self.translator.stream_segment(sentence, source, target, options, deadline):
                if deadline is not None and time.monotonic() > deadline:
                    raise RequestTimedOut(self.timeout_s)
                yield delta
