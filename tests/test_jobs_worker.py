"""Document jobs with real ``kakehashi worker`` processes and a real Redis started by the test: a worker killed
(SIGKILL) in the middle of a job, an API restart with jobs queued, retries used up."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import test_jobs
from test_jobs import cli_translation, upload, wait_done

pytestmark = [pytest.mark.integration, pytest.mark.shipped]
# The shipped-model server fixtures of test_jobs.
shipped_registry = test_jobs.shipped_registry
start_shipped = test_jobs.start_shipped

HEARTBEAT = {"job_heartbeat_s": 0.5}


def long_document(sentences: int = 140) -> bytes:
    """Distinct Japanese sentences, one paragraph each: long enough that a worker can be killed mid-job."""
    lines = Path(__file__).parent.joinpath("data", "tatoeba_sample.tsv").read_text(encoding="utf-8").splitlines()
    texts = list(dict.fromkeys(line.split("\t")[1] for line in lines[1:]))[:sentences]
    return "\n\n".join(texts).encode() + b"\n"


class Workers:
    """``kakehashi worker`` processes of the test's own."""

    def __init__(self, registry: Path, redis_url: str, job_dir: Path):
        self.registry = registry
        self.redis_url = redis_url
        self.job_dir = job_dir
        self.processes: list[subprocess.Popen[bytes]] = []

    def start(self) -> subprocess.Popen[bytes]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("KAKEHASHI_")}
        command = [
            sys.executable,
            "-m",
            "mt.cli",
            "worker",
            "--redis-url",
            self.redis_url,
            "--registry",
            str(self.registry),
            "--job-dir",
            str(self.job_dir),
            "--job-heartbeat",
            str(HEARTBEAT["job_heartbeat_s"]),
        ]
        process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.processes.append(process)
        return process

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
            if process.stderr is not None:
                process.stderr.close()


@pytest.fixture
def workers(redis_server, shipped_registry: Path, tmp_path: Path) -> Iterator[Workers]:  # type: ignore[no-untyped-def]
    pool = Workers(shipped_registry, redis_server.url, tmp_path / "jobs")
    yield pool
    pool.stop()


def wait_for(url: str, job_id: str, condition: Any, timeout_s: float = 90) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    status: dict[str, Any] = {}
    while time.monotonic() < deadline:
        status = httpx.get(f"{url}/v1/documents/{job_id}", timeout=30).json()
        if condition(status):
            return status
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} never reached the expected state: {status}")


@pytest.mark.slow
def test_worker_killed_mid_job_is_retried_by_a_new_worker(
    start_shipped, workers: Workers, redis_server, shipped_registry: Path, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    # Files over 1 KB go to the job directory, so the retry reads its upload from there.
    server = start_shipped(
        redis_url=redis_server.url,
        document_worker="off",
        job_dir=str(tmp_path / "jobs"),
        job_inline_bytes=1024,
        **HEARTBEAT,
    )
    document = long_document()
    first = workers.start()
    job = upload(server.url, "long.txt", document).json()
    status = wait_for(server.url, job["id"], lambda s: s["status"] == "translating" and s["progress"]["done"] > 0)
    assert status["progress"]["done"] < status["progress"]["total"], "the job finished before the worker was killed"
    first.send_signal(signal.SIGKILL)
    first.wait()
    # Never stuck in "translating": the dead worker's job is noticed and goes back to the queue.
    wait_for(server.url, job["id"], lambda s: s["status"] == "queued", timeout_s=30)
    workers.start()
    done = wait_done(server.url, job["id"], timeout_s=120)
    assert done["status"] == "done" and done["attempts"] == 2, done
    result = httpx.get(f"{server.url}/v1/documents/{job['id']}/result", timeout=30)
    assert result.content == cli_translation(shipped_registry, "long.txt", document, tmp_path / "cli")


def test_api_restart_with_queued_jobs_loses_none(start_shipped, workers: Workers, redis_server) -> None:  # type: ignore[no-untyped-def]
    settings = {"redis_url": redis_server.url, "document_worker": "off", **HEARTBEAT}
    first = start_shipped(**settings)
    texts = [f"{n}匹の猫が好きです。\n".encode() for n in range(1, 4)]
    jobs = [upload(first.url, f"cats{n}.txt", text).json() for n, text in enumerate(texts)]
    assert {job["status"] for job in jobs} == {"queued"}
    first.stop()
    second = start_shipped(**settings)
    assert all(httpx.get(f"{second.url}/v1/documents/{job['id']}").json()["status"] == "queued" for job in jobs)
    workers.start()
    for job in jobs:
        assert wait_done(second.url, job["id"], timeout_s=90)["status"] == "done"
        result = httpx.get(f"{second.url}/v1/documents/{job['id']}/result")
        assert result.status_code == 200 and "猫" not in result.text


@pytest.mark.slow
def test_a_job_whose_retries_are_used_up_fails_with_the_reason(start_shipped, workers: Workers, redis_server) -> None:  # type: ignore[no-untyped-def]
    server = start_shipped(redis_url=redis_server.url, document_worker="off", job_retries=0, **HEARTBEAT)
    first = workers.start()
    job = upload(server.url, "long.txt", long_document()).json()
    wait_for(server.url, job["id"], lambda s: s["status"] == "translating" and s["progress"]["done"] > 0)
    first.send_signal(signal.SIGKILL)
    first.wait()
    failed = wait_for(server.url, job["id"], lambda s: s["status"] == "error", timeout_s=30)
    assert "worker translating it stopped" in failed["error"]
    result = httpx.get(f"{server.url}/v1/documents/{job['id']}/result")
    assert result.status_code == 400 and "worker translating it stopped" in result.json()["error"]["message"]
