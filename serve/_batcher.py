"""Cross-request micro-batching.

Sentences from concurrent requests that go to the same model, language pair and decoding options are merged
into one CTranslate2 call. A worker thread per model takes the first waiting item, gathers more for at most
``max_wait_ms`` or until ``max_batch_tokens`` source tokens are collected, and runs the batch. The queue is
bounded: when it is full, :class:`Overloaded` is raised at once (the service answers 429 with Retry-After)
instead of letting memory grow.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from mt import KakehashiError, Language, SegmentResult, TranslationOptions, Translator

log = logging.getLogger("kakehashi.batcher")


class Overloaded(KakehashiError):
    """The translation queue is full; retry after a moment."""

    def __init__(self, retry_after_s: int = 1):
        self.retry_after_s = retry_after_s
        super().__init__(f"the server is busy (translation queue full); retry after {retry_after_s} s")


@dataclass
class _Item:
    sentences: list[str]
    source: Language
    target: Language
    options: TranslationOptions
    tokens: int
    future: Future[list[SegmentResult]] = field(default_factory=Future)
    enqueued: float = field(default_factory=time.monotonic)

    def group(self) -> tuple[Any, ...]:
        return (self.source.code, self.target.code, tuple(sorted(self.options.cache_key().items())))


BatchObserver = Callable[[int, int, float], None]  # (sentences, tokens, queue wait seconds)


class MicroBatcher:
    def __init__(
        self,
        translator: Translator,
        max_wait_ms: float,
        max_batch_tokens: int,
        max_queue: int,
        observe: BatchObserver | None = None,
    ):
        self.translator = translator
        self.max_wait_s = max_wait_ms / 1000
        self.max_batch_tokens = max_batch_tokens
        self._queue: queue.Queue[_Item | None] = queue.Queue(maxsize=max_queue)
        self._observe = observe
        self._thread = threading.Thread(target=self._run, name="kakehashi-batcher", daemon=True)
        self._thread.start()

    @property
    def depth(self) -> int:
        return self._queue.qsize()

    def submit(
        self, sentences: Sequence[str], source: Language, target: Language, options: TranslationOptions
    ) -> Future[list[SegmentResult]]:
        tokens = sum(self.translator.count_tokens(s) for s in sentences)
        item = _Item(list(sentences), source, target, options, tokens)
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            raise Overloaded() from None
        return item.future

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=5)

    def _run(self) -> None:
        pending: list[_Item] = []
        while True:
            first = pending.pop(0) if pending else self._queue.get()
            if first is None:
                return
            batch, tokens = [first], first.tokens
            deadline = time.monotonic() + self.max_wait_s
            key = first.group()
            rest: list[_Item] = []
            for item in pending:
                if item.group() == key and tokens + item.tokens <= self.max_batch_tokens:
                    batch.append(item)
                    tokens += item.tokens
                else:
                    rest.append(item)
            pending = rest
            while tokens < self.max_batch_tokens:
                timeout = deadline - time.monotonic()
                if timeout <= 0:
                    break
                try:
                    waiting = self._queue.get(timeout=timeout)
                except queue.Empty:
                    break
                if waiting is None:
                    self._queue.put(None)
                    break
                if waiting.group() == key and tokens + waiting.tokens <= self.max_batch_tokens:
                    batch.append(waiting)
                    tokens += waiting.tokens
                else:
                    pending.append(waiting)
            self._execute(batch, tokens)

    def _execute(self, batch: list[_Item], tokens: int) -> None:
        # Requests that gave up (timed out) are dropped; the rest can no longer be cancelled.
        batch = [item for item in batch if item.future.set_running_or_notify_cancel()]
        if not batch:
            return
        sentences = [s for item in batch for s in item.sentences]
        first = batch[0]
        started = time.monotonic()
        try:
            results = self.translator.translate_segments(sentences, first.source, first.target, first.options)
        except Exception as exc:  # noqa: BLE001 - every waiting request must learn of the failure
            log.exception("batch of %d sentences failed", len(sentences))
            for item in batch:
                item.future.set_exception(exc)
            return
        if self._observe is not None:
            self._observe(len(sentences), tokens, max(started - item.enqueued for item in batch))
        cursor = 0
        for item in batch:
            item.future.set_result(results[cursor : cursor + len(item.sentences)])
            cursor += len(item.sentences)
