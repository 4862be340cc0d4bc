"""The cross-request micro-batcher above a fake engine: merging, the queue bound, cancellation."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fakes import FakeTranslator
from mt import (
    InvalidRequest,
    Manifest,
    RuntimeOptions,
    SegmentResult,
    TranslationOptions,
    load_translator,
    parse_language,
)
from mt._engine import available_cpus
from serve._batcher import MicroBatcher
from serve._errors import Overloaded

JA, EN = parse_language("ja"), parse_language("en")


def _fake() -> FakeTranslator:
    return FakeTranslator(Manifest(name="m", family="marian", languages=("ja", "en"), source="test"))


@pytest.fixture
def gated() -> Iterator[FakeTranslator]:
    translator = _fake()
    translator.release.clear()
    yield translator
    translator.release.set()


def test_concurrent_requests_for_one_pair_and_options_share_a_batch() -> None:
    fake = _fake()
    batcher = MicroBatcher(fake, max_wait_ms=300, max_batch_tokens=4096, max_queue=16)
    try:
        greedy = TranslationOptions(beam_size=1)
        first = batcher.submit(["猫。"], JA, EN, greedy)
        second = batcher.submit(["犬。", "鳥。"], JA, EN, greedy)
        other_options = batcher.submit(["魚。"], JA, EN, TranslationOptions(beam_size=2))
        other_pair = batcher.submit(["Fish."], EN, JA, greedy)
        assert [r.text for r in first.result(5)] == ["[en]猫。"]
        assert [r.text for r in second.result(5)] == ["[en]犬。", "[en]鳥。"]
        assert [r.text for r in other_options.result(5)] == ["[en]魚。"]
        assert [r.text for r in other_pair.result(5)] == ["[ja]Fish."]
    finally:
        batcher.close()
    assert fake.batches[0] == ["猫。", "犬。", "鳥。"]
    assert sorted(map(tuple, fake.batches[1:])) == [("Fish.",), ("魚。",)]


def test_batches_are_bounded_by_tokens() -> None:
    fake = _fake()
    batcher = MicroBatcher(fake, max_wait_ms=300, max_batch_tokens=70, max_queue=16)
    try:
        futures = [batcher.submit(["あ" * 40], JA, EN, TranslationOptions()) for _ in range(3)]
        for future in futures:
            future.result(5)
    finally:
        batcher.close()
    # 40 tokens each: two never fit in 70.
    assert [len(batch) for batch in fake.batches] == [1, 1, 1]


def test_a_full_queue_refuses_batches_and_streams(gated: FakeTranslator) -> None:
    batcher = MicroBatcher(gated, max_wait_ms=0, max_batch_tokens=4096, max_queue=1)
    try:
        running = batcher.submit(["一。"], JA, EN, TranslationOptions())
        assert gated.entered.wait(5)
        waiting = batcher.submit(["二。"], JA, EN, TranslationOptions())
        assert batcher.depth == 1
        with pytest.raises(Overloaded, match="queue full") as refused:
            batcher.submit(["三。"], JA, EN, TranslationOptions())
        assert refused.value.retry_after_s == 1
        with pytest.raises(Overloaded), batcher.streaming():
            pass
        gated.release.set()
        assert running.result(5)[0].text == "[en]一。" and waiting.result(5)[0].text == "[en]二。"
        # Streams hold a place in the bound while they run.
        with batcher.streaming():
            assert batcher.depth == 1
            with pytest.raises(Overloaded):
                batcher.submit(["四。"], JA, EN, TranslationOptions())
        assert batcher.depth == 0
    finally:
        gated.release.set()
        batcher.close()


def test_a_cancelled_request_is_never_translated(gated: FakeTranslator) -> None:
    batcher = MicroBatcher(gated, max_wait_ms=0, max_batch_tokens=4096, max_queue=4)
    try:
        running = batcher.submit(["一。"], JA, EN, TranslationOptions())
        assert gated.entered.wait(5)
        abandoned = batcher.submit(["二。"], JA, EN, TranslationOptions())
        assert abandoned.cancel()
        kept = batcher.submit(["三。"], JA, EN, TranslationOptions())
        gated.release.set()
        assert running.result(5)[0].text == "[en]一。" and kept.result(5)[0].text == "[en]三。"
    finally:
        gated.release.set()
        batcher.close()
    assert ["二。"] not in gated.batches and all("二。" not in batch for batch in gated.batches)


def test_an_engine_failure_reaches_every_waiting_request() -> None:
    class Broken(FakeTranslator):
        def translate_segments(self, *args: object, **kwargs: object) -> list[SegmentResult]:
            raise RuntimeError("engine failed")

    batcher = MicroBatcher(Broken(_fake().manifest), 50, 4096, 4)
    try:
        futures = [batcher.submit([s], JA, EN, TranslationOptions()) for s in ("一。", "二。")]
        for future in futures:
            with pytest.raises(RuntimeError, match="engine failed"):
                future.result(5)
    finally:
        batcher.close()


class _Counting(FakeTranslator):
    """Counts the batches inside the engine at once, holding each until ``release`` is set."""

    def __init__(self) -> None:
        super().__init__(_fake().manifest)
        self.inside = 0
        self.most_inside = 0
        self._count_lock = threading.Lock()

    def translate_segments(self, *args: Any, **kwargs: Any) -> list[SegmentResult]:
        with self._count_lock:
            self.inside += 1
            self.most_inside = max(self.most_inside, self.inside)
        try:
            return super().translate_segments(*args, **kwargs)
        finally:
            with self._count_lock:
                self.inside -= 1


@pytest.mark.parametrize("replicas", [1, 2, 3])
def test_as_many_batches_run_at_once_as_the_model_has_replicas(replicas: int) -> None:
    engine = _Counting()
    engine.release.clear()
    batcher = MicroBatcher(engine, max_wait_ms=0, max_batch_tokens=4096, max_queue=64, replicas=replicas)
    try:
        # Different options never share a batch: six batches compete for the replicas.
        futures = [batcher.submit([f"{i}。"], JA, EN, TranslationOptions(beam_size=i + 1)) for i in range(6)]
        deadline = time.monotonic() + 5
        while engine.inside < replicas and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.2)  # more would have entered by now if the bound let them
        assert engine.inside == replicas
        engine.release.set()
        assert [f.result(5)[0].text for f in futures] == [f"[en]{i}。" for i in range(6)]
    finally:
        engine.release.set()
        batcher.close()
    assert engine.most_inside == replicas


def test_items_queued_while_every_replica_is_busy_grow_the_next_batch(gated: FakeTranslator) -> None:
    batcher = MicroBatcher(gated, max_wait_ms=0, max_batch_tokens=4096, max_queue=64, replicas=1)
    try:
        first = batcher.submit(["一。"], JA, EN, TranslationOptions())
        assert gated.entered.wait(5)
        later = [batcher.submit([f"{n}。"], JA, EN, TranslationOptions()) for n in "二三四"]
        gated.release.set()
        assert first.result(5)[0].text == "[en]一。"
        assert [f.result(5)[0].text for f in later] == ["[en]二。", "[en]三。", "[en]四。"]
    finally:
        gated.release.set()
        batcher.close()
    assert gated.batches == [["一。"], ["二。", "三。", "四。"]]


def test_closing_finishes_what_was_queued_before_it(gated: FakeTranslator) -> None:
    batcher = MicroBatcher(gated, max_wait_ms=0, max_batch_tokens=4096, max_queue=64, replicas=1)
    running = batcher.submit(["一。"], JA, EN, TranslationOptions())
    assert gated.entered.wait(5)
    waiting = batcher.submit(["二。"], JA, EN, TranslationOptions(beam_size=2))
    closer = threading.Thread(target=batcher.close)
    closer.start()
    time.sleep(0.1)
    gated.release.set()
    closer.join(10)
    assert not closer.is_alive()
    assert running.result(0)[0].text == "[en]一。" and waiting.result(0)[0].text == "[en]二。"


def test_replicas_must_be_positive() -> None:
    with pytest.raises(ValueError, match="replicas must be ≥ 1, not 0"):
        MicroBatcher(_fake(), 0, 4096, 4, replicas=0)


def test_the_automatic_thread_layout_is_one_single_threaded_replica_per_cpu_share() -> None:
    assert RuntimeOptions().threads("cpu") == (available_cpus(), 1)
    assert RuntimeOptions(cpu_share=3).threads("cpu") == (3, 1)
    assert RuntimeOptions().threads("cuda") == (1, 1)
    # Counts given by hand are kept: 0 intra threads is then CTranslate2's own default.
    assert RuntimeOptions(inter_threads=1).threads("cpu") == (1, 0)
    assert RuntimeOptions(intra_threads=4).threads("cpu") == (1, 4)
    with pytest.raises(InvalidRequest, match="inter_threads must be ≥ 0"):
        RuntimeOptions(inter_threads=-1)


@pytest.mark.integration
def test_outputs_do_not_depend_on_the_thread_layout(tiny_models: dict[str, Path]) -> None:
    sentences = [f"猫{'が' * (i % 9)}好き{i}です。" for i in range(48)]
    options = TranslationOptions(beam_size=2, max_decoding_length=12)
    outputs = []
    for inter, intra in ((1, 1), (3, 1), (1, 2)):
        runtime = RuntimeOptions(device="cpu", compute_type="int8", inter_threads=inter, intra_threads=intra)
        translator = load_translator(tiny_models["marian"], runtime)
        assert translator.replicas == inter
        results = translator.translate_segments(sentences, JA, EN, options)
        outputs.append([(r.text, round(r.score, 5)) for r in results])
    assert outputs[0] == outputs[1] == outputs[2]


def test_a_service_gives_each_worker_process_its_share_of_the_cpus() -> None:
    from serve._service import TranslationService
    from serve._settings import ServeSettings

    def loader(directory: Path, runtime: RuntimeOptions) -> FakeTranslator:
        return _fake()

    service = TranslationService(ServeSettings(workers=available_cpus() + 1), loader=loader)
    assert service.kakehashi.runtime.cpu_share == 1
    service = TranslationService(ServeSettings(workers=1), loader=loader)
    assert service.kakehashi.runtime.cpu_share == available_cpus()
