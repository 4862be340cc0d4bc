"""API keys (stored as SHA-256 hashes, never in clear) and per-key rate limits kept in Redis.

Keys file (TOML)::

    [[key]]
    name = "alice"
    sha256 = "3b1f…"              # kakehashi keys new alice --file keys.toml prints the key once
    rate_limit_per_minute = 120   # optional; default: the server's rate_limit_per_minute
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
import threading
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mt import InvalidRequest
from serve._errors import RateLimited, Unauthorized

# Query parameters that carry secrets (DeepL's auth_key, LibreTranslate's api_key, and the usual others).
_SECRET_QUERY = re.compile(r"(?i)([?&](?:auth_key|api_key|apikey|key|token|access_token)=)[^&\s\"']*")
REDACTED = "[redacted]"


def redact(text: str) -> str:
    """``text`` with the values of secret query parameters (``?auth_key=…``) replaced by ``[redacted]``."""
    return _SECRET_QUERY.sub(lambda m: m.group(1) + REDACTED, text)


class RedactSecrets(logging.Filter):
    """A logging filter that redacts secret query parameters from a record's message and arguments (uvicorn's
    access log writes the full path with its query string)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        return True


def install_log_redaction(names: tuple[str, ...] = ("uvicorn.access", "uvicorn.error", "kakehashi")) -> None:
    """Redact secrets from every line these loggers write (idempotent)."""
    for name in names:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactSecrets) for f in logger.filters):
            logger.addFilter(RedactSecrets())


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class ApiKey:
    name: str
    sha256: str
    rate_limit_per_minute: int | None = None


def load_keys(path: Path) -> list[ApiKey]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise InvalidRequest(f"cannot read API keys file {path}: {exc}") from exc
    keys = []
    for number, row in enumerate(data.get("key", []), start=1):
        if not isinstance(row, dict) or not isinstance(row.get("sha256"), str) or len(row["sha256"]) != 64:
            raise InvalidRequest(f"{path}: [[key]] entry {number} needs name and a 64-hex-digit sha256")
        limit = row.get("rate_limit_per_minute")
        keys.append(
            ApiKey(
                str(row.get("name", f"key{number}")), row["sha256"].lower(), int(limit) if limit is not None else None
            )
        )
    return keys


def new_key(name: str, path: Path, rate_limit_per_minute: int | None = None) -> str:
    """Create a key, append its hash to ``path`` and return the key (shown once)."""
    key = "kk-" + secrets.token_urlsafe(24)
    line = f'\n[[key]]\nname = "{name}"\nsha256 = "{hash_key(key)}"\n'
    if rate_limit_per_minute is not None:
        line += f"rate_limit_per_minute = {int(rate_limit_per_minute)}\n"
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(line)
    return key


class AccessControl:
    def __init__(self, keys: list[ApiKey], require_key: bool, default_limit: int, redis_client: Any = None):
        self._by_hash = {k.sha256: k for k in keys}
        self.require_key = require_key
        self.default_limit = default_limit
        self._redis = redis_client
        self._windows: dict[tuple[str, int], int] = {}
        self._lock = threading.Lock()

    def check(self, key: str | None, client: str) -> str:
        """Authenticate and count one request; returns the identity used for the rate limit.

        Raises:
            Unauthorized: a key is required and missing or unknown, or an unknown key is given to a server
                with keys.
            RateLimited: the identity used up its requests for this minute.
        """
        identity = f"ip:{client}"
        limit = self.default_limit
        # Open mode (no keys file): a key is ignored, as LibreTranslate does, so that clients which always send
        # one (DeepL's official client cannot send none) work against a server without keys.
        if key and (self._by_hash or self.require_key):
            digest = hash_key(key)
            match = next((k for h, k in self._by_hash.items() if hmac.compare_digest(h, digest)), None)
            if match is None:
                raise Unauthorized("the API key is not valid")
            identity = f"key:{match.name}"
            limit = match.rate_limit_per_minute if match.rate_limit_per_minute is not None else limit
        elif self.require_key:
            raise Unauthorized("an API key is required (Authorization: Bearer KEY, DeepL-Auth-Key KEY or api_key)")
        if limit > 0:
            self._count(identity, limit)
        return identity

    def _count(self, identity: str, limit: int) -> None:
        window = int(time.time() // 60)
        retry_after = 60 - int(time.time() % 60)
        count = None
        if self._redis is not None:
            try:
                name = f"kakehashi:rl:{identity}:{window}"
                pipe = self._redis.pipeline()
                pipe.incr(name)
                pipe.expire(name, 120)
                count = int(pipe.execute()[0])
            except Exception:  # noqa: BLE001 - Redis down: fall back to counting in this process
                count = None
        if count is None:
            with self._lock:
                self._windows = {k: v for k, v in self._windows.items() if k[1] >= window}
                count = self._windows.get((identity, window), 0) + 1
                self._windows[(identity, window)] = count
        if count > limit:
            raise RateLimited(retry_after)
