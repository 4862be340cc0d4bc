"""``kakehashi worker``: a process that runs document jobs from the Redis queue the API servers fill.

Start any number, on any machine that reaches the same Redis (and, for files over ``job_inline_bytes``, the same
``job_dir``). Each loads the registered models once and translates through the same pipeline as the API (segment
cache, micro-batching), one job at a time.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

from mt import InvalidRequest

log = logging.getLogger("kakehashi.worker")

# Document-job settings and their flags (each also a KAKEHASHI_<NAME> variable and a --config field).
JOB_FLAGS: tuple[tuple[str, str, type, str], ...] = (
    ("--max-document-bytes", "max_document_bytes", int, "largest upload accepted (default 20 MiB)"),
    ("--job-dir", "job_dir", str, "directory for files over job_inline_bytes (default ~/.cache/kakehashi/jobs)"),
    ("--job-inline-bytes", "job_inline_bytes", int, "files up to this size are kept in Redis (default 1 MiB)"),
    ("--job-retention", "job_retention_s", int, "seconds jobs and their files are kept (default 86400)"),
    ("--job-timeout", "job_timeout_s", int, "seconds one job may run (default 3600)"),
    ("--job-retries", "job_retries", int, "retries of a job whose worker failed or died (default 2)"),
    ("--job-heartbeat", "job_heartbeat_s", float, "seconds between a worker's beats (default 5)"),
)


def job_flags(parser: argparse.ArgumentParser) -> None:
    """Add the document-job flags to ``parser``."""
    for flag, name, kind, meaning in JOB_FLAGS:
        parser.add_argument(flag, dest=name, type=kind, help=f"{meaning} (KAKEHASHI_{name.upper()})")


def job_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The document-job settings given on the command line."""
    return {name: getattr(args, name, None) for _, name, _, _ in JOB_FLAGS}


def run_worker(settings: Any, burst: bool = False, name: str | None = None) -> int:
    """Load the models and run document jobs until stopped (SIGTERM, Ctrl-C) or, with ``burst``, until the queue
    is empty.

    Raises:
        InvalidRequest: no Redis URL (a worker serves the queue of a Redis the API servers share).
        MissingDependency: the ``jobs`` extra is not installed.
    """
    from serve._jobs import (
        DocumentRunner,
        JobStore,
        default_job_dir,
        document_worker_class,
        job_redis,
        make_queue,
        service_translator,
    )
    from serve._service import TranslationService

    if not settings.redis_url or settings.redis_url == "none":
        raise InvalidRequest(
            "kakehashi worker takes jobs from the Redis the API servers use: give --redis-url redis://host:port/db "
            "(or KAKEHASHI_REDIS_URL)"
        )
    client = job_redis(settings.redis_url)
    service = TranslationService(settings)
    service.start()
    log.info("models loaded: %s", ", ".join(service.kakehashi.registry.names()) or "none")
    job_dir = Path(settings.job_dir) if settings.job_dir else default_job_dir()
    store = JobStore(client, job_dir, settings.job_inline_bytes, settings.job_retention_s)
    queue = make_queue(client)
    worker = document_worker_class()(
        queue, DocumentRunner(store, service_translator(service)), settings.job_heartbeat_s, name=name
    )
    try:
        worker.work(burst=burst, logging_level="INFO")
    finally:
        service.stop()
    return 0
