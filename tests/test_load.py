"""Bounded load on the real server (tiny real models, loopback only): below capacity nothing fails and memory
stays flat; above it the server refuses at once with 429 and Retry-After instead of queueing without bound.
The long soak and the figures are ``benchmarks/load.py`` (reported in benchmarks/results/reliability.md)."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
from test_faults import TEXTS, served  # noqa: F401 - the fixture is used by name

from serve._schema import TranslationRequest

pytestmark = pytest.mark.integration


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for process {pid}")


async def _closed_loop(url: str, texts: list[str], clients: int, options: dict[str, Any]) -> Counter[str]:
    statuses: Counter[str] = Counter()
    pending = list(texts)
    async with httpx.AsyncClient(timeout=120) as http:

        async def client() -> None:
            while pending:
                text = pending.pop()
                try:
                    r = await http.post(
                        f"{url}/v1/translate",
                        json={"texts": [text], "source": "ja", "target": "en", "options": options},
                    )
                except httpx.HTTPError as exc:
                    statuses[type(exc).__name__] += 1
                    continue
                complete = r.status_code != 200 or len(r.json()["translations"]) == 1
                statuses[str(r.status_code) if complete else "incomplete"] += 1
                if r.status_code == 429 and "retry-after" not in r.headers:
                    statuses["429 without Retry-After"] += 1

        await asyncio.gather(*(client() for _ in range(clients)))
    return statuses


def test_below_capacity_nothing_fails_and_memory_stays_flat(served: tuple[Any, str]) -> None:  # noqa: F811
    process, url = served
    options = {"max_decoding_length": 8, "beam_size": 2}
    repeated = [f"{t}{n}" for t in TEXTS for n in range(8)]
    asyncio.run(_closed_loop(url, repeated * 2, 4, options))
    start = _rss_mb(process.pid)
    began = time.monotonic()
    statuses: Counter[str] = Counter()
    rounds = 0
    while time.monotonic() - began < 8 and rounds < 20:
        statuses += asyncio.run(_closed_loop(url, repeated * 3, 8, options))
        rounds += 1
    end = _rss_mb(process.pid)
    assert set(statuses) == {"200"} and statuses["200"] >= 3 * len(repeated)
    assert end - start < 20, f"RSS grew from {start:.0f} MB to {end:.0f} MB over {statuses['200']} requests"


def test_above_capacity_requests_are_refused_at_once_with_retry_after(start_server) -> None:  # type: ignore[no-untyped-def]
    # A queue bound above the thread pool's 40 threads: requests past the pool must count against it too,
    # not wait in the event loop where no bound sees them.
    server = start_server(max_queue=48, batch_wait_ms=20, request_timeout_s=120)
    slow = {"beam_size": 8, "max_decoding_length": 300}
    texts = [f"{t}{n}。" for n in range(12) for t in TEXTS][:120]
    began = time.monotonic()
    statuses = asyncio.run(_closed_loop(server.url, texts, 120, slow))
    elapsed = time.monotonic() - began
    assert statuses["429"] > 0, statuses
    assert set(statuses) <= {"200", "429"}, statuses
    assert statuses["200"] >= 40
    assert elapsed < 100


def test_model_work_has_threads_of_its_own_so_health_checks_and_refusals_answer_while_the_model_is_busy(
    tmp_path: Path,
) -> None:
    # A queue bound above the model threads. Translations used to hold the shared thread pool, where every
    # request's authorization and /readyz then waited behind them, unbounded and uncounted: an open-loop soak
    # above capacity got no 429, only minutes of latency (benchmarks/results/reliability.md).
    from concurrent.futures import ThreadPoolExecutor

    from starlette.testclient import TestClient

    from fakes import annotated_service
    from serve._service import MODEL_THREADS
    from serve.app import create_app

    bound = MODEL_THREADS + 8
    service, engine = annotated_service(tmp_path, max_queue=bound, document_worker="off")
    client = TestClient(create_app(service.settings, service))

    def body(text: str) -> dict[str, Any]:
        return {"texts": [text], "source": "ja", "target": "en"}

    engine.release.clear()
    with client, ThreadPoolExecutor(bound + 2) as pool:
        held = [pool.submit(client.post, "/v1/translate", json=body(f"猫{n}。")) for n in range(bound)]
        waited = time.monotonic()
        while service.admitted_count < bound:
            assert time.monotonic() - waited < 8, f"{service.admitted_count} of {bound} requests admitted"
            time.sleep(0.01)
        # Every model thread is taken and the queue is full; the model still holds its batch.
        ready = pool.submit(client.get, "/readyz").result(timeout=5)
        refused = pool.submit(client.post, "/v1/translate", json=body("犬。")).result(timeout=5)
        metrics = pool.submit(client.get, "/metrics").result(timeout=5).text
        engine.release.set()
        answered = [f.result(timeout=30) for f in held]
    assert ready.status_code == 200
    assert refused.status_code == 429 and "retry-after" in refused.headers, refused.text
    assert f"kakehashi_admitted_requests {float(bound)}" in metrics
    assert [r.status_code for r in answered] == [200] * bound
    assert service.admitted_count == 0


# -- the cache-hit fast path: whole answers kept per process, served without a thread or the pipeline


def _fast_path_client(tmp_path: Path) -> tuple[Any, Any, Any]:
    from starlette.testclient import TestClient

    from fakes import annotated_service
    from serve.app import create_app

    service, engine = annotated_service(tmp_path)
    return TestClient(create_app(service.settings, service)), service, engine


def test_a_repeated_request_is_answered_whole_without_the_pipeline(tmp_path: Path) -> None:
    client, service, engine = _fast_path_client(tmp_path)
    body = {"texts": ["猫です。犬です。"], "source": "ja", "target": "en", "options": {"beam_size": 2}}
    with client:
        first = client.post("/v1/translate", json=body)
        assert first.status_code == 200 and first.json()["translations"][0]["cached"] is False
        batches = len(engine.batches)

        def no_pipeline(*args: object, **kwargs: object) -> None:
            raise AssertionError("a repeated request went through the pipeline")

        service.translate = no_pipeline
        second = client.post("/v1/translate", json=body)
        metrics = client.get("/metrics").text
    assert second.status_code == 200 and second.headers["content-type"] == "application/json"
    row = second.json()["translations"][0]
    assert row == {**first.json()["translations"][0], "cached": True}
    assert len(engine.batches) == batches
    # Served like the pipeline would serve it: two sentences from a cache, both texts' characters counted.
    assert 'kakehashi_cache_total{result="hit"} 2.0' in metrics
    assert "kakehashi_characters_total 16.0" in metrics


def test_what_the_segment_cache_would_not_keep_is_never_kept_whole(tmp_path: Path) -> None:
    client, service, engine = _fast_path_client(tmp_path)
    plain = {"texts": ["猫です。"], "source": "ja", "target": "en"}
    sampled = {**plain, "options": {"sampling_topk": 5}}
    annotated = {**plain, "references": True}
    inline_glossary = {**plain, "glossary": {"猫": "Cat"}}
    with client:
        for body in (sampled, annotated, inline_glossary):
            for _ in range(2):
                assert client.post("/v1/translate", json=body).status_code == 200
        assert len(service.responses) == 0
        # Other options, another pair or another model's weights are another answer.
        client.post("/v1/translate", json=plain)
        base = TranslationRequest(("猫です。",), "en", source="ja")
        key = service.response_key(base, "native")
        assert key is not None and key != service.response_key(base, "deepl")
        assert key != service.response_key(TranslationRequest(("猫です。",), "ja", source="en"), "native")
        service._fingerprints = {name: value + "-replaced" for name, value in service._fingerprints.items()}
        assert key != service.response_key(base, "native")


def test_kept_responses_are_bounded_in_entries_bytes_and_age() -> None:
    from serve._cache import CachedResponse, ResponseCache

    def response(size: int) -> CachedResponse:
        return CachedResponse(b"x" * size, characters=1, source_tokens=1, target_tokens=1, sentences=1)

    cache = ResponseCache(size=3, ttl_s=0, max_bytes=1000)
    for n in range(5):
        cache.put(f"k{n}", response(100))
    assert len(cache) == 3 and cache.get("k0") is None and cache.get("k4") is not None
    cache.put("big", response(600))
    cache.put("bigger", response(600))
    assert cache.bytes <= 1000 and cache.get("big") is None and cache.get("bigger") is not None
    cache.put("too big", response(1001))
    assert cache.get("too big") is None
    aging = ResponseCache(size=3, ttl_s=0.05)
    aging.put("k", response(10))
    assert aging.get("k") is not None
    time.sleep(0.1)
    assert aging.get("k") is None and aging.bytes == 0
