"""Server configuration, read once: ``KAKEHASHI_*`` variables, a TOML ``--config`` file, and CLI flags.

Precedence: CLI flag > environment variable > config file > default.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from mt import InvalidRequest, Settings


@dataclass(frozen=True)
class ServeSettings:
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    # Redis: "" = in-process LRU cache; "none" = no cache at all.
    redis_url: str = ""
    cache_ttl_s: int = 7 * 24 * 3600
    cache_size: int = 10000
    max_chars_per_request: int = 50000
    max_chars_per_text: int = 10000
    max_texts: int = 128
    request_timeout_s: float = 60.0
    batch_wait_ms: float = 5.0
    max_batch_tokens: int = 4096
    max_queue: int = 1024
    # Longer than clients' own idle timeouts (httpx 5 s, browsers 60 s or less), so that a client never sends
    # on a kept-alive connection that the server is closing at that moment.
    keep_alive_s: int = 75
    api_keys_file: str = ""
    require_api_key: bool = False
    # With require_api_key, the paths still answered without a key (the web page and /static always are).
    # Add "/metrics" where metrics sit behind their own bind address, "/v1/languages" for an open language list.
    public_paths: tuple[str, ...] = ("/healthz", "/readyz", "/openapi.json", "/frontend/settings")
    rate_limit_per_minute: int = 0
    # Characters this server translates in all before answering 456 (DeepL's quota); 0 = unlimited.
    character_limit: int = 0
    cors_origins: tuple[str, ...] = ()
    # Document jobs (/v1/documents, /v2/document): uploads up to max_document_bytes; files up to job_inline_bytes
    # live in Redis, larger ones in job_dir ("" = ~/.cache/kakehashi/jobs; shared by every worker and replica);
    # all is deleted job_retention_s after the job finished. document_worker: "auto" runs a worker thread in the
    # API process when no `kakehashi worker` serves the queue, "thread" always, "off" never.
    max_document_bytes: int = 20 * 1024 * 1024
    job_dir: str = ""
    job_inline_bytes: int = 1024 * 1024
    job_retention_s: int = 24 * 3600
    job_timeout_s: int = 3600
    job_retries: int = 2
    job_heartbeat_s: float = 5.0
    document_worker: str = "auto"
    engine: Settings = field(default_factory=Settings)

    @classmethod
    def load(
        cls, environ: Mapping[str, str] | None = None, config_file: Path | None = None, **overrides: Any
    ) -> ServeSettings:
        """Defaults, then the config file, then ``KAKEHASHI_*`` variables, then ``overrides`` (CLI flags)."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        config_file = config_file or (Path(environ["KAKEHASHI_CONFIG"]) if environ.get("KAKEHASHI_CONFIG") else None)
        if config_file is not None:
            try:
                values.update(tomllib.loads(Path(config_file).read_text(encoding="utf-8")))
            except (OSError, tomllib.TOMLDecodeError) as exc:
                raise InvalidRequest(f"cannot read config file {config_file}: {exc}") from exc
        for f in fields(cls):
            if f.name == "engine":
                continue
            name = f"KAKEHASHI_{f.name.upper()}"
            if name in environ:
                values[f.name] = environ[name]
        values.update({k: v for k, v in overrides.items() if v is not None})
        unknown = set(values) - {f.name for f in fields(cls)}
        if unknown:
            raise InvalidRequest(
                f"unknown setting(s) {', '.join(sorted(unknown))}; known: "
                f"{', '.join(f.name for f in fields(cls) if f.name != 'engine')}"
            )
        engine = values.pop("engine", None) or Settings.from_env(environ)
        return cls(engine=engine, **{k: _coerce(cls, k, v) for k, v in values.items()})

    def with_engine(self, engine: Settings) -> ServeSettings:
        return replace(self, engine=engine)


def _coerce(cls: type, name: str, value: Any) -> Any:
    default = next(f for f in fields(cls) if f.name == name).default
    try:
        if isinstance(default, bool):
            return value if isinstance(value, bool) else str(value).lower() in ("1", "true", "yes", "on")
        if isinstance(default, int):
            return int(value)
        if isinstance(default, float):
            return float(value)
        if isinstance(default, tuple):
            return (
                tuple(value)
                if isinstance(value, (list, tuple))
                else tuple(v.strip() for v in str(value).split(",") if v.strip())
            )
        return str(value)
    except ValueError as exc:
        raise InvalidRequest(f"setting {name}={value!r} is not a valid {type(default).__name__}") from exc
