"""Document jobs: the store and its retention (unit), then the API with its own worker thread, tiny real models
and an in-process Redis (integration): upload → poll → download, the DeepL client, and bad input."""

from __future__ import annotations

import io
import json
import time
import zipfile
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest

from serve._jobs import JobSpec, JobStore, safe_filename

# Beam 2 (faster), and nothing translate-file cannot set, so that jobs and the command translate alike.
FAST = {"beam_size": 2}
JSON = "application/json"
TEXT = "猫が好きです。\n\n犬も好きです。\n\n京都に行きました。\n"


def fake_store(tmp_path: Path, inline_bytes: int = 16, retention_s: int = 60) -> JobStore:
    import fakeredis

    return JobStore(fakeredis.FakeRedis(server=fakeredis.FakeServer()), tmp_path / "jobs", inline_bytes, retention_s)


# -- units


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("report.docx", "report.docx"),
        ("../../etc/passwd.txt", "passwd.txt"),
        ("C:\\Users\\me\\..\\notes.md", "notes.md"),
        ("..hidden.txt", "hidden.txt"),
        ("a\x00b\nc.txt", "abc.txt"),
        ("京都ガイド.md", "京都ガイド.md"),
    ],
)
def test_safe_filename_keeps_only_a_harmless_base_name(name: str, expected: str) -> None:
    assert safe_filename(name) == expected


@pytest.mark.parametrize("name", ["", "..", "../", "dir/..", "\x01\x02"])
def test_safe_filename_refuses_names_with_nothing_left(name: str) -> None:
    from mt import InvalidRequest

    with pytest.raises(InvalidRequest, match="no usable base name"):
        safe_filename(name)


def test_store_keeps_small_files_in_redis_and_large_ones_in_the_job_directory(tmp_path: Path) -> None:
    store = fake_store(tmp_path, inline_bytes=16)
    small = store.create("key:alice", "a.txt", JobSpec(target="en"), b"short")
    large = store.create("key:alice", "b.txt", JobSpec(target="en"), b"x" * 100)
    assert not (tmp_path / "jobs" / small.job_id).exists()
    assert (tmp_path / "jobs" / large.job_id / "upload").read_bytes() == b"x" * 100
    assert store.read_file(small.job_id, "upload") == b"short"
    assert store.read_file(large.job_id, "upload") == b"x" * 100
    store.finish(large.job_id, b"y" * 50)
    assert store.read_file(large.job_id, "result") == b"y" * 50
    done = store.get(large.job_id)
    assert done.status == "done" and done.finished >= done.created
    # Every key of a job expires with the retention time.
    for part in ("", ":upload", ":result"):
        assert 0 < store.client.ttl(f"kakehashi:doc:{large.job_id}{part}") <= 60


def test_store_owner_and_document_key_decide_who_reads_a_job(tmp_path: Path) -> None:
    from serve._errors import NotFound

    store = fake_store(tmp_path)
    record = store.create("key:alice", "a.txt", JobSpec(target="en"), b"data")
    assert store.owned(record.job_id, "key:alice").job_id == record.job_id
    assert store.owned(record.job_id, "key:alice", record.document_key).job_id == record.job_id
    for owner, key in (("key:bob", None), ("anonymous", None), ("key:alice", "0" * 64)):
        with pytest.raises(NotFound, match="not found"):
            store.owned(record.job_id, owner, key)
    for bad in ("../../etc", "nope", record.job_id.lower()):
        with pytest.raises(NotFound, match="not found"):
            store.get(bad)


def test_sweep_deletes_directories_of_expired_jobs_only(tmp_path: Path) -> None:
    import os

    store = fake_store(tmp_path, inline_bytes=1)
    kept = store.create("anonymous", "a.txt", JobSpec(target="en"), b"kept")
    gone = store.create("anonymous", "b.txt", JobSpec(target="en"), b"gone")
    store.client.delete(f"kakehashi:doc:{gone.job_id}")  # what expiry does
    (tmp_path / "jobs" / "not-a-job").mkdir()
    old = time.time() - 3600
    for job in (kept, gone):
        os.utime(tmp_path / "jobs" / job.job_id, (old, old))
    assert store.sweep() == 1
    assert (tmp_path / "jobs" / kept.job_id).exists() and not (tmp_path / "jobs" / gone.job_id).exists()
    assert (tmp_path / "jobs" / "not-a-job").exists()


def test_a_worker_needs_the_redis_the_api_uses() -> None:
    from mt import InvalidRequest
    from serve._settings import ServeSettings
    from serve.worker import run_worker

    for url in ("", "none"):
        with pytest.raises(InvalidRequest, match="give --redis-url redis://host:port/db"):
            run_worker(ServeSettings(redis_url=url))


def test_jobs_need_a_shared_redis_when_the_server_runs_several_processes(tmp_path: Path) -> None:
    from mt import InvalidRequest
    from serve._errors import StoreUnavailable
    from serve._jobs import DocumentJobs
    from serve._settings import ServeSettings

    jobs = DocumentJobs(ServeSettings(workers=2), service=None)
    jobs.start()
    with pytest.raises(StoreUnavailable, match="processes share: serve with --redis-url"):
        jobs.submit("anonymous", "a.txt", JobSpec(target="en"), b"x")
    with pytest.raises(InvalidRequest, match="accepted: auto, thread, off"):
        DocumentJobs(ServeSettings(document_worker="sometimes"), service=None)


# -- the API with its own worker thread

SHIPPED = Path(__file__).resolve().parents[1] / "data" / "models" / "kakehashi-ja-en"


@pytest.fixture(scope="session")
def shipped_registry(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped default alone: a real model, whose output does not depend on how sentences are batched (the
    tiny random models' near-uniform scores do), so a job's output can be compared with the local engine's."""
    path = tmp_path_factory.mktemp("shipped") / "registry.toml"
    path.write_text(f'[[model]]\nname = "kakehashi-ja-en"\npath = "{SHIPPED}"\ndefault = true\n', encoding="utf-8")
    return path


@pytest.fixture
def start_shipped(shipped_registry: Path):  # type: ignore[no-untyped-def]
    """``start_shipped(**ServeSettings fields)`` → a LiveServer with the shipped default model."""
    from conftest import live_servers

    yield from live_servers(shipped_registry)


def upload(url: str, name: str, data: bytes, **fields: Any) -> httpx.Response:
    form = {"target": "en", "source": "ja", "options": json.dumps(FAST), **fields}
    return httpx.post(f"{url}/v1/documents", data=form, files={"file": (name, data)}, timeout=60)


def wait_done(url: str, job_id: str, timeout_s: float = 60, **kwargs: Any) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status = httpx.get(f"{url}/v1/documents/{job_id}", timeout=30, **kwargs).json()
        if status["status"] in ("done", "error"):
            return status
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} did not finish within {timeout_s} s: {status}")


def cli_translation(registry: Path, name: str, data: bytes, work: Path) -> bytes:
    """The same document translated by ``kakehashi translate-file`` (beam 2, as :data:`FAST`), in this process.

    Equal outputs need equal batches (CTranslate2's float operations make a sentence's translation depend slightly
    on the sentences batched with it): a job translates in the command's chunks, through the same local engine."""
    from mt.cli import main

    work.mkdir(parents=True, exist_ok=True)
    source, output = work / name, work / f"out-{name}"
    source.write_bytes(data)
    arguments = ["translate-file", str(source), "--from", "ja", "--to", "en", "-o", str(output), "--quiet"]
    arguments += ["--registry", str(registry), "--beam", str(FAST["beam_size"]), "--journal", str(work / "journal")]
    assert main(arguments) == 0
    return output.read_bytes()


@pytest.mark.integration
@pytest.mark.shipped
def test_upload_poll_download_equals_the_cli_output(start_shipped, shipped_registry: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    server = start_shipped(batch_wait_ms=0)
    document = "# 京都\n\n猫が*好き*です。\n\n- 犬も好きです。\n- 京都に行きました。\n"
    created = upload(server.url, "../guide.md", document.encode())
    assert created.status_code == 202, created.text
    job = created.json()
    assert job["status"] in ("queued", "translating", "done") and job["filename"] == "guide.md"
    status = wait_done(server.url, job["id"])
    assert status["status"] == "done", status
    documented = httpx.get(f"{server.url}/openapi.json").json()["paths"]
    jsonschema.validate(
        status, documented["/v1/documents/{job_id}"]["get"]["responses"]["200"]["content"][JSON]["schema"]
    )
    deepl_status = httpx.post(f"{server.url}/v2/document/{job['id']}", json={"document_key": job["document_key"]})
    assert deepl_status.json()["status"] == "done" and deepl_status.json()["billed_characters"] > 0
    jsonschema.validate(
        deepl_status.json(), documented["/v2/document/{job_id}"]["post"]["responses"]["200"]["content"][JSON]["schema"]
    )
    assert status["progress"]["done"] == status["progress"]["total"] > 0
    assert status["characters"] > 0 and status["error"] is None
    result = httpx.get(f"{server.url}/v1/documents/{job['id']}/result", timeout=30)
    assert result.status_code == 200
    assert result.headers["content-type"].startswith("text/markdown")
    assert 'filename="guide.md"' in result.headers["content-disposition"]
    expected = cli_translation(shipped_registry, "guide.md", document.encode(), tmp_path / "cli")
    assert result.content.decode() == expected.decode()


@pytest.mark.integration
@pytest.mark.shipped
def test_a_job_applies_a_glossary_of_its_key(start_shipped) -> None:  # type: ignore[no-untyped-def]
    server = start_shipped(batch_wait_ms=0)
    glossary = httpx.post(
        f"{server.url}/v2/glossaries",
        json={
            "name": "kyoto",
            "source_lang": "ja",
            "target_lang": "en",
            "entries": "金閣寺\tGolden Pavilion",
            "entries_format": "tsv",
        },
    ).json()
    text = "金閣寺に行きました。\n".encode()
    plain = upload(server.url, "visit.txt", text).json()
    forced = upload(server.url, "visit.txt", text, glossary_id=glossary["glossary_id"]).json()
    results = []
    for job in (plain, forced):
        assert wait_done(server.url, job["id"])["status"] == "done"
        results.append(httpx.get(f"{server.url}/v1/documents/{job['id']}/result").text)
    assert "Golden Pavilion" not in results[0] and "Golden Pavilion" in results[1], results
    unknown = upload(server.url, "visit.txt", text, glossary_id="no-such-glossary")
    assert unknown.status_code == 404 and "not found" in unknown.json()["error"]["message"]


@pytest.mark.integration
def test_a_word_document_comes_back_as_a_word_document(start_server) -> None:  # type: ignore[no-untyped-def]
    import docx

    source = docx.Document()
    source.add_heading("京都", level=1)
    source.add_paragraph("猫が好きです。").runs[0].bold = True
    source.add_paragraph("犬も好きです。")
    buffer = io.BytesIO()
    source.save(buffer)
    server = start_server(batch_wait_ms=0)
    created = upload(server.url, "旅行.docx", buffer.getvalue())
    assert created.status_code == 202, created.text
    assert wait_done(server.url, created.json()["id"])["status"] == "done"
    result = httpx.get(f"{server.url}/v1/documents/{created.json()['id']}/result")
    assert result.headers["content-type"] == "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    assert "filename*=UTF-8''%E6%97%85%E8%A1%8C.docx" in result.headers["content-disposition"]
    translated = docx.Document(io.BytesIO(result.content))
    assert len(translated.paragraphs) == 3 and translated.paragraphs[1].runs[0].bold
    assert all("猫" not in p.text and "犬" not in p.text for p in translated.paragraphs)


@pytest.mark.integration
def test_bad_uploads_answer_with_what_is_accepted(start_server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    server = start_server(max_document_bytes=2000, document_worker="off")
    too_big = upload(server.url, "a.txt", b"x" * 3000)
    assert too_big.status_code == 413 and "at most 2000 bytes" in too_big.json()["error"]["message"]
    unsupported = upload(server.url, "a.exe", b"MZ\x90\x00")
    assert unsupported.status_code == 415
    message = unsupported.json()["error"]["message"]
    assert "type .exe are not supported" in message and ".docx" in message and ".txt" in message
    no_file = httpx.post(f"{server.url}/v1/documents", data={"target": "en"}, files={"other": ("a", b"x")})
    assert no_file.status_code == 400 and "accepted: file, target" in no_file.json()["error"]["message"]
    assert upload(server.url, "a.txt", b"").status_code == 400
    assert "'target'" in upload(server.url, "a.txt", b"x", target="").json()["error"]["message"]
    pair = upload(server.url, "a.txt", b"x", target="de")
    assert pair.status_code == 400 and "translates ja→de" in pair.json()["error"]["message"]
    bad_options = upload(server.url, "a.txt", b"x", options='{"beam_size": 99}')
    assert bad_options.status_code == 400 and "beam_size" in bad_options.json()["error"]["message"]
    assert upload(server.url, "..", b"x").status_code == 400
    for path in ("/v1/documents/0123456789ABCDEF0123456789ABCDEF", "/v1/documents/..%2F..%2Fetc"):
        missing = httpx.get(f"{server.url}{path}")
        assert missing.status_code == 404 and "no" in missing.json()["error"]["message"]
    # No worker runs here: the result is not ready, and the client is told when to come back.
    queued = upload(server.url, "a.txt", TEXT.encode()).json()
    early = httpx.get(f"{server.url}/v1/documents/{queued['id']}/result")
    assert early.status_code == 503 and int(early.headers["retry-after"]) >= 1
    assert "is queued" in early.json()["error"]["message"]
    deepl_early = httpx.post(
        f"{server.url}/v2/document/{queued['id']}/result", json={"document_key": queued["document_key"]}
    )
    assert deepl_early.status_code == 503 and "retry after" in deepl_early.json()["message"]
    assert deepl_early.headers["retry-after"]
    no_key = httpx.post(f"{server.url}/v2/document/{queued['id']}", json={})
    assert no_key.status_code == 400 and "document_key" in no_key.json()["message"]
    assert httpx.get(f"{server.url}/healthz").status_code == 200


def zip_bomb() -> bytes:
    """A .docx whose one member inflates to 200 MB from a few hundred kilobytes."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        with archive.open("word/document.xml", "w") as member:
            chunk = b"\0" * (1 << 20)
            for _ in range(200):
                member.write(chunk)
    return buffer.getvalue()


@pytest.mark.integration
def test_corrupt_and_hostile_documents_end_as_job_errors(start_server) -> None:  # type: ignore[no-untyped-def]
    server = start_server(max_document_bytes=2_000_000)
    for name, data, fragment in (
        ("broken.docx", b"PK\x03\x04 not really a zip", "docx"),
        ("bomb.docx", zip_bomb(), "docx"),
        ("bad.srt", b"1\nthis is not a timestamp\nhello\n\n", "srt"),
    ):
        created = upload(server.url, name, data)
        assert created.status_code == 202, created.text
        status = wait_done(server.url, created.json()["id"])
        assert status["status"] == "error" and status["error"], status
        assert name in status["error"] or fragment in status["error"].lower(), status
        result = httpx.get(f"{server.url}/v1/documents/{created.json()['id']}/result")
        assert result.status_code == 400 and "failed" in result.json()["error"]["message"]
    assert httpx.get(f"{server.url}/healthz").status_code == 200
    good = upload(server.url, "ok.txt", TEXT.encode())
    assert wait_done(server.url, good.json()["id"])["status"] == "done"


@pytest.mark.integration
def test_jobs_are_read_only_by_the_key_that_made_them(start_server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from serve._access import new_key

    keys = tmp_path / "keys.toml"
    alice, bob = new_key("alice", keys), new_key("bob", keys)
    server = start_server(api_keys_file=str(keys), require_api_key=True)
    as_alice = {"Authorization": f"Bearer {alice}"}
    as_bob = {"Authorization": f"Bearer {bob}"}
    anonymous = upload(server.url, "a.txt", TEXT.encode())
    assert anonymous.status_code == 403
    form = {"target": "en", "source": "ja", "options": json.dumps(FAST)}
    created = httpx.post(
        f"{server.url}/v1/documents", data=form, files={"file": ("a.txt", TEXT.encode())}, headers=as_alice
    )
    job_id = created.json()["id"]
    assert wait_done(server.url, job_id, headers=as_alice)["status"] == "done"
    for path in (f"/v1/documents/{job_id}", f"/v1/documents/{job_id}/result"):
        assert httpx.get(f"{server.url}{path}", headers=as_bob).status_code == 404
        assert httpx.get(f"{server.url}{path}", headers=as_alice).status_code == 200
    deepl_status = httpx.post(
        f"{server.url}/v2/document/{job_id}",
        json={"document_key": created.json()["document_key"]},
        headers={"Authorization": f"DeepL-Auth-Key {bob}"},
    )
    assert deepl_status.status_code == 404 and "not found" in deepl_status.json()["message"]


@pytest.mark.integration
def test_deepl_client_translates_a_document_end_to_end(start_server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import deepl

    server = start_server(batch_wait_ms=0)
    translator = deepl.Translator("any-key", server_url=server.url, send_platform_info=False)
    source = tmp_path / "letter.txt"
    source.write_text("猫が好きです。\n\n犬も好きです。\n", encoding="utf-8")
    output = tmp_path / "letter.en.txt"
    status = translator.translate_document_from_filepath(source, output, source_lang="JA", target_lang="EN-US")
    assert status.done and status.billed_characters == len("猫が好きです。犬も好きです。")
    translated = output.read_text(encoding="utf-8")
    assert translated.count("\n\n") == 1 and "猫" not in translated
    with pytest.raises(deepl.DeepLException, match="not supported"):
        translator.translate_document_from_filepath(source, tmp_path / "x.docx", target_lang="EN-US")
    bad = tmp_path / "program.exe"
    bad.write_bytes(b"MZ")
    with bad.open("rb") as handle, pytest.raises(deepl.DeepLException, match="Bad request.*accepted: .*docx"):
        translator.translate_document_upload(handle, target_lang="EN-US")


@pytest.mark.integration
@pytest.mark.slow
def test_document_endpoints_hold_under_fuzzing(start_server) -> None:  # type: ignore[no-untyped-def]
    """Schemathesis on the served description of the document endpoints only: no 5xx, and every status, header,
    content type and body one the document describes; schema-violating requests are refused with a 4xx."""
    import schemathesis
    from hypothesis import HealthCheck, given, settings
    from schemathesis import GenerationMode
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        negative_data_rejection,
        response_headers_conformance,
        response_schema_conformance,
        status_code_conformance,
    )

    server = start_server(max_document_bytes=4096, batch_wait_ms=0)
    served = httpx.get(f"{server.url}/openapi.json").json()
    served["paths"] = {p: item for p, item in served["paths"].items() if "/document" in p}
    assert len(served["paths"]) == 6
    positive = [
        not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_headers_conformance,
        response_schema_conformance,
    ]
    statuses: dict[int, int] = {}
    for mode, checks in ((GenerationMode.POSITIVE, positive), (GenerationMode.NEGATIVE, [negative_data_rejection])):
        for result in schemathesis.openapi.from_dict(served).get_all_operations():
            operation = result.ok()
            if mode is GenerationMode.NEGATIVE and "requestBody" not in operation.definition.raw:
                continue  # a path parameter that is any string cannot be made invalid

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(
                max_examples=25,
                deadline=None,
                derandomize=True,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            def run(case: schemathesis.Case) -> None:
                response = case.call(base_url=server.url, timeout=60)
                statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
                case.validate_response(response, checks=[not_a_server_error, *checks])  # noqa: B023 - called here

            run()
    assert not any(status >= 500 and status != 503 for status in statuses), statuses
    assert {400, 404, 415} <= set(statuses), statuses
    assert httpx.get(f"{server.url}/healthz").status_code == 200


def test_a_dead_in_process_worker_is_replaced_on_a_later_tick() -> None:
    import threading

    from serve._jobs import JobSupervisor

    supervisor = JobSupervisor(queue=None, runner=None, mode="thread", heartbeat_s=1.0)  # type: ignore[arg-type]
    ended = threading.Thread(target=lambda: None)
    ended.start()
    ended.join()
    supervisor.worker, supervisor._worker_thread = object(), ended
    supervisor._reap_dead_worker()
    assert supervisor.worker is None and supervisor._worker_thread is None
    # A worker still running is kept.
    running = threading.Event()
    alive = threading.Thread(target=running.wait)
    alive.start()
    worker = object()
    supervisor.worker, supervisor._worker_thread = worker, alive
    supervisor._reap_dead_worker()
    assert supervisor.worker is worker
    running.set()
    alive.join()


def test_a_worker_that_fails_ends_its_thread_with_a_warning_not_an_unhandled_exception(
    caplog: pytest.LogCaptureFixture,
) -> None:
    import redis

    from serve._jobs import JobSupervisor

    class Failing:
        def work(self, logging_level: str) -> None:
            raise redis.ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    with caplog.at_level("WARNING", logger="kakehashi"):
        JobSupervisor._run_worker(Failing())  # under pytest's "error" filter an unhandled one would fail the test
    assert "document worker failed (ConnectionError: Error 111" in caplog.text
