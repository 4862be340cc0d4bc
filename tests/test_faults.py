"""Faults injected under traffic, against the real app, tiny real models and a real Redis of the test's own:
Redis stopped and restarted, Redis slowed by a proxy that delays every packet, and the server stopped by SIGTERM
while requests and Server-Sent Event streams are open. What must hold: no request fails because of the cache,
every answered request is complete and right (nothing acknowledged is lost), readiness tells the truth.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import free_port

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parent.parent
FAST = {"max_decoding_length": 8, "beam_size": 2}
TEXTS = [f"{word}が好きです。" for word in ("猫", "犬", "鳥", "魚", "花", "山", "川", "海", "空", "星", "雨", "雪")]


def _translate(client: httpx.Client, url: str, text: str, *more: str) -> httpx.Response:
    body = {"texts": [text, *more], "source": "ja", "target": "en", "options": FAST}
    return client.post(f"{url}/v1/translate", json=body)


@dataclass
class Traffic:
    """Clients in threads sending requests in a loop until stopped, recording every outcome of the first text.

    ``unique``: each request carries a second text never sent before, so no request is answered whole from
    the process's memory and each one's first sentence is looked up in Redis (the path under test).
    """

    url: str
    clients: int = 4
    unique: bool = False
    outcomes: list[tuple[str, int, str, bool, float]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _client(self, number: int) -> None:
        with httpx.Client(timeout=30) as client:
            sent = number
            while not self._stop.is_set():
                text = TEXTS[sent % len(TEXTS)]
                sent += self.clients
                start = time.monotonic()
                try:
                    more = (f"{sent}番です。",) if self.unique else ()
                    r = _translate(client, self.url, text, *more)
                    row = r.json()["translations"][0] if r.status_code == 200 else {"text": r.text, "cached": False}
                    with self._lock:
                        self.outcomes.append(
                            (text, r.status_code, row["text"], row["cached"], time.monotonic() - start)
                        )
                except httpx.HTTPError as exc:
                    with self._lock:
                        self.errors.append(f"{type(exc).__name__}: {exc}")

    def __enter__(self) -> Traffic:
        self._threads = [threading.Thread(target=self._client, args=(n,), daemon=True) for n in range(self.clients)]
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(60)

    def count(self) -> int:
        with self._lock:
            return len(self.outcomes)

    def wait_for(self, more: int, timeout: float = 60) -> None:
        target = self.count() + more
        deadline = time.monotonic() + timeout
        while self.count() < target:
            assert time.monotonic() < deadline, f"traffic stalled: {self.count()} of {target} requests answered"
            time.sleep(0.05)


def _reference(url: str) -> dict[str, str]:
    with httpx.Client(timeout=60) as client:
        return {text: _translate(client, url, text).json()["translations"][0]["text"] for text in TEXTS}


def _check_all_right(traffic: Traffic, reference: dict[str, str]) -> None:
    statuses = Counter(status for _, status, _, _, _ in traffic.outcomes)
    cached = sum(cached for _, _, _, cached, _ in traffic.outcomes)
    # The figures of benchmarks/results/reliability.md (shown with pytest -s).
    print(f"\n{len(traffic.outcomes)} requests, statuses {dict(statuses)}, {cached} cached, errors {traffic.errors}")
    assert traffic.errors == []
    failed = [(text, status, body) for text, status, body, _, _ in traffic.outcomes if status != 200]
    assert failed == []
    wrong = [(text, body) for text, _, body, _, _ in traffic.outcomes if body != reference[text]]
    assert wrong == []


def test_redis_stopped_and_restarted_under_concurrent_traffic(start_server, redis_server) -> None:  # type: ignore[no-untyped-def]
    # The document-job worker (its own Redis client) is the jobs tests' subject; here only translation runs.
    server = start_server(redis_url=redis_server.url, document_worker="off")
    reference = _reference(server.url)
    with httpx.Client(timeout=30) as client:
        assert _translate(client, server.url, TEXTS[0]).json()["translations"][0]["cached"] is True
    with Traffic(server.url, unique=True) as traffic:
        traffic.wait_for(40)
        redis_server.stop()
        traffic.wait_for(40)
        ready = httpx.get(f"{server.url}/readyz", timeout=10)
        assert ready.status_code == 503 and ready.json()["cache"]["reachable"] is False
        # While Redis is down nothing comes from a cache, not even a whole response kept in this process.
        down_from = traffic.count()
        traffic.wait_for(20)
        assert not any(cached for _, _, _, cached, _ in traffic.outcomes[down_from + 4 :])
        with httpx.Client(timeout=30) as client:
            assert _translate(client, server.url, TEXTS[0]).json()["translations"][0]["cached"] is False
        redis_server.start()
        deadline = time.monotonic() + 20
        while httpx.get(f"{server.url}/readyz", timeout=10).status_code != 200:
            assert time.monotonic() < deadline, "the cache did not reconnect"
            time.sleep(0.2)
        back_from = traffic.count()
        traffic.wait_for(60)
    _check_all_right(traffic, reference)
    # Caching resumed: the restarted Redis (empty) is filled again and serves the first sentences as hits.
    assert any(cached for _, _, _, cached, _ in traffic.outcomes[back_from + 24 :])
    assert len(traffic.outcomes) >= 180


class LatencyProxy:
    """A TCP proxy on a free port that holds every chunk for ``delay_s`` in both directions (a slow network
    or an overloaded Redis); the delay can be changed while connections are open."""

    def __init__(self, upstream_port: int):
        self.upstream_port = upstream_port
        self.port = free_port()
        self.delay_s = 0.0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        # Every stream writer opened, so that stopping the proxy closes their sockets for certain (a writer left
        # to the garbage collector warns in whichever later test collects it).
        self._writers: set[asyncio.StreamWriter] = set()

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                if self.delay_s:
                    await asyncio.sleep(self.delay_s)
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError, OSError, asyncio.CancelledError):
                await writer.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        except OSError:
            writer.close()
            return
        self._writers.update((writer, up_writer))
        await asyncio.gather(self._pump(reader, up_writer), self._pump(up_reader, writer))

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(asyncio.start_server(self._handle, "127.0.0.1", self.port))
        self._ready.set()
        try:
            self._loop.run_forever()
        finally:
            server.close()
            tasks = asyncio.all_tasks(self._loop)
            for task in tasks:
                task.cancel()
            self._loop.run_until_complete(asyncio.gather(*tasks, server.wait_closed(), return_exceptions=True))
            for writer in self._writers:
                writer.transport.abort()
            # One more turn of the loop runs the transports' connection_lost callbacks.
            self._loop.run_until_complete(asyncio.sleep(0.05))
            self._writers.clear()
            self._loop.close()

    def __enter__(self) -> LatencyProxy:
        self._thread.start()
        assert self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


def test_redis_slowed_mid_traffic_costs_at_most_its_timeout(start_server, redis_server) -> None:  # type: ignore[no-untyped-def]
    with LatencyProxy(redis_server.port) as proxy:
        server = start_server(redis_url=f"redis://127.0.0.1:{proxy.port}/0", document_worker="off")
        reference = _reference(server.url)
        with Traffic(server.url, unique=True) as traffic:
            traffic.wait_for(30)
            # Slower than usual but within the client's 0.5 s socket timeout: still cached, a little later.
            proxy.delay_s = 0.05
            slow_from = traffic.count()
            traffic.wait_for(30)
            slow = traffic.outcomes[slow_from + 4 :]
            assert any(cached for _, _, _, cached, _ in slow)
            # Far slower than the timeout: Redis counts as down, requests go uncached instead of waiting on it.
            proxy.delay_s = 3.0
            stalled_from = traffic.count()
            traffic.wait_for(30)
            # Long enough for several retries of Redis (one a second, each stopped by the 0.5 s timeout).
            time.sleep(3)
            assert httpx.get(f"{server.url}/readyz", timeout=10).status_code == 503
            stalled = traffic.outcomes[stalled_from + 4 :]
            proxy.delay_s = 0.0
            deadline = time.monotonic() + 20
            while httpx.get(f"{server.url}/readyz", timeout=10).status_code != 200:
                assert time.monotonic() < deadline, "the cache did not come back when Redis sped up"
                time.sleep(0.2)
            traffic.wait_for(30)
    _check_all_right(traffic, reference)
    # A request waits for Redis at most about its socket timeout (0.5 s for reading, once per request while
    # Redis is marked down and retried once a second), never the proxy's 3 s.
    worst = max(elapsed for _, _, _, _, elapsed in stalled)
    print(f"slowest request while Redis stalled 3 s per packet: {worst:.2f} s")
    assert worst < 2.5, f"a request took {worst:.2f} s while Redis stalled"


def _sse_events(text: str) -> list[str]:
    return [line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("event:")]


@pytest.fixture
def served(tiny_registry: Path, tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """``kakehashi serve`` in a process of its own (tiny models), so that it can be sent signals."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("KAKEHASHI_")}
    env.update(KAKEHASHI_REGISTRY=str(tiny_registry), KAKEHASHI_COMPUTE_TYPE="float32", KAKEHASHI_REDIS_URL="")
    log = (tmp_path / "server.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "mt.cli", "serve", "--port", str(port)], cwd=ROOT, env=env, stdout=log, stderr=log
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        assert process.poll() is None, (tmp_path / "server.log").read_text(errors="replace")[-3000:]
        assert time.monotonic() < deadline, "the server did not start within 120 s"
        time.sleep(0.2)
    yield process, url
    if process.poll() is None:
        process.kill()
        process.wait(10)
    log.close()


def test_sigterm_mid_load_finishes_every_accepted_request_and_stream(served: tuple[Any, str]) -> None:
    process, url = served
    # Long streams: many texts, each decoded to the end of its length budget by the random tiny model.
    stream_body = {
        "texts": [f"{t}{t}{t}" for t in TEXTS],
        "source": "ja",
        "target": "en",
        "stream": True,
        "options": {"max_decoding_length": 48},
    }
    results: dict[str, list[Any]] = {"streams": [], "plain": [], "refused": []}
    lock = threading.Lock()
    started = threading.Barrier(5)

    def stream() -> None:
        with httpx.Client(timeout=120) as client, client.stream("POST", f"{url}/v1/translate", json=stream_body) as r:
            started.wait(30)
            body = "".join(r.iter_text())
            with lock:
                results["streams"].append((r.status_code, body))

    def plain(number: int) -> None:
        with httpx.Client(timeout=60) as client:
            for i in range(400):
                text = TEXTS[(number + i) % len(TEXTS)] + "。" * (i % 7)
                try:
                    r = _translate(client, url, text)
                except httpx.TransportError as exc:
                    # Refused or closed before an answer: not acknowledged, so not lost; the client may retry.
                    with lock:
                        results["refused"].append(type(exc).__name__)
                    return
                with lock:
                    results["plain"].append(
                        (r.status_code, r.json()["translations"][0]["text"] if r.is_success else r.text)
                    )

    threads = [threading.Thread(target=stream) for _ in range(4)] + [
        threading.Thread(target=plain, args=(n,)) for n in range(3)
    ]
    for thread in threads:
        thread.start()
    started.wait(60)
    time.sleep(0.3)
    process.send_signal(signal.SIGTERM)
    for thread in threads:
        thread.join(120)
    # uvicorn drains, shuts the app down, then dies of the signal it caught (as a supervisor expects).
    assert process.wait(60) in (0, -signal.SIGTERM)
    # Every stream that was open when the signal came ran to its end: a translation per text, then done.
    assert len(results["streams"]) == 4
    for status, body in results["streams"]:
        events = _sse_events(body)
        assert status == 200 and events.count("translation") == len(TEXTS) and events[-1] == "done", events[-3:]
    # Every request answered was answered fully; the rest were refused before any answer.
    assert results["plain"], "no plain request was answered before the signal"
    assert [(s, t) for s, t in results["plain"] if s != 200] == []
    print(
        f"\nSIGTERM: {len(results['streams'])} streams finished, {len(results['plain'])} requests answered, "
        f"{len(results['refused'])} refused before any answer ({results['refused']})"
    )
