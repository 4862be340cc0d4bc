"""``kakehashi serve`` and ``kakehashi keys``: the main CLI (``mt.cli``) hands these commands and their arguments
to :func:`main`, importing this package only when one of them runs."""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mt import MissingDependency
from mt.cli import runtime_flags, settings_from_args
from serve.worker import job_flags, job_overrides

# The packages of the serve extra that these commands cannot start without.
_SERVE_EXTRA = ("starlette", "uvicorn", "redis", "prometheus_client", "multipart")


def _require_serve_extra(command: str) -> None:
    for module in _SERVE_EXTRA:
        try:
            importlib.import_module(module)
        except ImportError as exc:
            raise MissingDependency(module, "serve", f"kakehashi {command}") from exc


# What each server setting does, for `kakehashi serve --help`; a setting missing here still gets its flag.
SETTING_HELP = {
    "cache_ttl_s": "seconds a cached translation lives in Redis",
    "cache_size": "entries of the in-process cache (without Redis)",
    "max_chars_per_request": "characters in all texts of one request (413 above)",
    "max_chars_per_text": "characters in one text (413 above)",
    "max_texts": "texts in one request (413 above)",
    "request_timeout_s": "seconds a translation may take (504 after)",
    "batch_wait_ms": "how long a batch waits for more sentences of concurrent requests",
    "max_batch_tokens": "source tokens in one model batch",
    "max_queue": "requests admitted per server process, and sentences waiting for the model (429 with Retry-After "
    "above)",
    "keep_alive_s": "seconds an idle HTTP connection stays open",
    "api_keys_file": "TOML file of API key hashes (kakehashi keys); without it, keys are ignored",
    "require_api_key": "refuse requests without a valid key",
    "public_paths": "with --require-api-key, comma-separated paths still open (e.g. /healthz,/readyz,/metrics)",
    "rate_limit_per_minute": "requests per minute per key or address (0 = unlimited)",
    "character_limit": "characters this server translates before answering 456 (DeepL's quota; 0 = unlimited)",
    "cors_origins": "comma-separated origins allowed to call the API from a browser",
}


def setting_flags(parser: argparse._ActionsContainer) -> None:
    """A flag for every server setting that ``parser`` has no flag for yet (CLI flags win over variables)."""
    from serve._settings import ServeSettings

    added = []
    for f in dataclasses.fields(ServeSettings):
        if f.name == "engine" or any(a.dest == f.name for a in parser._actions):
            continue
        default = f.default
        meaning = SETTING_HELP.get(f.name, f.name.replace("_", " "))
        shown = ",".join(default) if isinstance(default, tuple) else default
        text = f"{meaning} (KAKEHASHI_{f.name.upper()}; default {shown!s})".replace("%", "%%")
        flag = "--" + f.name.replace("_", "-")
        if isinstance(default, bool):
            parser.add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction, default=None, help=text)
        else:
            kind = type(default) if isinstance(default, (int, float)) else str
            parser.add_argument(flag, dest=f.name, type=kind, metavar=f.name.upper(), help=text)
        added.append(f.name)
    parser.set_defaults(setting_flags=tuple(added))


def setting_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The server settings given by :func:`setting_flags`' flags."""
    return {name: getattr(args, name) for name in getattr(args, "setting_flags", ()) if getattr(args, name) is not None}


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from serve._settings import ServeSettings

    settings = ServeSettings.load(
        config_file=Path(args.config) if args.config else None,
        host=args.host,
        port=args.port,
        workers=args.workers,
        redis_url=args.redis_url,
        document_worker=args.document_worker,
        **job_overrides(args),
        **setting_overrides(args),
    ).with_engine(settings_from_args(args))
    if settings.workers > 1:
        # Each worker process builds its own app from the environment; pass the resolved settings along.
        os.environ.update({"KAKEHASHI_REDIS_URL": settings.redis_url})
        engine = settings.engine
        os.environ["KAKEHASHI_REGISTRY"] = os.pathsep.join(str(p) for p in engine.registry_files())
        os.environ["KAKEHASHI_DEVICE"] = engine.device
        os.environ["KAKEHASHI_COMPUTE_TYPE"] = engine.compute_type
        # Each worker takes its share of the CPUs for its model replicas (and keeps explicit thread counts).
        os.environ["KAKEHASHI_WORKERS"] = str(settings.workers)
        os.environ["KAKEHASHI_INTER_THREADS"] = str(engine.inter_threads)
        os.environ["KAKEHASHI_INTRA_THREADS"] = str(engine.intra_threads)
        if args.config:
            os.environ["KAKEHASHI_CONFIG"] = str(args.config)
        for name, value in {**job_overrides(args), "document_worker": args.document_worker}.items():
            if value is not None:
                os.environ[f"KAKEHASHI_{name.upper()}"] = str(value)
        uvicorn.run(
            "serve.app:create_app",
            factory=True,
            host=settings.host,
            port=settings.port,
            workers=settings.workers,
            timeout_keep_alive=settings.keep_alive_s,
            log_level="info",
        )
        return 0
    from serve.app import create_app

    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        timeout_keep_alive=settings.keep_alive_s,
        log_level="info",
    )
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from serve._settings import ServeSettings
    from serve.worker import run_worker

    settings = ServeSettings.load(
        config_file=Path(args.config) if args.config else None, redis_url=args.redis_url, **job_overrides(args)
    ).with_engine(settings_from_args(args))
    return run_worker(settings, burst=args.burst, name=args.name)


def cmd_keys(args: argparse.Namespace) -> int:
    from serve._access import new_key

    key = new_key(args.name, Path(args.file), args.rate_limit)
    print(key)
    print(f"(stored as a SHA-256 hash in {args.file}; this is the only time the key is shown)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kakehashi")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("serve", help="run the REST service (needs the serve extra)")
    p.add_argument("--host", help="default 127.0.0.1 (KAKEHASHI_HOST)")
    p.add_argument("--port", type=int, help="default 8000 (KAKEHASHI_PORT)")
    p.add_argument("--workers", type=int, help="server processes sharing one Redis (KAKEHASHI_WORKERS)")
    p.add_argument("--redis-url", help="redis://host:port/db; empty = in-process cache (KAKEHASHI_REDIS_URL)")
    p.add_argument("--config", help="TOML file with server settings (KAKEHASHI_CONFIG)")
    job_flags(p)
    p.add_argument(
        "--document-worker",
        choices=("auto", "thread", "off"),
        help="document jobs in an API thread: auto (when no kakehashi worker runs), thread, off "
        "(KAKEHASHI_DOCUMENT_WORKER)",
    )
    setting_flags(p.add_argument_group("server settings (also KAKEHASHI_* variables and --config keys)"))
    runtime_flags(p)
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("worker", help="run document jobs from the Redis queue (needs the jobs extra)")
    p.add_argument("--redis-url", help="the Redis the API servers use (KAKEHASHI_REDIS_URL)")
    p.add_argument("--config", help="TOML file with server settings (KAKEHASHI_CONFIG)")
    p.add_argument("--burst", action="store_true", help="stop when the queue is empty")
    p.add_argument("--name", help="worker name (default: random)")
    job_flags(p)
    runtime_flags(p)
    p.set_defaults(func=cmd_worker)

    p = sub.add_parser("keys", help="create an API key (stored hashed)")
    p.add_argument("name", help="who the key is for (shown in logs and rate limits, never the key)")
    p.add_argument("--file", required=True, help="keys file (TOML), appended to")
    p.add_argument("--rate-limit", type=int, help="requests per minute for this key")
    p.set_defaults(func=cmd_keys)
    return parser


def main(argv: Sequence[str]) -> int:
    """Run ``serve`` or ``keys`` with their arguments (``argv[0]`` is the command); errors propagate to the
    main CLI, which prints them."""
    args = build_parser().parse_args(argv)
    _require_serve_extra(args.command)
    return int(args.func(args) or 0)
