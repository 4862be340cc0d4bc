"""Segment-level translation cache: Redis when configured, an in-process LRU otherwise.

Keys and values are :mod:`mt._segment_store`'s (hashes of everything that decides a translation; JSON, never
pickle). If Redis fails, requests carry on uncached, the
failure is logged once, and the cache reconnects by itself when Redis answers again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from mt import SegmentResult
from mt._segment_store import SCHEMA_VERSION, decode_result, encode_result

log = logging.getLogger("kakehashi.cache")


class TranslationCache(Protocol):
    kind: str

    @property
    def down(self) -> bool:
        """True while the cache is known to be unreachable (then requests are served uncached, and whole
        responses kept in front of it are not served either: an outage looks the same through every path)."""
        ...

    def get_many(self, keys: Sequence[str]) -> list[SegmentResult | None]: ...

    def set_many(self, items: Sequence[tuple[str, SegmentResult]]) -> None: ...

    def healthy(self) -> bool: ...


class NoCache:
    kind = "none"
    down = False

    def get_many(self, keys: Sequence[str]) -> list[SegmentResult | None]:
        return [None] * len(keys)

    def set_many(self, items: Sequence[tuple[str, SegmentResult]]) -> None:
        return None

    def healthy(self) -> bool:
        return True


class MemoryCache:
    """A thread-safe LRU of encoded results (kept as JSON so both caches behave the same)."""

    kind = "memory"
    down = False

    def __init__(self, size: int):
        self.size = size
        self._items: OrderedDict[str, str] = OrderedDict()
        self._lock = threading.Lock()

    def get_many(self, keys: Sequence[str]) -> list[SegmentResult | None]:
        out: list[SegmentResult | None] = []
        with self._lock:
            for key in keys:
                raw = self._items.get(key)
                if raw is not None:
                    self._items.move_to_end(key)
                out.append(decode_result(raw) if raw is not None else None)
        return out

    def set_many(self, items: Sequence[tuple[str, SegmentResult]]) -> None:
        with self._lock:
            for key, result in items:
                self._items[key] = encode_result(result)
                self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def healthy(self) -> bool:
        return True


class RedisCache:
    """Redis-backed cache shared by every server process; degrades to misses while Redis is down."""

    kind = "redis"

    def __init__(self, url: str, ttl_s: int, retry_after_s: float = 1.0):
        import redis

        self._redis_errors = (redis.RedisError, OSError)
        self.client = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5, health_check_interval=5)
        self.url = url
        self.ttl_s = ttl_s
        self.retry_after_s = retry_after_s
        self._down_since: float | None = None
        self._next_try = 0.0
        self._lock = threading.Lock()

    @property
    def down(self) -> bool:
        return self._down_since is not None

    def _available(self) -> bool:
        with self._lock:
            return self._down_since is None or time.monotonic() >= self._next_try

    def _failed(self, exc: Exception) -> None:
        with self._lock:
            if self._down_since is None:
                log.warning("Redis at %s failed (%s); serving uncached until it is back", self.url, exc)
                self._down_since = time.monotonic()
            self._next_try = time.monotonic() + self.retry_after_s

    def _succeeded(self) -> None:
        with self._lock:
            if self._down_since is not None:
                log.warning(
                    "Redis at %s is back after %.1f s; caching again", self.url, time.monotonic() - self._down_since
                )
                self._down_since = None

    def get_many(self, keys: Sequence[str]) -> list[SegmentResult | None]:
        if not keys or not self._available():
            return [None] * len(keys)
        try:
            raw = self.client.mget(list(keys))
        except self._redis_errors as exc:
            self._failed(exc)
            return [None] * len(keys)
        self._succeeded()
        return [decode_result(r) if r is not None else None for r in raw]

    def set_many(self, items: Sequence[tuple[str, SegmentResult]]) -> None:
        if not items or not self._available():
            return
        try:
            pipe = self.client.pipeline(transaction=False)
            for key, result in items:
                pipe.set(key, encode_result(result), ex=self.ttl_s or None)
            pipe.execute()
        except self._redis_errors as exc:
            self._failed(exc)
            return
        self._succeeded()

    def healthy(self) -> bool:
        try:
            self.client.ping()
        except self._redis_errors as exc:
            self._failed(exc)
            return False
        self._succeeded()
        return True


def make_cache(redis_url: str, ttl_s: int, size: int) -> TranslationCache:
    if redis_url == "none":
        return NoCache()
    if redis_url:
        return RedisCache(redis_url, ttl_s)
    return MemoryCache(size)


@dataclass(frozen=True)
class CachedResponse:
    """A whole response body, with what serving it again counts (characters, tokens, cached sentences)."""

    body: bytes
    characters: int
    source_tokens: int
    target_tokens: int
    sentences: int
    stored: float = field(default_factory=time.monotonic)


class ResponseCache:
    """Whole responses to repeated requests, in this process: served on the event loop without a thread, the
    pipeline or a Redis round trip. It sits in front of the segment cache and is filled only from what that
    cache may hold (no sampling), keyed like it: a hash of canonical JSON of everything that decides the answer.
    """

    # Bounded by bytes as well as entries: one response may be hundreds of kilobytes (50,000 characters).
    MAX_BYTES = 64 * 1024 * 1024
    MAX_BODY_BYTES = 256 * 1024

    def __init__(self, size: int, ttl_s: float, max_bytes: int = MAX_BYTES):
        self.size = size
        self.ttl_s = ttl_s
        self.max_bytes = max_bytes
        self.bytes = 0
        self._items: OrderedDict[str, CachedResponse] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def key(parts: dict[str, Any]) -> str:
        canonical = json.dumps(
            {"v": SCHEMA_VERSION, **parts}, sort_keys=True, ensure_ascii=False, separators=(",", ":")
        )
        return "response:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()

    def get(self, key: str) -> CachedResponse | None:
        with self._lock:
            found = self._items.get(key)
            if found is None:
                return None
            if self.ttl_s and time.monotonic() - found.stored > self.ttl_s:
                del self._items[key]
                self.bytes -= len(found.body)
                return None
            self._items.move_to_end(key)
            return found

    def put(self, key: str, response: CachedResponse) -> None:
        if len(response.body) > min(self.MAX_BODY_BYTES, self.max_bytes):
            return
        with self._lock:
            replaced = self._items.pop(key, None)
            if replaced is not None:
                self.bytes -= len(replaced.body)
            self._items[key] = response
            self.bytes += len(response.body)
            while len(self._items) > self.size or self.bytes > self.max_bytes:
                _, evicted = self._items.popitem(last=False)
                self.bytes -= len(evicted.body)

    def __len__(self) -> int:
        return len(self._items)
