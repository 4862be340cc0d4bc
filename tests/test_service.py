"""The service's one request path above a fake engine: adapter → service → pipeline → cache and micro-batcher
→ engine. Streaming shares the cache, the queue bound and the limits; requests name registered models only."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from fakes import FakeTranslator, write_manifest
from mt import InputTooLarge, Manifest, ModelNotFound, RuntimeOptions, Settings, TranslationOptions
from serve._errors import Overloaded, RequestTimedOut
from serve._schema import TranslationRequest
from serve._service import TranslationService
from serve._settings import ServeSettings
from serve.app import create_app

GREEDY = TranslationOptions(beam_size=1)


@pytest.fixture
def registry(tmp_path: Path) -> Path:
    write_manifest(tmp_path / "models" / "ja-en", "ja-en", ("ja", "en"), (("ja", "en"), ("en", "ja")))
    path = tmp_path / "registry.toml"
    path.write_text('[[model]]\nname = "ja-en"\npath = "models/ja-en"\n', encoding="utf-8")
    return path


@pytest.fixture
def engine() -> Iterator[FakeTranslator]:
    fake = FakeTranslator(Manifest(name="ja-en", family="marian", languages=("ja", "en"), source="test"))
    yield fake
    fake.release.set()


@pytest.fixture
def service(registry: Path, engine: FakeTranslator) -> Iterator[TranslationService]:
    def loader(directory: Path, runtime: RuntimeOptions) -> FakeTranslator:
        engine.manifest = Manifest.load(directory)
        return engine

    settings = ServeSettings(engine=Settings(registry=(registry,)), max_queue=1, batch_wait_ms=0, max_chars_per_text=40)
    service = TranslationService(settings, loader=loader)
    yield service
    engine.release.set()
    service.stop()


def _request(*texts: str, **fields: object) -> TranslationRequest:
    return TranslationRequest(texts, "en", **{"source": "ja", "options": GREEDY, **fields})  # type: ignore[arg-type]


def _fill_the_queue(service: TranslationService, engine: FakeTranslator) -> list[threading.Thread]:
    """One request blocked in the engine, one waiting in the queue (max_queue=1): the queue is full."""
    engine.release.clear()
    engine.entered.clear()
    threads = [threading.Thread(target=service.translate, args=(_request(text),)) for text in ("一。", "二。")]
    threads[0].start()
    assert engine.entered.wait(5)
    threads[1].start()
    batcher = service.kakehashi.translator(service.kakehashi.registry.entries[0]).batcher  # type: ignore[attr-defined]
    deadline = time.monotonic() + 5
    while batcher.depth < 1:
        assert time.monotonic() < deadline, "the second request never queued"
        time.sleep(0.01)
    return threads


def _drain(engine: FakeTranslator, threads: list[threading.Thread]) -> None:
    engine.release.set()
    for thread in threads:
        thread.join(10)


def test_translations_come_from_the_engine_once_then_from_the_cache(
    service: TranslationService, engine: FakeTranslator
) -> None:
    first = service.translate(_request("猫です。犬です。"))[0]
    assert first.text == "[en]猫です。 [en]犬です。" and first.cached is False
    assert engine.batches == [["猫です。", "犬です。"]]
    second = service.translate(_request("犬です。猫です。鳥です。"))[0]
    assert second.text == "[en]犬です。 [en]猫です。 [en]鳥です。" and second.cached is False
    # Only the new sentence reached the engine.
    assert engine.batches[-1] == ["鳥です。"]
    assert service.translate(_request("鳥です。"))[0].cached is True
    assert len(engine.batches) == 2


def test_streaming_serves_cached_sentences_from_the_cache(service: TranslationService, engine: FakeTranslator) -> None:
    service.translate(_request("猫です。"))
    events = list(service.stream(_request("猫です。犬です。")))
    assert engine.streamed == ["犬です。"]
    final = events[-1][1].translation
    assert final is not None and final.text == "[en]猫です。 [en]犬です。"


def test_streaming_shares_the_queue_bound(service: TranslationService, engine: FakeTranslator) -> None:
    service.translate(_request("猫です。"))
    threads = _fill_the_queue(service, engine)
    try:
        with pytest.raises(Overloaded, match="queue full"):
            list(service.stream(_request("犬です。")))
        # A cached sentence needs no place in the queue.
        cached = list(service.stream(_request("猫です。")))
        assert cached[-1][1].translation is not None and cached[-1][1].translation.text == "[en]猫です。"
    finally:
        _drain(engine, threads)
    assert engine.streamed == []


def test_streaming_shares_the_limits(service: TranslationService) -> None:
    with pytest.raises(InputTooLarge, match="at most 40 per text"):
        next(service.stream(_request("猫" * 41)))


def test_streaming_over_http_answers_429_when_the_queue_is_full(
    service: TranslationService, engine: FakeTranslator
) -> None:
    body = {"texts": ["犬です。"], "source": "ja", "target": "en", "stream": True}
    with TestClient(create_app(service.settings, service)) as client:
        service.translate(_request("猫です。"))
        threads = _fill_the_queue(service, engine)
        try:
            busy = client.post("/v1/translate", json=body)
            assert busy.status_code == 429 and busy.headers["Retry-After"] == "1"
            assert "queue full" in busy.json()["error"]["message"]
            served = client.post("/v1/translate", json={**body, "texts": ["猫です。"]})
            assert served.status_code == 200
        finally:
            _drain(engine, threads)
    events = [json.loads(line[len("data: ") :]) for line in served.text.splitlines() if line.startswith("data: ")]
    assert events[-2]["text"] == "[en]猫です。" and events[-1] == {}


def test_a_request_naming_a_directory_is_refused(
    service: TranslationService, engine: FakeTranslator, tmp_path: Path
) -> None:
    # Even a directory holding a usable model, reusing a registered name, is not loaded.
    other = write_manifest(tmp_path / "elsewhere", "ja-en", ("ja", "en"), (("ja", "en"),))
    with TestClient(create_app(service.settings, service)) as client:
        for model in (str(other), str(tmp_path / "models" / "ja-en"), "../models/ja-en"):
            r = client.post("/v1/translate", json={"texts": ["猫"], "source": "ja", "target": "en", "model": model})
            assert r.status_code == 404, r.text
            message = r.json()["error"]["message"]
            assert "give an installed model name. Installed models: ja-en" in message
            assert "directory" not in message and str(tmp_path) not in message.replace(model, "")
        named = client.post("/v1/translate", json={"texts": ["猫"], "source": "ja", "target": "en", "model": "ja-en"})
        assert named.status_code == 200 and named.json()["translations"][0]["models"] == ["ja-en"]
    with pytest.raises(ModelNotFound):
        service.translate(_request("猫", model=str(other)))
    assert engine.batches == [["猫"]]


def test_streaming_shares_the_request_timeout(
    registry: Path, engine: FakeTranslator, monkeypatch: pytest.MonkeyPatch
) -> None:
    streamed = engine.stream_segment

    def slow(*args: object, **kwargs: object) -> Iterator[str]:
        for delta in streamed(*args, **kwargs):  # type: ignore[arg-type]
            time.sleep(0.05)
            yield delta

    monkeypatch.setattr(engine, "stream_segment", slow)
    settings = ServeSettings(engine=Settings(registry=(registry,)), request_timeout_s=0.1)
    service = TranslationService(settings, loader=lambda directory, runtime: engine)
    try:
        events = service.stream(_request("犬です。猫です。鳥です。"))
        with pytest.raises(RequestTimedOut, match="0.1 s"):
            for _ in events:
                pass
    finally:
        service.stop()
    assert 1 <= len(engine.streamed) < 3


def test_the_openapi_document_describes_what_is_parsed_and_serialised() -> None:
    from mt import Alternative, DetectedLanguage, Segment, Translation
    from serve._openapi import openapi_spec
    from serve._schema import native_request_schema

    spec = openapi_spec()
    operation = spec["paths"]["/v1/translate"]["post"]
    request = operation["requestBody"]["content"]["application/json"]["schema"]
    assert request == native_request_schema()
    assert request["properties"]["options"] == TranslationOptions.json_schema()
    assert set(request["properties"]["options"]["properties"]) == {
        "beam_size",
        "n_best",
        "length_penalty",
        "repetition_penalty",
        "no_repeat_ngram_size",
        "reconstruction_weight",
        "sampling_topk",
        "sampling_topp",
        "sampling_temperature",
        "max_decoding_length",
        "target_prefix",
    }
    documented = operation["responses"]["200"]["content"]["application/json"]["schema"]["properties"]
    row = documented["translations"]["items"]["properties"]
    translation = Translation(
        "Cat.", "ja", "en", -0.1, (Segment("猫。", 0, 2, "Cat.", -0.1, ("A cat.",)),), (Alternative("A cat.", -0.2),)
    )
    translation = Translation(**{**translation.__dict__, "detected": DetectedLanguage("ja", 0.9)})
    serialised = translation.to_json(references=True, notes=True)
    assert set(row) == set(serialised)
    assert set(row["segments"]["items"]["properties"]) == set(serialised["segments"][0])


def test_markup_documents_are_translated_in_one_batch_and_keep_their_tags(
    service: TranslationService, engine: FakeTranslator
) -> None:
    documents = ("<p>猫です。</p>", "<b>犬</b> <i>鳥</i>", "<br/>")
    results = service.translate(_request(*documents, markup="html", source="auto"))
    # A sentence is translated whole, its tags as stand-ins the model copies (X, Y, …), then put back.
    assert [r.text for r in results] == ["<p>[en]猫です。</p>", "[en]<b>犬</b> <i>鳥</i>", "<br/>"]
    assert engine.batches == [["猫です。", "X犬Y Z鳥W"]]  # every sentence of every document in one call
    assert [r.source_lang for r in results[:2]] == ["ja", "ja"] and results[2].source_lang == ""
    assert [r.source_tokens for r in results] == [4, 7, 0]  # the fake counts characters, stand-ins included
