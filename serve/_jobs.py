"""Document jobs: records, stored files, the rq queue, and the worker that runs them.

A job is created by an upload (``POST /v1/documents`` or DeepL's ``POST /v2/document``) and lives in Redis:

* its **record**, a hash ``kakehashi:doc:<id>``: owner, status (``queued``, ``translating``, ``done``,
  ``error``), progress (segments done / total), error reason, file name, what to translate into;
* its **files**, the upload and the result: in Redis (``kakehashi:doc:<id>:upload`` / ``:result``) when at most
  ``job_inline_bytes``, else in ``job_dir/<id>/`` (a directory every worker and API replica reaches).

Everything expires ``job_retention_s`` after the job was created or finished; a sweep deletes the directories
whose record expired. The queue is rq's (``kakehashi-documents``): ``kakehashi worker`` processes, or a thread of
the API process when no worker runs, take jobs from it. A worker beats every ``job_heartbeat_s``; a job whose
worker died (even by SIGKILL) is found by rq's registry clean-up once three beats are missed, and retried
(``job_retries`` times; the segment cache makes a retry cheap) or marked ``error`` with the reason — never left
in ``translating``.

Without ``redis_url`` the API keeps jobs in an in-process Redis (fakeredis) and runs its own worker thread: the
same code path, lost at restart.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import os
import re
import secrets
import shutil
import threading
import time
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mt import (
    InvalidRequest,
    KakehashiError,
    MissingDependency,
    ModelNotFound,
    TranslationOptions,
    UnsupportedLanguage,
    UnsupportedLanguagePair,
)
from mt._glossary import Glossary, parse_glossary
from serve._errors import NotFound, StoreUnavailable

log = logging.getLogger("kakehashi.jobs")

QUEUE_NAME = "kakehashi-documents"
KEY_PREFIX = "kakehashi:doc:"
STATUSES = ("queued", "translating", "done", "error")
_JOB_ID = re.compile(r"^[0-9A-F]{32}$")
_DOCUMENT_KEY = re.compile(r"^[0-9a-f]{64}$")
_RETENTION_FLOOR_S = 60


def _now() -> float:
    return time.time()


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def safe_filename(name: str) -> str:
    """The uploaded file's base name, harmless wherever it is shown or sent back: no directory part (``/`` or
    ``\\``), no control characters, no leading dots, at most 200 characters. The name is never a path on disk.

    Raises:
        InvalidRequest: nothing of the name is left (for example ``../..``).
    """
    base = re.split(r"[/\\]", name or "")[-1]
    base = "".join(c for c in base if unicodedata.category(c)[0] != "C").strip().lstrip(".").strip()
    if not base:
        raise InvalidRequest(f"the file name {name!r} has no usable base name; send a name such as 'report.docx'")
    if len(base) > 200:
        stem, dot, ext = base.rpartition(".")
        base = (stem[: 200 - len(ext) - 1] + dot + ext) if dot and len(ext) <= 16 else base[:200]
    return base


@dataclass(frozen=True)
class JobSpec:
    """What a job translates into, as the upload asked for it (options are the request's raw JSON object, parsed
    again by the worker with the server's own limits)."""

    target: str
    source: str = "auto"
    model: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    glossary: dict[str, Any] | None = None
    bilingual: bool = False
    fields: tuple[str, ...] = ()

    def translation_options(self, max_batch_tokens: int) -> TranslationOptions:
        return TranslationOptions.from_json(self.options, max_batch_tokens=max_batch_tokens)

    def parsed_glossary(self) -> Glossary | None:
        if self.glossary is None:
            return None
        return parse_glossary(json.dumps(self.glossary, ensure_ascii=False), "json")


def _spec(data: dict[str, Any]) -> JobSpec:
    return JobSpec(**{**data, "fields": tuple(data.get("fields") or ())})


@dataclass(frozen=True)
class JobRecord:
    """A job as the store keeps it. ``owner`` is the API key's identity (``key:NAME``) or ``anonymous``;
    ``document_key`` the secret DeepL's API hands out with the id."""

    job_id: str
    owner: str
    document_key: str
    filename: str
    spec: JobSpec
    status: str = "queued"
    done: int = 0
    total: int = 0
    error: str = ""
    characters: int = 0
    attempts: int = 0
    created: float = 0.0
    updated: float = 0.0
    started: float = 0.0
    first_segment: float = 0.0
    finished: float = 0.0
    size: int = 0

    def to_redis(self) -> dict[str, str]:
        data = asdict(self)
        data["spec"] = json.dumps(data["spec"], ensure_ascii=False)
        return {k: str(v) for k, v in data.items()}

    @classmethod
    def from_redis(cls, raw: dict[bytes, bytes]) -> JobRecord:
        data = {k.decode(): v.decode() for k, v in raw.items()}
        return cls(
            job_id=data["job_id"],
            owner=data["owner"],
            document_key=data["document_key"],
            filename=data["filename"],
            spec=_spec(json.loads(data["spec"])),
            status=data["status"],
            done=int(data["done"]),
            total=int(data["total"]),
            error=data["error"],
            characters=int(data["characters"]),
            attempts=int(data["attempts"]),
            created=float(data["created"]),
            updated=float(data["updated"]),
            started=float(data.get("started", 0) or 0),
            first_segment=float(data.get("first_segment", 0) or 0),
            finished=float(data.get("finished", 0) or 0),
            size=int(data.get("size", 0) or 0),
        )

    def seconds_remaining(self) -> int | None:
        """A rough estimate from the progress so far (``None`` before the first segment is done)."""
        if self.status != "translating" or not self.done or not self.started:
            return None
        rate = self.done / max(_now() - self.started, 1e-3)
        return int((self.total - self.done) / rate) + 1

    def to_json(self) -> dict[str, Any]:
        """The native API's view of the job."""
        return {
            "id": self.job_id,
            "status": self.status,
            "progress": {"done": self.done, "total": self.total},
            "error": self.error or None,
            "filename": self.filename,
            "source": self.spec.source,
            "target": self.spec.target,
            "model": self.spec.model,
            "characters": self.characters,
            "attempts": self.attempts,
            "created": _iso(self.created),
            "updated": _iso(self.updated),
            "seconds_remaining": self.seconds_remaining(),
        }


def job_redis(redis_url: str) -> Any:
    """The Redis client jobs live in: ``redis_url`` when it is one, else a process-local fakeredis (jobs then
    live as long as the process, and only its own worker thread sees them).

    Raises:
        MissingDependency: rq or redis (the ``jobs`` extra) is not installed.
    """
    for module in ("rq", "redis"):
        try:
            __import__(module)
        except ImportError as exc:
            raise MissingDependency(module, "jobs", "document translation jobs") from exc
    if redis_url and redis_url != "none":
        import redis

        return redis.Redis.from_url(redis_url, health_check_interval=30)
    try:
        import fakeredis
    except ImportError as exc:
        raise MissingDependency("fakeredis", "jobs", "document jobs without a Redis server (redis_url)") from exc
    return fakeredis.FakeRedis(server=fakeredis.FakeServer())


class JobStore:
    """Job records and files (blocking calls: run them off the event loop).

    Args:
        client: A Redis client (real, or fakeredis).
        job_dir: Where files over ``inline_bytes`` are kept (shared by every worker and API replica).
        inline_bytes: Files up to this size are kept in Redis.
        retention_s: Seconds a job and its files are kept after it was created and again after it finished.
    """

    def __init__(self, client: Any, job_dir: Path, inline_bytes: int, retention_s: int):
        import redis

        self.client = client
        self.job_dir = Path(job_dir)
        self.inline_bytes = inline_bytes
        self.retention_s = max(int(retention_s), _RETENTION_FLOOR_S)
        self._errors = (redis.RedisError, OSError)

    @contextlib.contextmanager
    def _redis(self) -> Iterator[None]:
        try:
            yield
        except self._errors as exc:
            raise StoreUnavailable(
                f"the document job store (Redis) does not answer ({exc}); retry when it is back"
            ) from exc

    @staticmethod
    def _key(job_id: str, part: str = "") -> str:
        return KEY_PREFIX + job_id + (f":{part}" if part else "")

    def _directory(self, job_id: str) -> Path:
        if not _JOB_ID.match(job_id):  # ids are ours: never a path from a request
            raise NotFound(f"document {job_id!r} not found")
        return self.job_dir / job_id

    # -- records

    def create(self, owner: str, filename: str, spec: JobSpec, data: bytes) -> JobRecord:
        now = _now()
        record = JobRecord(
            job_id=secrets.token_hex(16).upper(),
            owner=owner,
            document_key=secrets.token_hex(32),
            filename=filename,
            spec=spec,
            created=now,
            updated=now,
            size=len(data),
        )
        self._put_file(record.job_id, "upload", data)
        with self._redis():
            pipe = self.client.pipeline()
            pipe.hset(self._key(record.job_id), mapping=record.to_redis())
            pipe.expire(self._key(record.job_id), self.retention_s)
            pipe.execute()
        return record

    def get(self, job_id: str) -> JobRecord:
        """Raises:
        NotFound: no job has this id (or it expired)."""
        if not isinstance(job_id, str) or not _JOB_ID.match(job_id):
            raise NotFound(f"document {job_id!r} not found; ids are the document_id an upload answered")
        with self._redis():
            raw = self.client.hgetall(self._key(job_id))
        if not raw:
            raise NotFound(f"document {job_id!r} not found (unknown, or deleted after the retention time)")
        return JobRecord.from_redis(raw)

    def owned(self, job_id: str, owner: str, document_key: str | None = None) -> JobRecord:
        """The job, if ``owner`` created it (and ``document_key`` matches when given).

        Raises:
            NotFound: unknown, expired, or another key's job: all answer alike, so ids reveal nothing.
        """
        record = self.get(job_id)
        foreign = not secrets.compare_digest(record.owner, owner)
        if foreign or (document_key is not None and not secrets.compare_digest(record.document_key, document_key)):
            raise NotFound(f"document {job_id!r} not found for this API key and document_key")
        return record

    def update(self, job_id: str, **values: Any) -> None:
        values["updated"] = _now()
        with self._redis():
            # Only an existing record is updated: a job deleted meanwhile must not come back half-written.
            if self.client.exists(self._key(job_id)):
                self.client.hset(self._key(job_id), mapping={k: str(v) for k, v in values.items()})

    def add_done(self, job_id: str, count: int) -> None:
        with self._redis():
            pipe = self.client.pipeline()
            pipe.hincrby(self._key(job_id), "done", count)
            pipe.hset(self._key(job_id), "updated", str(_now()))
            pipe.execute()

    def finish(self, job_id: str, result: bytes) -> None:
        """Store the result and mark the job done; both are kept ``retention_s`` from now."""
        self._put_file(job_id, "result", result)
        now = _now()
        with self._redis():
            pipe = self.client.pipeline()
            pipe.hset(self._key(job_id), mapping={"status": "done", "finished": str(now), "updated": str(now)})
            for part in ("", "upload", "result"):
                pipe.expire(self._key(job_id, part), self.retention_s)
            pipe.execute()
        directory = self._directory(job_id)
        if directory.exists():
            os.utime(directory)

    def fail(self, job_id: str, reason: str) -> None:
        now = _now()
        self.update(job_id, status="error", error=reason, finished=now)
        with self._redis():
            self.client.expire(self._key(job_id), self.retention_s)

    # -- files

    def _put_file(self, job_id: str, part: str, data: bytes) -> None:
        if len(data) <= self.inline_bytes:
            with self._redis():
                self.client.set(self._key(job_id, part), data, ex=self.retention_s)
            return
        directory = self._directory(job_id)
        directory.mkdir(parents=True, exist_ok=True)
        temporary = directory / f".{part}.{os.getpid()}.{threading.get_ident()}"
        temporary.write_bytes(data)
        os.replace(temporary, directory / part)
        with self._redis():
            self.client.set(self._key(job_id, part), b"", ex=self.retention_s)

    def read_file(self, job_id: str, part: str) -> bytes:
        """Raises:
        NotFound: the file is gone (expired, or its directory was removed)."""
        with self._redis():
            inline = self.client.get(self._key(job_id, part))
        if inline is None:
            raise NotFound(f"the {part} of document {job_id} is no longer stored (kept {self.retention_s} s)")
        if inline:
            return bytes(inline)
        try:
            return (self._directory(job_id) / part).read_bytes()
        except FileNotFoundError:
            raise NotFound(f"the {part} of document {job_id} is missing from the job directory") from None

    def sweep(self) -> int:
        """Delete the job directories whose record expired; returns how many."""
        if not self.job_dir.is_dir():
            return 0
        removed = 0
        for directory in self.job_dir.iterdir():
            if not _JOB_ID.match(directory.name) or not directory.is_dir():
                continue
            with self._redis():
                alive = self.client.exists(self._key(directory.name))
            # A directory younger than a minute may belong to an upload whose record is being written.
            if not alive and _now() - directory.stat().st_mtime > _RETENTION_FLOOR_S:
                shutil.rmtree(directory, ignore_errors=True)
                removed += 1
        return removed


# -- the queue


def make_queue(client: Any) -> Any:
    from rq import Queue

    return Queue(QUEUE_NAME, connection=client)


def enqueue(queue: Any, record: JobRecord, timeout_s: int, retries: int, retention_s: int) -> None:
    from rq import Callback, Retry

    queue.enqueue(
        "serve._jobs.run_document_job",
        record.job_id,
        job_id=record.job_id,
        job_timeout=timeout_s,
        retry=Retry(max=retries) if retries > 0 else None,
        result_ttl=retention_s,
        failure_ttl=retention_s,
        on_failure=Callback(on_job_failure),
        description=f"translate {record.filename} into {record.spec.target}",
    )


def live_workers(queue: Any) -> int:
    from rq import Worker

    return int(Worker.count(queue=queue))


def recover_abandoned(queue: Any) -> None:
    """Retry (or fail) the jobs whose worker stopped beating, and drop expired registry entries: rq's registry
    clean-up, from any process and any thread (the failure callbacks run under a timer, not SIGALRM, which only
    the main thread can use)."""
    from rq.registry import FailedJobRegistry, FinishedJobRegistry, StartedJobRegistry
    from rq.timeouts import TimerDeathPenalty

    StartedJobRegistry(queue=queue, death_penalty_class=TimerDeathPenalty).cleanup()
    FinishedJobRegistry(queue=queue).cleanup()
    FailedJobRegistry(queue=queue).cleanup()


def reconcile(store: JobStore, queue: Any, record: JobRecord) -> JobRecord:
    """The record, marked ``error`` if rq failed its job without the record hearing of it (a failure callback
    that could not run); rq's own state wins over a record still saying ``queued`` or ``translating``."""
    from rq.exceptions import NoSuchJobError
    from rq.job import Job, JobStatus

    if record.status not in ("queued", "translating"):
        return record
    try:
        job = Job.fetch(record.job_id, connection=queue.connection)
    except NoSuchJobError:
        reason = "the job is no longer in the queue (Redis lost it); upload the document again"
    else:
        if job.get_status(refresh=False) != JobStatus.FAILED:
            return record
        reason = "the job failed in the worker (its log has the details)"
    store.fail(record.job_id, reason)
    return store.get(record.job_id)


def on_job_failure(job: Any, connection: Any, exc_type: Any, exc_value: Any, traceback: Any) -> None:
    """rq's failure callback, run where the failure is seen: by the worker for an exception, by whichever process
    cleans the registries for a worker that died. The job goes back to ``queued`` while retries are left, else to
    ``error`` with the reason."""
    from rq.exceptions import AbandonedJobError

    job_id = job.id
    if exc_type is AbandonedJobError or isinstance(exc_value, AbandonedJobError):
        reason = "the worker translating it stopped (killed, crashed or lost) before it finished"
    elif isinstance(exc_value, KakehashiError):
        reason = str(exc_value)
    else:
        # Other errors may name files of the server: the client gets the kind, the worker's log the rest.
        kind = type(exc_value).__name__ if exc_value is not None else "failure"
        reason = f"an internal error in the worker ({kind}; its log has the details)"
        log.error("document %s: internal error", job.id, exc_info=(exc_type, exc_value, traceback))
    store = _store_for(connection)
    if job.retries_left:
        log.warning("document %s: %s; retrying (%d retries left)", job_id, reason, job.retries_left)
        store.update(job_id, status="queued", error="", done=0)
    else:
        log.warning("document %s failed: %s", job_id, reason)
        store.fail(job_id, reason)


def _store_for(connection: Any) -> JobStore:
    """The store a callback may use: the running worker's, or one over ``connection`` for records alone."""
    runner = _RUNNER.get(None)
    if runner is not None:
        return runner.store
    return JobStore(connection, Path(os.devnull), 0, _RETENTION_FLOOR_S)


# -- running a job


@dataclass(frozen=True)
class JobTranslator:
    """How a worker translates: ``translate(texts, source, spec)`` (plain texts of one source language) and
    ``detect(text)`` (a unit's language, for source "auto"); both blocking."""

    translate: Callable[[Sequence[str], str, JobSpec], list[str]]
    detect: Callable[[str], str]


def service_translator(service: Any) -> JobTranslator:
    """Translate through ``service``'s pipeline (a :class:`~serve._service.TranslationService`): its segment
    cache, micro-batcher and models, as every API request does."""

    def translate(texts: Sequence[str], source: str, spec: JobSpec) -> list[str]:
        results = service.kakehashi.translate(
            texts,
            source,
            spec.target,
            model=spec.model,
            options=spec.translation_options(service.settings.max_batch_tokens),
            glossary=spec.parsed_glossary(),
        )
        return [r.text for r in results]

    return JobTranslator(translate, lambda text: service.kakehashi.detect(text).language)


class DocumentRunner:
    """Runs one job: reads the upload, parses it with the document format registry and translates its distinct
    units in the chunks ``kakehashi translate-file`` uses, through the same local engine
    (:func:`mt.documents._runner.local_engine`: tags and placeholders kept, languages detected per unit), so a
    job's result equals the command's output for the same file. Progress counts distinct units.

    Args:
        store: Where records and files live.
        translator: The worker's translation (the service's pipeline: cache, micro-batching, engine).
    """

    def __init__(self, store: JobStore, translator: JobTranslator):
        self.store = store
        self.translator = translator

    def run(self, job_id: str) -> None:
        record = self.store.get(job_id)
        self.store.update(job_id, status="translating", attempts=record.attempts + 1, done=0, started=_now(), error="")
        try:
            from mt.documents import DocumentError, open_document
            from mt.documents._runner import local_engine, translate_collected
        except ImportError as exc:
            raise MissingDependency(exc.name or "mt.documents", "documents", "document translation") from exc
        spec = record.spec
        try:
            document = open_document(
                self.store.read_file(job_id, "upload"), record.filename, fields=list(spec.fields) or None
            )
            units = list(document.units)
            unique = list(dict.fromkeys(units))
            self.store.update(job_id, total=len(unique), characters=sum(len(u) for u in units))
            engine = local_engine(
                lambda texts, source: self.translator.translate(texts, source, spec),
                spec.source,
                self.translator.detect,
            )
            first = [True]

            def progress(count: int) -> None:
                if first[0]:
                    first[0] = False
                    self.store.update(job_id, first_segment=_now())
                self.store.add_done(job_id, count)

            translations = translate_collected(unique, engine, progress=progress)
            result = document.render([translations[u] for u in units], bilingual=spec.bilingual)
        except (DocumentError, InvalidRequest, UnsupportedLanguage, UnsupportedLanguagePair, ModelNotFound) as exc:
            # The file itself (corrupt, hostile, unreadable) or the request (language, model) is at fault:
            # retrying cannot help, so the job ends here with the reason.
            self.store.fail(job_id, str(exc))
            return
        self.store.finish(job_id, result)


_RUNNER: contextvars.ContextVar[DocumentRunner] = contextvars.ContextVar("kakehashi_document_runner")


def run_document_job(job_id: str) -> str:
    """The function rq runs (by name) for each job, with the runner of the worker that took it.

    Raises:
        RuntimeError: called outside a :class:`DocumentWorker` (no runner to translate with).
    """
    runner = _RUNNER.get(None)
    if runner is None:
        raise RuntimeError(
            "document jobs run in a kakehashi worker (or the API's own worker thread); a plain rq worker has no models"
        )
    runner.run(job_id)
    return job_id


def document_worker_class() -> type:
    """rq's in-process worker (no fork: the models are loaded once), beating from a thread while a job runs so
    that a worker that dies is noticed within three beats, and able to run in a thread of the API process."""
    from rq import SimpleWorker
    from rq.exceptions import StopRequested
    from rq.timeouts import TimerDeathPenalty
    from rq.worker import WorkerStatus

    class DocumentWorker(SimpleWorker):  # type: ignore[misc]
        def __init__(
            self,
            queue: Any,
            runner: DocumentRunner,
            heartbeat_s: float,
            in_thread: bool = False,
            **kwargs: Any,
        ):
            beat = max(float(heartbeat_s), 0.2)
            super().__init__(
                [queue],
                connection=queue.connection,
                maintenance_interval=max(int(beat * 2), 1),
                worker_ttl=max(int(beat * 3), 5) + 15,
                **kwargs,
            )
            self.runner = runner
            self.heartbeat_s = beat
            self.in_thread = in_thread
            self.stopping = threading.Event()
            if in_thread:
                # Signals only reach the main thread; a thread's job timeout is a timer.
                self.death_penalty_class = TimerDeathPenalty

        def subscribe(self) -> None:
            # rq's command channel (kill-horse, remote shutdown) is not used, and its listener thread holds a
            # stopping worker up to a minute; SIGTERM stops a worker, after its current job.
            return None

        def _install_signal_handlers(self) -> None:
            if not self.in_thread:
                super()._install_signal_handlers()

        def clean_registries(self) -> None:
            from rq import worker_registration
            from rq.utils import now

            for queue in self.queues:
                if queue.acquire_maintenance_lock():
                    try:
                        recover_abandoned(queue)
                        worker_registration.clean_worker_registry(queue)
                    finally:
                        queue.release_maintenance_lock()
            self.last_cleaned_at = now()  # type: ignore[assignment]  # rq annotates it None

        def get_heartbeat_ttl(self, job: Any, working_time: float = 0.0) -> int:
            return int(self.heartbeat_s * 3) + 1

        def dequeue_job_and_maintain_ttl(self, timeout: int | None, max_idle_time: int | None = None) -> Any:
            if not self.in_thread:
                return super().dequeue_job_and_maintain_ttl(timeout, max_idle_time)
            # Wait in short rounds, so that stop() ends the thread within a second.
            while not self.stopping.is_set():
                result = super().dequeue_job_and_maintain_ttl(1, max_idle_time=1)
                if result is not None:
                    return result
            raise StopRequested()

        def execute_job(self, job: Any, queue: Any) -> None:
            execution = self.prepare_execution(job)
            done = threading.Event()

            def beat() -> None:
                while not done.wait(self.heartbeat_s):
                    try:
                        self.maintain_heartbeats(job, execution)
                    except Exception as exc:  # noqa: BLE001 - a missed beat is retried; the job goes on
                        log.warning("document worker heartbeat failed: %s", exc)

            beater = threading.Thread(target=beat, name="kakehashi-job-heartbeat", daemon=True)
            beater.start()
            token = _RUNNER.set(self.runner)
            try:
                self.perform_job(job, queue, execution)
            finally:
                done.set()
                beater.join()
                _RUNNER.reset(token)
            self.set_state(WorkerStatus.IDLE)
            try:
                self.runner.store.sweep()
            except KakehashiError as exc:
                log.warning("job directory sweep failed: %s", exc)

    return DocumentWorker


class JobSupervisor:
    """The API process's side of the jobs: retries jobs of dead workers, sweeps expired files, and runs a worker
    thread of its own when ``mode`` is ``thread``, or ``auto`` and no worker serves the queue.

    Args:
        queue: The rq queue.
        runner: The runner the worker thread uses (the API's service translates).
        mode: ``auto``, ``thread`` or ``off``.
        heartbeat_s: The workers' beat; the supervisor looks every two beats.
    """

    def __init__(self, queue: Any, runner: DocumentRunner, mode: str, heartbeat_s: float):
        self.queue = queue
        self.runner = runner
        self.mode = mode
        self.interval_s = max(heartbeat_s * 2, 0.5)
        self.heartbeat_s = heartbeat_s
        self.worker: Any = None
        self._worker_thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="kakehashi-job-supervisor", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)  # first: a tick under way may still start the worker thread
        if self.worker is not None:
            self.worker.stopping.set()
        if self._worker_thread is not None:
            self._worker_thread.join(timeout=30)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self._tick()
            except Exception as exc:  # noqa: BLE001 - Redis away (at start too): the next tick tries again
                log.warning("document job supervision failed: %s", exc)
            self._stop.wait(self.interval_s)

    def _tick(self) -> None:
        self._reap_dead_worker()
        recover_abandoned(self.queue)
        self.runner.store.sweep()
        if self.worker is None and (self.mode == "thread" or (self.mode == "auto" and not live_workers(self.queue))):
            self._start_worker()

    def _reap_dead_worker(self) -> None:
        # rq's worker loop ends on an error it does not handle (Redis gone for long, say); forget it so that a
        # later tick, once Redis answers again, starts a new one instead of leaving the queue unserved.
        if self._worker_thread is not None and not self._worker_thread.is_alive() and not self._stop.is_set():
            log.warning("the in-process document worker stopped; a new one starts when Redis answers")
            self.worker = None
            self._worker_thread = None

    def _start_worker(self) -> None:
        worker_class = document_worker_class()
        self.worker = worker_class(self.queue, self.runner, self.heartbeat_s, in_thread=True)
        self._worker_thread = threading.Thread(
            target=self._run_worker, args=(self.worker,), name="kakehashi-job-worker", daemon=True
        )
        self._worker_thread.start()
        log.info("no document worker serves the queue: running one in this process")

    @staticmethod
    def _run_worker(worker: Any) -> None:
        try:
            worker.work(logging_level="WARNING")
        except Exception as exc:  # noqa: BLE001 - rq ends on errors it does not handle (Redis gone): the reaper
            log.warning("the in-process document worker failed (%s: %s)", type(exc).__name__, exc)


WORKER_MODES = ("auto", "thread", "off")


def default_job_dir() -> Path:
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "kakehashi" / "jobs"


class DocumentJobs:
    """The document jobs of one API process: submit, look up, read results; supervision in the background.

    Args:
        settings: The server's settings (``redis_url``, ``job_*``, ``document_worker``).
        service: The translation service the API's own worker thread translates with.

    Raises:
        InvalidRequest: ``document_worker`` is not one of :data:`WORKER_MODES`.
    """

    def __init__(self, settings: Any, service: Any):
        if settings.document_worker not in WORKER_MODES:
            raise InvalidRequest(
                f"document_worker={settings.document_worker!r} is not accepted; accepted: {', '.join(WORKER_MODES)}"
            )
        self.settings = settings
        self.service = service
        self.store: JobStore | None = None
        self.queue: Any = None
        self.supervisor: JobSupervisor | None = None
        self.unavailable: KakehashiError | None = None

    def start(self) -> None:
        """Connect the store and queue and start supervising (a missing ``jobs`` extra only disables jobs)."""
        s = self.settings
        shared = bool(s.redis_url) and s.redis_url != "none"
        if s.workers > 1 and not shared:
            self.unavailable = StoreUnavailable(
                f"document jobs need a Redis that the server's {s.workers} processes share: serve with --redis-url "
                "(KAKEHASHI_REDIS_URL), or with one process"
            )
            log.warning("document jobs are disabled: %s", self.unavailable)
            return
        try:
            client = job_redis(s.redis_url)
        except MissingDependency as exc:
            self.unavailable = StoreUnavailable(f"document jobs are not available on this server: {exc}")
            log.warning("document jobs are disabled: %s", exc)
            return
        self.store = JobStore(
            client, Path(s.job_dir) if s.job_dir else default_job_dir(), s.job_inline_bytes, s.job_retention_s
        )
        self.queue = make_queue(client)
        runner = DocumentRunner(self.store, service_translator(self.service))
        self.supervisor = JobSupervisor(self.queue, runner, s.document_worker, s.job_heartbeat_s)
        self.supervisor.start()

    def stop(self) -> None:
        if self.supervisor is not None:
            self.supervisor.stop()

    def _store(self) -> JobStore:
        if self.store is None:
            raise self.unavailable or StoreUnavailable("document jobs are starting; retry in a moment")
        return self.store

    def submit(self, owner: str, filename: str, spec: JobSpec, data: bytes) -> JobRecord:
        """Store the upload and queue its job (blocking)."""
        store = self._store()
        record = store.create(owner, filename, spec, data)
        s = self.settings
        try:
            with store._redis():
                enqueue(self.queue, record, s.job_timeout_s, s.job_retries, store.retention_s)
        except StoreUnavailable:
            store.fail(record.job_id, "the job could not be queued (Redis did not answer)")
            raise
        return record

    def owned(self, job_id: str, owner: str, document_key: str | None = None) -> JobRecord:
        store = self._store()
        with store._redis():
            return reconcile(store, self.queue, store.owned(job_id, owner, document_key))

    def result(self, record: JobRecord) -> bytes:
        return self._store().read_file(record.job_id, "result")
