"""Prometheus metrics, in a registry of the app's own (no process-global state)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


class Metrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter("kakehashi_requests_total", "HTTP requests", ["route", "status"], registry=r)
        self.latency = Histogram(
            "kakehashi_request_seconds", "Request latency", ["route"], registry=r, buckets=LATENCY_BUCKETS
        )
        self.batch_sentences = Histogram(
            "kakehashi_batch_sentences", "Sentences per model batch", registry=r, buckets=BATCH_BUCKETS
        )
        self.batch_wait = Histogram(
            "kakehashi_batch_queue_seconds", "Time a sentence waited for its batch", registry=r, buckets=LATENCY_BUCKETS
        )
        self.queue_depth = Gauge("kakehashi_queue_depth", "Requests waiting for a batch", ["model"], registry=r)
        self.admitted = Gauge(
            "kakehashi_admitted_requests",
            "Translation requests admitted and not yet answered, per process (bounded by max_queue)",
            registry=r,
        )
        self.cache = Counter("kakehashi_cache_total", "Segment cache lookups", ["result"], registry=r)
        self.tokens = Counter("kakehashi_tokens_total", "Tokens translated", ["side"], registry=r)
        self.characters = Counter("kakehashi_characters_total", "Characters received for translation", registry=r)

    def observe_batch(self, sentences: int, tokens: int, waited_s: float) -> None:
        self.batch_sentences.observe(sentences)
        self.batch_wait.observe(waited_s)

    def render(self) -> bytes:
        return bytes(generate_latest(self.registry))
