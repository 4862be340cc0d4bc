"""Cross-request micro-batching.

Sentences from concurrent requests that go to the same model, language pair and decoding options are merged
into one CTranslate2 call. A gathering thread per model waits for a free replica of the model, takes the first
waiting item, gathers more for at most ``max_wait_ms`` or until ``max_batch_tokens`` source tokens are collected,
and hands the batch to that replica: as many batches run at once as the model has replicas, and while all are
busy the queue grows into the next, larger batches. The queue is
bounded: when it is full, :class:`Overloaded` is raised at once (the service answers 429 with Retry-After)
instead of letting memory grow. Streamed sentences run on their caller's thread but hold a place in the same
bound while they stream.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from mt import Language, SegmentResult, TranslationOptions, Translator
from serve._errors import Overloaded

log = logging.getLogger("kakehashi.batcher")


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
    """Merges the sentences of concurrent requests for one model into CTranslate2 batches, on threads of its own.

    ``replicas``: how many batches run at once (the model's CTranslate2 replicas; more would only queue inside it).
    """

    def __init__(
        self,
        translator: Translator,
        max_wait_ms: float,
        max_batch_tokens: int,
        max_queue: int,
        observe: BatchObserver | None = None,
        replicas: int = 1,
    ):
        if replicas < 1:
            raise ValueError(f"replicas must be ≥ 1, not {replicas}")
        self.translator = translator
        self.max_wait_s = max_wait_ms / 1000
        self.max_batch_tokens = max_batch_tokens
        self.max_queue = max_queue
        self.replicas = replicas
        self._queue: queue.Queue[_Item | None] = queue.Queue(maxsize=max_queue)
        self._streams = 0
        self._lock = threading.Lock()
        self._observe = observe
        self._free = threading.Semaphore(replicas)
        self._runners = ThreadPoolExecutor(replicas, thread_name_prefix="kakehashi-batch")
        self._thread = threading.Thread(target=self._run, name="kakehashi-batcher", daemon=True)
        self._thread.start()

    @property
    def depth(self) -> int:
        """Requests waiting for a batch, and sentences streaming."""
        return self._queue.qsize() + self._streams

    def submit(
        self, sentences: Sequence[str], source: Language, target: Language, options: TranslationOptions
    ) -> Future[list[SegmentResult]]:
        """Queue sentences for the next batch of their pair and options; cancel the future to give up waiting.

        Raises:
            Overloaded: the queue (with the sentences streaming) is full.
        """
        tokens = sum(self.translator.count_tokens(s, source, target) for s in sentences)
        item = _Item(list(sentences), source, target, options, tokens)
        with self._lock:
            if self.depth >= self.max_queue:
                raise Overloaded()
            try:
                self._queue.put_nowait(item)
            except queue.Full:
                raise Overloaded() from None
        return item.future

    @contextlib.contextmanager
    def streaming(self) -> Iterator[None]:
        """Hold a place in the queue's bound while a sentence streams.

        Raises:
            Overloaded: the queue (with the sentences streaming) is full.
        """
        with self._lock:
            if self.depth >= self.max_queue:
                raise Overloaded()
            self._streams += 1
        try:
            yield
        finally:
            with self._lock:
                self._streams -= 1

    def close(self) -> None:
        """Finish the batches already taken, then stop (items still queued are failed, not left waiting)."""
        self._queue.put(None)
        self._thread.join(timeout=30)
        self._runners.shutdown(wait=True)

    def _run(self) -> None:
        pending: list[_Item] = []
        while True:
            # Gather only once a replica is free: while all are busy, waiting items grow the next batch.
            self._free.acquire()
            first = pending.pop(0) if pending else self._queue.get()
            if first is None:
                self._free.release()
                self._fail_waiting(pending)
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
                try:
                    # Past the wait, items already queued still join (they cost no waiting).
                    waiting = self._queue.get(timeout=timeout) if timeout > 0 else self._queue.get_nowait()
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
            self._runners.submit(self._execute_on_replica, batch, tokens)

    def _fail_waiting(self, pending: list[_Item]) -> None:
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is not None:
                pending.append(item)
        for item in pending:
            if item.future.set_running_or_notify_cancel():
                item.future.set_exception(Overloaded())

    def _execute_on_replica(self, batch: list[_Item], tokens: int) -> None:
        try:
            self._execute(batch, tokens)
        finally:
            self._free.release()

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
