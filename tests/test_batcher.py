"""The cross-request micro-batcher above a fake engine: merging, the queue bound, cancellation."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from fakes import FakeTranslator
from mt import Manifest, SegmentResult, TranslationOptions, parse_language
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
