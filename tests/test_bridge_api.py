"""References and cultural notes on the native API: /v1/translate, its SSE stream and the OpenAPI document."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from fakes import FakeIndex, annotated_service
from mt import Manifest
from mt._annotate import Annotator
from mt._errors import ReferenceIndexMissing
from serve._service import TranslationService
from serve.app import create_app

TEXT = "祇園祭は祭です。清水寺へ行く。"


@pytest.fixture
def service(tmp_path: Path) -> Iterator[TranslationService]:
    service, _ = annotated_service(tmp_path)
    yield service
    service.stop()


@pytest.fixture
def client(service: TranslationService) -> Iterator[TestClient]:
    with TestClient(create_app(service.settings, service)) as client:
        yield client


def _post(client: TestClient, **fields: Any) -> Any:
    body = {"texts": [TEXT], "source": "ja", "target": "en", "options": {"beam_size": 1}, **fields}
    return client.post("/v1/translate", json=body)


def test_references_and_notes_on_translate(client: TestClient) -> None:
    response = _post(client, references=True, notes=True, k=2)
    assert response.status_code == 200, response.text
    row = response.json()["translations"][0]
    assert row["annotations"] == {"references": "ok", "notes": "ok"}
    first, second = row["segments"]
    assert [r["id"] for r in first["references"]] == ["CLT00199:s1"] and first["support"] == 0.0
    assert first["references"][0]["url"] == "https://ja.wikipedia.org/?curid=817202"
    assert second["references"] == [] and second["support"] == 0.0
    notes = {n["term"]: n for n in row["notes"]}
    assert notes["祇園祭"]["gloss"] == "Gion Matsuri Festival" and notes["祇園祭"]["start"] == 0
    assert notes["清水寺"]["url"] == "https://ja.wikipedia.org/?curid=1758861"
    assert TEXT[notes["清水寺"]["start"] : notes["清水寺"]["end"]] == "清水寺"
    # Not asked for: not there.
    plain = _post(client).json()["translations"][0]
    assert "notes" not in plain and "annotations" not in plain and "references" not in plain["segments"][0]
    only_notes = _post(client, notes=True).json()["translations"][0]
    assert only_notes["annotations"] == {"notes": "ok"} and "references" not in only_notes["segments"][0]


def test_a_missing_index_answers_an_explicit_status(client: TestClient, service: TranslationService) -> None:
    def missing(model_dir: Path, manifest: Manifest) -> FakeIndex:
        raise ReferenceIndexMissing(manifest.name, [model_dir])

    service.annotator = Annotator(service.kakehashi.registry, index_loader=missing)
    row = _post(client, references=True).json()["translations"][0]
    status = row["annotations"]["references"]
    assert status == "no index for model ja-en: run kakehashi index build --model ja-en", "no server path shown"
    assert all(s["references"] is None and s["support"] is None for s in row["segments"])


@pytest.mark.parametrize(
    "fields, message",
    [({"notes": "yes"}, "'notes' must be true or false"), ({"k": 0}, "'k' must be an integer from 1 to 20")],
)
def test_bad_flags_are_refused(client: TestClient, fields: dict[str, Any], message: str) -> None:
    response = _post(client, **fields)
    assert response.status_code == 400 and message in response.text


def _events(text: str) -> list[tuple[str, dict[str, Any]]]:
    events = []
    for block in text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        events.append((lines["event"], json.loads(lines["data"])))
    return events


def test_the_final_sse_event_carries_references_and_notes(client: TestClient) -> None:
    response = _post(client, references=True, notes=True, stream=True)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
    events = _events(response.text)
    assert [kind for kind, _ in events][-2:] == ["translation", "done"]
    assert all("references" not in data and "notes" not in data for kind, data in events if kind == "delta")
    final = events[-2][1]
    assert final["annotations"] == {"references": "ok", "notes": "ok"}
    assert final["segments"][0]["references"][0]["corpus"] == "wiki_kyoto"
    assert [n["term"] for n in final["notes"]] == ["祇園祭", "清水寺"]


def test_openapi_documents_references_and_notes(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    operation = spec["paths"]["/v1/translate"]["post"]
    request = operation["requestBody"]["content"]["application/json"]["schema"]["properties"]
    assert request["references"]["type"] == request["notes"]["type"] == "boolean"
    assert request["k"]["maximum"] == 20
    row = operation["responses"]["200"]["content"]["application/json"]["schema"]["properties"]["translations"]
    row = row["items"]["properties"]
    served = _post(client, references=True, notes=True).json()["translations"][0]
    assert set(row) == set(served)
    assert set(row["notes"]["items"]["properties"]) == set(served["notes"][0])
    segment = row["segments"]["items"]["properties"]
    assert set(segment) == set(served["segments"][0])
    assert set(segment["references"]["items"]["properties"]) == set(served["segments"][0]["references"][0])
    assert row["annotations"]["additionalProperties"] == {"type": "string"}


@pytest.mark.integration
def test_the_cli_prints_notes_and_the_reference_status(tiny_registry: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from mt.cli import main

    common = ["translate", "--registry", str(tiny_registry), "--from", "ja", "--to", "en", "--beam", "1"]
    assert main([*common, "--max-length", "6", "--references", "--notes", "--json", "祇園祭は祭です。"]) == 0
    row = json.loads(capsys.readouterr().out)
    assert row["annotations"]["notes"] == "ok" and row["annotations"]["references"] != "ok"
    assert "tiny-marian" in row["annotations"]["references"]
    assert row["notes"][0]["term"] == "祇園祭" and row["segments"][0]["references"] is None
    assert main([*common, "--max-length", "6", "--notes", "清水寺へ行く。"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[1] == "  ※ 清水寺 (きよみずでら, Kiyomizudera): Kiyomizu-dera Temple"
    assert out[3] == "      https://ja.wikipedia.org/?curid=1758861 (CC BY-SA 3.0)"
    assert main([*common, "--max-length", "6", "祇園祭"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 1
