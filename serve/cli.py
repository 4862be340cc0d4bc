"""``kakehashi serve`` and ``kakehashi keys``: the main CLI (``mt.cli``) hands these commands and their arguments
to :func:`main`, importing this package only when one of them runs."""

from __future__ import annotations

import argparse
import importlib
import os
from collections.abc import Sequence
from pathlib import Path

from mt import MissingDependency
from mt.cli import runtime_flags, settings_from_args

# The packages of the serve extra that these commands cannot start without.
_SERVE_EXTRA = ("starlette", "uvicorn", "redis", "prometheus_client", "multipart")


def _require_serve_extra(command: str) -> None:
    for module in _SERVE_EXTRA:
        try:
            importlib.import_module(module)
        except ImportError as exc:
            raise MissingDependency(module, "serve", f"kakehashi {command}") from exc


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from serve._settings import ServeSettings

    settings = ServeSettings.load(
        config_file=Path(args.config) if args.config else None,
        host=args.host,
        port=args.port,
        workers=args.workers,
        redis_url=args.redis_url,
    ).with_engine(settings_from_args(args))
    if settings.workers > 1:
        # Each worker process builds its own app from the environment; pass the resolved settings along.
        os.environ.update({"KAKEHASHI_REDIS_URL": settings.redis_url})
        engine = settings.engine
        os.environ["KAKEHASHI_REGISTRY"] = os.pathsep.join(str(p) for p in engine.registry_files())
        os.environ["KAKEHASHI_DEVICE"] = engine.device
        os.environ["KAKEHASHI_COMPUTE_TYPE"] = engine.compute_type
        if args.config:
            os.environ["KAKEHASHI_CONFIG"] = str(args.config)
        uvicorn.run(
            "serve.app:create_app",
            factory=True,
            host=settings.host,
            port=settings.port,
            workers=settings.workers,
            log_level="info",
        )
        return 0
    from serve.app import create_app

    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level="info")
    return 0


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
    runtime_flags(p)
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("keys", help="create an API key (stored hashed)")
    p.add_argument("name")
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
