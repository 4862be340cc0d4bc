"""Regression tests for the defects found by probing the server (issue 16): keys in open and closed mode,
information leaks, 500s from client input, bounded body reads, form encodings, failing streams and the
OpenAPI document's agreement with the server. Fast: a fake engine under the real app, except where a real
model or a real socket is the point."""

from __future__ import annotations

import json
import logging
import select
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
from starlette.testclient import TestClient

from fakes import FakeTranslator, write_manifest
from mt import InvalidModel, Language, Manifest, RuntimeOptions, Settings, TranslationOptions
from serve._access import RedactSecrets, new_key, redact
from serve._http import MAX_BODY_BYTES, MAX_JSON_DEPTH
from serve._openapi import openapi_spec
from serve._service import TranslationService
from serve._settings import ServeSettings
from serve.app import create_app


class BreakingTranslator(FakeTranslator):
    """A fake engine whose stream fails in the middle of the text ``壊れる。``, and whose batches raise
    ``InvalidModel`` (naming a server path) for the text ``模型。``."""

    def stream_segment(
        self,
        sentence: str,
        source: Language,
        target: Language,
        options: TranslationOptions,
        deadline: float | None = None,
    ) -> Iterator[str]:
        yield from super().stream_segment(sentence, source, target, options, deadline)
        if sentence == "壊れる。":
            raise RuntimeError("the engine fell over")

    def translate_segments(self, segments, source, target, options, deadline=None):  # type: ignore[no-untyped-def]
        if "模型。" in segments:
            raise InvalidModel(Path("/srv/secret/models/ja-en"), "weights are corrupt")
        return super().translate_segments(segments, source, target, options, deadline)


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("hardening")
    write_manifest(root / "models" / "ja-en", "ja-en", ("ja", "en"), (("ja", "en"), ("en", "ja")))
    path = root / "registry.toml"
    path.write_text('[[model]]\nname = "ja-en"\npath = "models/ja-en"\n', encoding="utf-8")
    return path


def _client(registry: Path, **fields: Any) -> TestClient:
    engine = BreakingTranslator(Manifest(name="ja-en", family="marian", languages=("ja", "en"), source="test"))

    def loader(directory: Path, runtime: RuntimeOptions) -> FakeTranslator:
        engine.manifest = Manifest.load(directory)
        return engine

    settings = ServeSettings(engine=Settings(registry=(registry,)), batch_wait_ms=0, **fields)
    client = TestClient(create_app(settings, TranslationService(settings, loader=loader)))
    client.__enter__()
    return client


@pytest.fixture(scope="module")
def shared_client(registry: Path) -> Iterator[TestClient]:
    """One app with the default settings for every test that needs no others (starting one takes seconds)."""
    client = _client(registry)
    yield client
    client.__exit__(None, None, None)


@pytest.fixture
def make_client(registry: Path, shared_client: TestClient) -> Iterator[Any]:
    """``make_client(**ServeSettings fields)`` → a TestClient of the real app over a fake engine (the shared one
    without fields)."""
    clients: list[TestClient] = []

    def make(**fields: Any) -> TestClient:
        if not fields:
            return shared_client
        client = _client(registry, **fields)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


def _keys(tmp_path: Path) -> tuple[str, str]:
    path = tmp_path / "keys.toml"
    return str(path), new_key("alice", path)


# -- 1. open mode ignores keys


def test_open_mode_ignores_any_key(make_client: Any) -> None:
    client = make_client()
    r = client.post(
        "/v2/translate",
        data={"text": "猫です。", "target_lang": "EN-US"},
        headers={"Authorization": "DeepL-Auth-Key anything:fx"},
    )
    assert r.status_code == 200, r.text
    r = client.post("/translate", json={"q": "猫です。", "source": "ja", "target": "en", "api_key": "random"})
    assert r.status_code == 200, r.text
    r = client.post("/v1/translate", json={"text": "猫です。", "target": "en"}, headers={"Authorization": "Bearer x"})
    assert r.status_code == 200, r.text


@pytest.mark.integration
def test_the_official_clients_work_against_a_server_without_keys(start_server) -> None:  # type: ignore[no-untyped-def]
    import deepl
    from libretranslatepy import LibreTranslateAPI

    server = start_server()
    translator = deepl.Translator("any-key:fx", server_url=server.url, send_platform_info=False)
    result = translator.translate_text("猫です。", source_lang="JA", target_lang="EN-US")
    assert result.text and result.detected_source_lang == "JA"
    assert isinstance(LibreTranslateAPI(server.url + "/", api_key="random").translate("猫です。", "ja", "en"), str)


def test_a_server_with_keys_still_refuses_an_unknown_key(make_client: Any, tmp_path: Path) -> None:
    keys, key = _keys(tmp_path)
    client = make_client(api_keys_file=keys)
    r = client.post("/translate", json={"q": "猫です。", "source": "ja", "target": "en", "api_key": "wrong"})
    assert r.status_code == 403 and "not valid" in r.json()["error"]
    r = client.post("/translate", json={"q": "猫です。", "source": "ja", "target": "en"})
    assert r.status_code == 200


# -- 2. keys in require_api_key mode


def test_libretranslate_endpoints_take_a_bearer_key(make_client: Any, tmp_path: Path) -> None:
    keys, key = _keys(tmp_path)
    client = make_client(api_keys_file=keys, require_api_key=True)
    body = {"q": "猫です。", "source": "ja", "target": "en"}
    assert client.post("/translate", json=body).status_code == 403
    r = client.post("/translate", json=body, headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == 200, r.text
    r = client.post("/detect", data={"q": "猫です。"}, headers={"authorization": f"bearer {key}"})
    assert r.status_code == 200, r.text
    # DeepL's older clients put the key in the query string.
    r = client.post(f"/v2/translate?auth_key={key}", data={"text": "猫です。", "target_lang": "EN-US"})
    assert r.status_code == 200, r.text


INFO_PATHS = ["/v1/models", "/v1/languages", "/metrics", "/languages", "/v2/languages", "/v2/glossary-language-pairs"]


def test_information_endpoints_need_a_key_unless_made_public(make_client: Any, tmp_path: Path) -> None:
    keys, key = _keys(tmp_path)
    client = make_client(api_keys_file=keys, require_api_key=True)
    for path in INFO_PATHS:
        assert client.get(path).status_code == 403, path
        assert client.get(path, headers={"X-API-Key": key}).status_code == 200, path
    for path in ("/healthz", "/readyz", "/openapi.json", "/frontend/settings", "/"):
        assert client.get(path).status_code == 200, path
    opened = make_client(api_keys_file=keys, require_api_key=True, public_paths=("/metrics", "/v1/languages"))
    assert opened.get("/metrics").status_code == 200 and opened.get("/v1/languages").status_code == 200
    assert opened.get("/v1/models").status_code == 403


def test_secrets_are_redacted_from_log_lines(make_client: Any) -> None:
    assert (
        redact("POST /v2/translate?auth_key=abc:fx&x=1 HTTP/1.1")
        == "POST /v2/translate?auth_key=[redacted]&x=1 HTTP/1.1"
    )
    assert redact("/translate?q=猫&API_KEY=s3cr3t") == "/translate?q=猫&API_KEY=[redacted]"
    # uvicorn's access log line: the path is an argument of the record.
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5", "POST", "/v2/translate?auth_key=k-123", "1.1", 200),
        None,
    )
    assert RedactSecrets().filter(record) and "k-123" not in record.getMessage()
    make_client()  # the app installs the filter at start-up, once uvicorn has configured its loggers
    assert any(isinstance(f, RedactSecrets) for f in logging.getLogger("uvicorn.access").filters)


def test_the_access_log_of_a_live_server_never_shows_a_key(registry: Path) -> None:
    import threading

    import uvicorn
    from conftest import free_port

    lines: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(record.getMessage())

    engine = BreakingTranslator(Manifest(name="ja-en", family="marian", languages=("ja", "en"), source="test"))
    settings = ServeSettings(engine=Settings(registry=(registry,)), batch_wait_ms=0)
    app = create_app(settings, TranslationService(settings, loader=lambda directory, runtime: engine))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="info", access_log=True))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    keep = Keep()
    try:
        deadline = time.monotonic() + 30
        while not server.started:
            assert time.monotonic() < deadline and thread.is_alive(), "the server did not start"
            time.sleep(0.05)
        logging.getLogger("uvicorn.access").addHandler(keep)
        url = f"http://127.0.0.1:{port}/v2/usage?auth_key=s3cret-key:fx&x=1"
        assert httpx.get(url, timeout=30).status_code == 200
    finally:
        logging.getLogger("uvicorn.access").removeHandler(keep)
        server.should_exit = True
        thread.join(timeout=30)
    logged = [line for line in lines if "/v2/usage" in line]
    assert logged and all("s3cret" not in line and "auth_key=[redacted]" in line for line in logged), lines


# -- 3. information leaks


def test_no_response_reveals_server_paths(make_client: Any, registry: Path, tmp_path: Path) -> None:
    client = make_client()
    models = client.get("/v1/models").json()["models"]
    assert models and all("path" not in m for m in models)
    assert str(registry.parent) not in client.get("/v1/models").text
    # An engine failure naming its directory answers 500 without the path; the log has it.
    r = client.post("/v1/translate", json={"text": "模型。", "source": "ja", "target": "en"})
    assert r.status_code == 500 and "/srv/secret" not in r.text
    assert r.json()["error"] == {"type": "InternalError", "message": "internal error; the server log has the details"}
    # A request naming a directory gets the same answer whether it exists or not.
    answers = []
    for name in (str(tmp_path), str(tmp_path / "missing")):
        r = client.post("/v1/translate", json={"text": "猫。", "source": "ja", "target": "en", "model": name})
        answers.append((r.status_code, r.json()["error"]["message"].replace(name, "NAME")))
    assert answers[0] == answers[1] and answers[0][0] == 404


# -- 4. 500s from client input


JSON_ENDPOINTS = ["/v1/translate", "/v1/detect", "/translate", "/detect", "/v2/translate", "/v2/glossaries"]


@pytest.mark.parametrize("path", JSON_ENDPOINTS)
def test_deeply_nested_json_is_refused(make_client: Any, path: str) -> None:
    client = make_client()
    headers = {"content-type": "application/json"}
    for depth in (100_000, MAX_JSON_DEPTH + 1):
        r = client.post(path, content=b'{"a":' + b"[" * depth + b"]" * depth + b"}", headers=headers)
        assert r.status_code == 400, (path, depth, r.text)
        assert f"deeper than {MAX_JSON_DEPTH}" in r.text


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/translate", '{"text": "\\ud800 猫", "source": "ja", "target": "en"}'),
        ("/translate", '{"q": "\\udfff", "source": "ja", "target": "en", "format": "html"}'),
        ("/v2/translate", '{"text": ["猫", "\\ud800"], "target_lang": "EN-US"}'),
        ("/v1/detect", '{"texts": ["\\ud800"]}'),
        ("/v1/translate", '{"text": "猫", "target": "en", "glossary": {"\\ud800": "x"}, "source": "ja"}'),
    ],
)
def test_unpaired_surrogates_in_json_are_refused(make_client: Any, path: str, body: str) -> None:
    r = make_client().post(path, content=body.encode(), headers={"content-type": "application/json"})
    assert r.status_code == 400 and "unpaired surrogate" in r.text, r.text


def test_control_characters_a_model_emits_do_not_break_markup() -> None:
    from mt import Translation
    from serve._markup import translate_documents

    def run(texts: list[str], source: str | None) -> list[Translation]:
        return [Translation("a\x0bb\x00c\x1f\ufffe", "ja", "en", 0.0) for _ in texts]

    for markup, document in (("html", "<p>猫です。</p>"), ("xml", "<p>猫です。</p>")):
        assert translate_documents([document], markup, run)[0][0] == "<p>abc</p>"


@pytest.mark.parametrize(
    ("options", "fragment"),
    [
        ('{"repetition_penalty": 1e-320}', "repetition_penalty must be between 0.01 and 100"),
        ('{"sampling_topp": 1e-50}', "sampling_topp must be between 0.01 and 1"),
        ('{"length_penalty": NaN}', "NaN is not JSON"),
        ('{"length_penalty": -1e17}', "length_penalty must be between 0 and 10"),
        ('{"sampling_temperature": 1e-300}', "sampling_temperature must be between 0.01 and 100"),
        ('{"sampling_temperature": Infinity}', "Infinity is not JSON"),
    ],
)
def test_decoding_options_out_of_range_answer_400(make_client: Any, options: str, fragment: str) -> None:
    body = '{"text": "猫です。", "source": "ja", "target": "en", "options": ' + options + "}"
    r = make_client().post("/v1/translate", content=body.encode(), headers={"content-type": "application/json"})
    assert r.status_code == 400 and fragment in r.json()["error"]["message"], r.text


def test_every_option_bound_is_in_the_schema() -> None:
    options = openapi_spec()["paths"]["/v1/translate"]["post"]["requestBody"]["content"]["application/json"]
    schema = options["schema"]["properties"]["options"]["properties"]
    for name, prop in schema.items():
        if prop["type"] == "number":
            assert "minimum" in prop and "maximum" in prop, name


@pytest.mark.integration
def test_sampling_topk_above_the_vocabulary_answers_400(start_server) -> None:  # type: ignore[no-untyped-def]
    server = start_server()
    body = {
        "text": "猫です。",
        "source": "ja",
        "target": "en",
        "options": {"sampling_topk": 10**8, "max_decoding_length": 4},
    }
    r = httpx.post(f"{server.url}/v1/translate", json=body, timeout=60)
    assert r.status_code == 400 and "vocabulary size" in r.json()["error"]["message"], r.text
    r = httpx.post(f"{server.url}/v1/translate", json={**body, "stream": True}, timeout=60)
    assert r.status_code == 400 and "vocabulary size" in r.json()["error"]["message"], r.text


# -- 5. bodies are counted while they arrive


@pytest.mark.integration
def test_a_chunked_body_is_refused_at_the_limit_not_read_whole(start_server) -> None:  # type: ignore[no-untyped-def]
    server = start_server()
    chunk = b"x" * (256 * 1024)
    sent = 0
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(
            b"POST /v2/translate HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        try:
            while sent < 50 * 1024 * 1024:
                if select.select([sock], [], [], 0)[0]:
                    break  # the server answered
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                sent += len(chunk)
        except OSError:
            pass  # the server closed the connection while we were still sending
        answer = b""
        deadline = time.monotonic() + 30
        while b"\r\n\r\n" not in answer and time.monotonic() < deadline:
            data = sock.recv(65536)
            if not data:
                break
            answer += data
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert MAX_BODY_BYTES < sent < 24 * 1024 * 1024, sent


def test_a_declared_length_over_the_limit_is_refused_before_reading(make_client: Any) -> None:
    r = make_client().post(
        "/v1/translate",
        content=b"{}",
        headers={"content-type": "application/json", "content-length": str(MAX_BODY_BYTES + 1)},
    )
    assert r.status_code == 413 and str(MAX_BODY_BYTES) in r.json()["error"]["message"]


# -- 6. forms are UTF-8


def test_raw_utf8_forms_are_decoded_as_utf8(make_client: Any) -> None:
    client = make_client()
    form = {"content-type": "application/x-www-form-urlencoded"}
    r = client.post("/v2/translate", content="text=猫が好きです。&target_lang=EN-US".encode(), headers=form)
    assert r.status_code == 200, r.text
    row = r.json()["translations"][0]
    assert row == {"detected_source_language": "JA", "text": "[en-US]猫が好きです。", "billed_characters": 7}
    # Percent-encoded UTF-8 (what curl --data-urlencode and every client library send) and multipart agree.
    r = client.post("/v2/translate", data={"text": "猫が好きです。", "target_lang": "EN-US"})
    assert r.json()["translations"][0] == row
    r = client.post("/translate", files={"q": (None, "猫です。"), "source": (None, "ja"), "target": (None, "en")})
    assert r.status_code == 200 and r.json()["translatedText"] == "[en]猫です。", r.text


@pytest.mark.parametrize("body", [b"text=\xe7\x8c&target_lang=EN-US", b"text=%E7%8C&target_lang=EN-US"])
def test_undecodable_form_bytes_answer_400(make_client: Any, body: bytes) -> None:
    r = make_client().post("/v2/translate", content=body, headers={"content-type": "application/x-www-form-urlencoded"})
    assert r.status_code == 400 and "UTF-8" in r.json()["message"], r.text


# -- 7. a failing stream ends with an error event


def _events(text: str) -> list[tuple[str, Any]]:
    out = []
    for block in text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        out.append((lines["event"], json.loads(lines["data"])))
    return out


def test_a_failing_stream_ends_with_an_error_event(make_client: Any) -> None:
    client = make_client()
    body = {"texts": ["猫です。", "壊れる。"], "source": "ja", "target": "en", "stream": True}
    with client.stream("POST", "/v1/translate", json=body) as r:
        assert r.status_code == 200
        text = "".join(r.iter_text())  # read to the end: the response is closed properly, not cut off
    events = _events(text)
    assert [kind for kind, _ in events][-1] == "error" and "done" not in [kind for kind, _ in events]
    assert events[-1][1] == {"type": "InternalError", "message": "internal error; the server log has the details"}
    assert any(kind == "translation" and data["text_index"] == 0 for kind, data in events)


# -- 8. the OpenAPI document matches the server


def _spec_response(path: str, method: str, status: int) -> dict[str, Any]:
    return openapi_spec()["paths"][path][method]["responses"][str(status)]


def _check(response: httpx.Response, path: str, method: str) -> None:
    documented = _spec_response(path, method, response.status_code)
    schema = documented["content"]["application/json"]["schema"]
    jsonschema.validate(response.json(), {**schema, "components": openapi_spec().get("components", {})})


def test_error_bodies_match_each_api_s_schema(make_client: Any) -> None:
    client = make_client()
    r = client.post("/translate", json={"q": "猫", "source": "ja"})
    assert r.status_code == 400 and isinstance(r.json()["error"], str)
    _check(r, "/translate", "post")
    r = client.post("/v2/translate", data={"text": "猫"})
    _check(r, "/v2/translate", "post")
    r = client.post("/v1/translate", json={"text": "猫"})
    _check(r, "/v1/translate", "post")


def test_405_names_the_allowed_methods(make_client: Any) -> None:
    client = make_client()
    r = client.put("/v1/translate")
    assert r.status_code == 405 and r.headers["allow"] == "POST"
    r = client.delete("/v2/languages")
    assert r.status_code == 405 and set(r.headers["allow"].split(", ")) >= {"GET", "POST"}


def test_detect_refuses_what_its_schema_refuses(make_client: Any) -> None:
    client = make_client()
    schema = openapi_spec()["paths"]["/v1/detect"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    for body in ({}, {"text": "a", "texts": ["b"]}, {"other": 1}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(body, schema)
        r = client.post("/v1/detect", json=body)
        assert r.status_code == 400, body
        _check(r, "/v1/detect", "post")
    r = client.post("/v1/detect", json={"text": "これは日本語です。"})
    assert r.status_code == 200
    _check(r, "/v1/detect", "post")


def test_stream_events_match_their_schema(make_client: Any) -> None:
    client = make_client()
    stream = _spec_response("/v1/translate", "post", 200)["content"]["text/event-stream"]["schema"]
    events_schema = {
        item["properties"]["event"]["const"]: item["properties"]["data"]["contentSchema"] for item in stream["oneOf"]
    }
    body = {"texts": ["猫です。犬です。", "壊れる。"], "source": "ja", "target": "en", "stream": True}
    with client.stream("POST", "/v1/translate", json=body) as r:
        events = _events("".join(r.iter_text()))
    assert {kind for kind, _ in events} == {"delta", "translation", "error"}
    for kind, data in events:
        jsonschema.validate(data, {**events_schema[kind], "components": openapi_spec().get("components", {})})
    with client.stream("POST", "/v1/translate", json={**body, "texts": ["猫です。"]}) as r:
        kind, data = _events("".join(r.iter_text()))[-1]
    assert kind == "done"
    jsonschema.validate(data, events_schema["done"])


@pytest.mark.parametrize("text", ["<p></p>", "<br/>", "<p>123</p>", ""])
def test_deepl_markup_always_names_a_detected_language(make_client: Any, text: str) -> None:
    r = make_client().post("/v2/translate", data={"text": text, "target_lang": "EN-US", "tag_handling": "html"})
    assert r.status_code == 200, r.text
    assert r.json()["translations"][0]["detected_source_language"] in ("EN", "JA")


# -- the newcomer's view


def test_an_unknown_language_lists_what_can_be_translated(make_client: Any) -> None:
    r = make_client().post("/v1/translate", json={"text": "猫。", "source": "xx-bogus", "target": "en"})
    message = r.json()["error"]["message"]
    assert r.status_code == 400 and "the installed models translate: en, ja" in message
    assert "fr" not in message.split("translate:")[1]  # not every code the parser knows


def test_a_file_given_to_translate_points_to_translate_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from mt.cli import main

    document = tmp_path / "notes.txt"
    document.write_text("猫です。\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert main(["translate", "notes.txt", "--to", "en"]) == 2
    error = capsys.readouterr().err
    assert "'notes.txt' is a file" in error and "kakehashi translate-file notes.txt" in error


def test_every_cli_flag_has_help_and_serve_lists_every_setting(capsys: pytest.CaptureFixture[str]) -> None:
    import argparse
    import dataclasses

    from mt.cli import build_parser
    from serve import cli as serve_cli

    def parsers(parser: argparse.ArgumentParser) -> Iterator[tuple[str, argparse.ArgumentParser]]:
        yield parser.prog, parser
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for sub in action.choices.values():
                    yield from parsers(sub)

    missing = [
        f"{prog} {action.option_strings or action.dest}"
        for root in (build_parser(), serve_cli.build_parser())
        for prog, parser in parsers(root)
        if parser.add_help
        for action in parser._actions
        if not action.help and not isinstance(action, argparse._SubParsersAction)
    ]
    assert not missing, missing
    with pytest.raises(SystemExit):
        serve_cli.main(["serve", "--help"])
    shown = capsys.readouterr().out
    for f in dataclasses.fields(ServeSettings):
        if f.name != "engine":
            assert f"KAKEHASHI_{f.name.upper()}" in shown, f.name


def test_serve_flags_reach_the_settings() -> None:
    from serve import cli as serve_cli

    args = serve_cli.build_parser().parse_args(
        ["serve", "--max-queue", "7", "--require-api-key", "--public-paths", "/healthz,/metrics"]
    )
    overrides = serve_cli.setting_overrides(args)
    assert overrides == {"max_queue": 7, "require_api_key": True, "public_paths": "/healthz,/metrics"}
    settings = ServeSettings.load(environ={}, **overrides)
    assert settings.max_queue == 7 and settings.public_paths == ("/healthz", "/metrics")
