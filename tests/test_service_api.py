"""The REST service end to end: the real app on a free port, tiny real models, a real Redis of the test's own."""

from __future__ import annotations

import concurrent.futures
import logging
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.integration

FAST = {"max_decoding_length": 6, "beam_size": 2}


def _translate(url: str, texts: list[str], **extra: Any) -> httpx.Response:
    body = {"texts": texts, "source": "ja", "target": "en", "options": dict(FAST), **extra}
    return httpx.post(f"{url}/v1/translate", json=body, timeout=60)


def test_native_translate_segments_and_cache(start_server) -> None:  # type: ignore[no-untyped-def]
    server = start_server()
    text = "猫です。\n犬です。"
    first = _translate(server.url, [text, ""], references=True)
    assert first.status_code == 200, first.text
    rows = first.json()["translations"]
    assert len(rows) == 2 and rows[1]["text"] == ""
    row = rows[0]
    assert row["source"] == "ja" and row["target"] == "en" and row["cached"] is False
    assert "\n" in row["text"]
    assert [(s["start"], s["end"]) for s in row["segments"]] == [(0, 4), (5, 9)]
    # The tiny model has no reference index: said explicitly, never an empty list that reads as "no match".
    assert all(s["references"] is None and s["support"] is None for s in row["segments"])
    assert "tiny-marian" in row["annotations"]["references"] and row["annotations"]["references"] != "ok"
    assert row["models"] == ["tiny-marian"]
    second = _translate(server.url, [text]).json()["translations"][0]
    assert second["cached"] is True and second["text"] == row["text"]
    # Different options are a different cache entry.
    third = httpx.post(
        f"{server.url}/v1/translate",
        json={"texts": [text], "source": "ja", "target": "en", "options": {"max_decoding_length": 5}},
        timeout=60,
    )
    assert third.json()["translations"][0]["cached"] is False
    metrics = httpx.get(f"{server.url}/metrics").text
    assert 'kakehashi_cache_total{result="hit"} 2.0' in metrics
    assert 'kakehashi_requests_total{route="/v1/translate",status="200"} 3.0' in metrics
    assert "kakehashi_batch_sentences_bucket" in metrics and "kakehashi_tokens_total" in metrics


def test_native_auto_detect_n_best_and_model_choice(start_server) -> None:  # type: ignore[no-untyped-def]
    server = start_server()
    r = httpx.post(
        f"{server.url}/v1/translate",
        json={
            "text": "猫が好きです。",
            "source": "auto",
            "target": "en",
            "model": "tiny-madlad",
            "options": {"beam_size": 4, "n_best": 3, "max_decoding_length": 6},
        },
        timeout=60,
    )
    assert r.status_code == 200, r.text
    row = r.json()["translations"][0]
    assert row["detected_source"]["language"] == "ja"
    assert row["models"] == ["tiny-madlad"]
    assert len(row["alternatives"]) >= 1

    # Reranking by translating back (MADLAD tags and tokenizer) keeps the beam's hypotheses, in its own order.
    def hypotheses(**options: Any) -> set[str]:
        body = {"text": "猫が好きです。", "source": "ja", "target": "en", "model": "tiny-madlad"}
        options = {"beam_size": 4, "n_best": 4, "max_decoding_length": 6, **options}
        answer = httpx.post(f"{server.url}/v1/translate", json={**body, "options": options}, timeout=60)
        assert answer.status_code == 200, answer.text
        found = answer.json()["translations"][0]
        return {found["text"], *(a["text"] for a in found["alternatives"])}

    assert hypotheses(reconstruction_weight=2.0) == hypotheses()


@pytest.mark.parametrize(
    ("body", "status", "fragment"),
    [
        ({"texts": ["猫"], "source": "ja"}, 400, "'target'"),
        ({"texts": ["猫"], "source": "ja", "target": "fr"}, 400, "ja→fr"),
        ({"texts": ["猫"], "source": "xx-bogus", "target": "en"}, 400, "unknown language code"),
        ({"texts": ["猫"], "source": "ja", "target": "en", "model": "nope"}, 404, "unknown model 'nope'"),
        ({"texts": ["猫"], "source": "ja", "target": "en", "options": {"beam": 3}}, 400, "accepted: beam_size"),
        ({"texts": ["猫"], "source": "ja", "target": "en", "options": {"beam_size": "3"}}, 400, "integer"),
        ({"texts": [1], "source": "ja", "target": "en"}, 400, "list of strings"),
        ({"texts": ["猫"], "target": "en", "extra": 1}, 400, "unknown field"),
        ({"texts": ["x" * 30], "source": "ja", "target": "en"}, 413, "at most 20 per text"),
        ({"texts": ["a"] * 4, "source": "ja", "target": "en"}, 413, "at most 3 are accepted"),
    ],
)
def test_native_errors(start_server, body: dict[str, Any], status: int, fragment: str) -> None:  # type: ignore[no-untyped-def]
    server = start_server(max_chars_per_text=20, max_texts=3)
    r = httpx.post(f"{server.url}/v1/translate", json=body, timeout=60)
    assert r.status_code == status, r.text
    assert fragment in r.json()["error"]["message"]


def test_bad_bodies(start_server) -> None:  # type: ignore[no-untyped-def]
    server = start_server()
    r = httpx.post(f"{server.url}/v1/translate", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 400 and "not valid JSON" in r.json()["error"]["message"]
    r = httpx.post(f"{server.url}/v1/translate", json=["a list"])
    assert r.status_code == 400 and "must be an object" in r.json()["error"]["message"]
    # Unknown paths and wrong methods answer in the error format of the API they belong to.
    r = httpx.get(f"{server.url}/v1/nothing-here")
    assert r.status_code == 404 and "/openapi.json" in r.json()["error"]["message"]
    r = httpx.get(f"{server.url}/v1/translate")
    assert r.status_code == 405 and "POST" in r.json()["error"]["message"]
    r = httpx.get(f"{server.url}/v2/nothing-here")
    assert r.status_code == 404 and "no endpoint" in r.json()["message"]
    r = httpx.put(f"{server.url}/translate")
    assert r.status_code == 405 and "PUT is not accepted" in r.json()["error"]


def test_info_endpoints_and_openapi_matches_routes(start_server) -> None:  # type: ignore[no-untyped-def]
    server = start_server()
    assert httpx.get(f"{server.url}/healthz").json() == {"status": "ok"}
    ready = httpx.get(f"{server.url}/readyz")
    assert ready.status_code == 200 and ready.json()["ready"] is True
    languages = httpx.get(f"{server.url}/v1/languages").json()["languages"]
    assert {row["code"]: row["targets"] for row in languages} == {"en": ["ja"], "ja": ["en"]}
    models = httpx.get(f"{server.url}/v1/models").json()["models"]
    assert [m["name"] for m in models] == ["tiny-marian", "tiny-madlad"]
    detected = httpx.post(f"{server.url}/v1/detect", json={"texts": ["これは日本語です。"]}).json()
    assert detected["detections"][0][0]["language"] == "ja"
    page = httpx.get(f"{server.url}/")
    assert page.status_code == 200 and "Kakehashi" in page.text

    from serve._openapi import openapi_spec
    from serve._settings import ServeSettings
    from serve.app import create_app

    spec = openapi_spec()
    assert httpx.get(f"{server.url}/openapi.json").json() == spec
    app = create_app(ServeSettings())
    implemented = {
        (route.path, method.lower())
        for route in app.routes
        if hasattr(route, "methods")
        for method in (route.methods or ())
        if method != "HEAD"
    }
    documented = {(path, method) for path, item in spec["paths"].items() for method in item}
    assert implemented == documented


def test_libretranslate_client(start_server) -> None:  # type: ignore[no-untyped-def]
    from libretranslatepy import LibreTranslateAPI

    server = start_server()
    client = LibreTranslateAPI(server.url + "/")
    text = client.translate("猫です。", "ja", "en")
    assert isinstance(text, str) and text
    assert {row["code"] for row in client.languages()} == {"en", "ja"}
    assert client.detect("これは日本語の文です。")[0]["language"] == "ja"
    # Lists, auto-detection, alternatives, html.
    r = httpx.post(
        f"{server.url}/translate",
        json={"q": ["猫です。", "犬です。"], "source": "auto", "target": "en", "alternatives": 2},
    ).json()
    assert len(r["translatedText"]) == 2 and len(r["alternatives"]) == 2
    assert r["detectedLanguage"][0] == {"confidence": 100.0, "language": "ja"}
    html_out = httpx.post(
        f"{server.url}/translate",
        json={"q": "<p>猫です。<b>犬</b></p>", "source": "ja", "target": "en", "format": "html"},
    ).json()
    assert html_out["translatedText"].startswith("<p>") and "<b>" in html_out["translatedText"]
    error = httpx.post(f"{server.url}/translate", data={"q": "猫", "source": "ja"})
    assert error.status_code == 400 and "target" in error.json()["error"]
    settings = httpx.get(f"{server.url}/frontend/settings").json()
    assert settings["language"]["source"]["code"] == "auto" and "charLimit" in settings


def test_deepl_client(start_server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import deepl

    from serve._access import new_key

    keys = tmp_path / "keys.toml"
    key = new_key("alice", keys)
    assert key not in keys.read_text()
    server = start_server(api_keys_file=str(keys), require_api_key=True, max_chars_per_text=50, character_limit=40)
    translator = deepl.Translator(key, server_url=server.url, send_platform_info=False)
    result = translator.translate_text("猫です。", source_lang="JA", target_lang="EN-US")
    assert result.text and result.billed_characters == 4
    results = translator.translate_text(["猫です。", "犬です。"], target_lang="EN-GB")
    assert [r.detected_source_lang for r in results] == ["JA", "JA"]
    assert {lang.code for lang in translator.get_source_languages()} == {"EN", "JA"}
    assert {"EN-US", "EN-GB", "JA"} <= {lang.code for lang in translator.get_target_languages()}
    assert translator.get_usage().character.count == 12
    html_result = translator.translate_text(
        "<p>猫です。</p>", source_lang="JA", target_lang="EN-US", tag_handling="html"
    )
    assert html_result.text.startswith("<p>") and html_result.text.endswith("</p>")
    with pytest.raises(deepl.AuthorizationException):
        deepl.Translator("wrong-key", server_url=server.url, send_platform_info=False).translate_text(
            "猫", target_lang="EN-US"
        )
    with pytest.raises(deepl.DeepLException, match="glossary 'no-such-glossary' not found"):
        translator.translate_text("猫", source_lang="JA", target_lang="EN-US", glossary="no-such-glossary")
    too_long = httpx.post(
        f"{server.url}/v2/translate",
        data={"text": "x" * 60, "target_lang": "JA"},
        headers={"Authorization": f"DeepL-Auth-Key {key}"},
    )
    assert too_long.status_code == 413 and "message" in too_long.json()
    with pytest.raises(deepl.QuotaExceededException):
        translator.translate_text("猫" * 40, source_lang="JA", target_lang="EN-US")


def test_cache_shared_by_two_servers_through_redis(start_server, redis_server) -> None:  # type: ignore[no-untyped-def]
    first = start_server(redis_url=redis_server.url)
    second = start_server(redis_url=redis_server.url)
    a = _translate(first.url, ["鳥が飛ぶ。"]).json()["translations"][0]
    b = _translate(second.url, ["鳥が飛ぶ。"]).json()["translations"][0]
    assert a["cached"] is False and b["cached"] is True and a["text"] == b["text"]
    import redis

    keys = redis.Redis.from_url(redis_server.url).keys("kakehashi:tr:*")
    assert len(keys) == 1
    value = redis.Redis.from_url(redis_server.url).get(keys[0])
    assert value is not None and value.startswith(b"{")  # JSON, never pickle


def test_redis_killed_and_restarted_mid_traffic(start_server, redis_server, caplog: pytest.LogCaptureFixture) -> None:  # type: ignore[no-untyped-def]
    server = start_server(redis_url=redis_server.url)
    assert _translate(server.url, ["春です。"]).json()["translations"][0]["cached"] is False
    assert _translate(server.url, ["春です。"]).json()["translations"][0]["cached"] is True
    with caplog.at_level(logging.WARNING, logger="kakehashi.cache"):
        redis_server.stop()
        for text in ["夏です。", "秋です。", "春です。", "冬です。"]:
            r = _translate(server.url, [text])
            assert r.status_code == 200 and r.json()["translations"][0]["cached"] is False
        ready = httpx.get(f"{server.url}/readyz")
        assert ready.status_code == 503 and ready.json()["cache"]["reachable"] is False
        failures = [r for r in caplog.records if "failed" in r.getMessage()]
        assert len(failures) == 1
        redis_server.start()
        deadline = time.monotonic() + 15
        while httpx.get(f"{server.url}/readyz").status_code != 200:
            assert time.monotonic() < deadline, "the cache did not reconnect"
            time.sleep(0.3)
    assert _translate(server.url, ["雪です。"]).json()["translations"][0]["cached"] is False
    assert _translate(server.url, ["雪です。"]).json()["translations"][0]["cached"] is True


def test_backpressure_answers_429_with_retry_after(start_server) -> None:  # type: ignore[no-untyped-def]
    server = start_server(max_queue=1, max_batch_tokens=64, batch_wait_ms=50)
    texts = [f"猫{i}が庭で遊んでいます。" for i in range(24)]

    def call(text: str) -> httpx.Response:
        return httpx.post(
            f"{server.url}/v1/translate",
            json={
                "texts": [text],
                "source": "ja",
                "target": "en",
                "options": {"beam_size": 8, "max_decoding_length": 400},
            },
            timeout=120,
        )

    with concurrent.futures.ThreadPoolExecutor(24) as pool:
        responses = list(pool.map(call, texts))
    statuses = [r.status_code for r in responses]
    assert set(statuses) <= {200, 429}, statuses
    assert 429 in statuses and 200 in statuses
    busy = next(r for r in responses if r.status_code == 429)
    assert busy.headers["Retry-After"] == "1"
    assert "queue full" in busy.json()["error"]["message"]


def test_request_timeout(start_server) -> None:  # type: ignore[no-untyped-def]
    server = start_server(request_timeout_s=0.001, batch_wait_ms=200)
    r = _translate(server.url, ["時間切れです。"])
    assert r.status_code == 504 and "timeout" in r.json()["error"]["message"]


def test_api_keys_and_rate_limits_in_redis(start_server, redis_server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import redis

    from serve._access import new_key

    keys = tmp_path / "keys.toml"
    key = new_key("bob", keys, rate_limit_per_minute=2)
    server = start_server(api_keys_file=str(keys), require_api_key=True, redis_url=redis_server.url)
    assert _translate(server.url, ["猫"]).status_code == 403
    bad = httpx.post(
        f"{server.url}/v1/translate",
        json={"texts": ["猫"], "source": "ja", "target": "en"},
        headers={"Authorization": "Bearer nope"},
    )
    assert bad.status_code == 403 and "not valid" in bad.json()["error"]["message"]
    assert httpx.post(f"{server.url}/v1/detect", json={"texts": ["猫"]}).status_code == 403
    headers = {"Authorization": f"Bearer {key}"}
    body = {"texts": ["猫"], "source": "ja", "target": "en", "options": FAST}
    assert httpx.post(f"{server.url}/v1/translate", json=body, headers=headers).status_code == 200
    assert httpx.post(f"{server.url}/v1/translate", json=body, headers=headers).status_code == 200
    limited = httpx.post(f"{server.url}/v1/translate", json=body, headers=headers)
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1
    assert redis.Redis.from_url(redis_server.url).keys("kakehashi:rl:key:bob:*")
    lt = httpx.post(f"{server.url}/translate", json={"q": "猫", "source": "ja", "target": "en", "api_key": "nope"})
    assert lt.status_code == 403 and "error" in lt.json()


def test_cors(start_server) -> None:  # type: ignore[no-untyped-def]
    server = start_server(cors_origins=("https://example.org",))
    r = httpx.options(
        f"{server.url}/v1/translate", headers={"Origin": "https://example.org", "Access-Control-Request-Method": "POST"}
    )
    assert r.headers.get("access-control-allow-origin") == "https://example.org"
    other = httpx.options(
        f"{server.url}/v1/translate",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert other.headers.get("access-control-allow-origin") is None


def test_streaming_server_sent_events(start_server) -> None:  # type: ignore[no-untyped-def]
    import json

    server = start_server()
    body = {
        "texts": ["猫です。\n犬です。", ""],
        "source": "ja",
        "target": "en",
        "stream": True,
        "options": {"max_decoding_length": 6},
    }
    events = []
    with httpx.stream("POST", f"{server.url}/v1/translate", json=body, timeout=60) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        kind = None
        for line in r.iter_lines():
            if line.startswith("event: "):
                kind = line[len("event: ") :]
            elif line.startswith("data: "):
                events.append((kind, json.loads(line[len("data: ") :])))
    kinds = [k for k, _ in events]
    assert kinds[-1] == "done" and kinds.count("translation") == 2 and "delta" in kinds
    final = [d for k, d in events if k == "translation"]
    deltas = {}
    for k, d in events:
        if k == "delta" and d["text_index"] == 0:
            deltas[d["segment"]] = deltas.get(d["segment"], "") + d["delta"]
    assert [s["text"] for s in final[0]["segments"]] == [deltas.get(0, ""), deltas.get(1, "")]
    assert final[0]["text"] == f"{deltas.get(0, '')}\n{deltas.get(1, '')}"
    assert final[1]["text"] == ""
    # The streamed sentence is the greedy translation.
    greedy = _translate(server.url, ["猫です。"], options={"beam_size": 1, "max_decoding_length": 6})
    assert greedy.json()["translations"][0]["text"] == deltas.get(0, "")
    bad = httpx.post(f"{server.url}/v1/translate", json={**body, "options": {"beam_size": 4}})
    assert bad.status_code == 400 and "beam_size must be 1" in bad.json()["error"]["message"]
