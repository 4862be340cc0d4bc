"""The glossary store: per tenant (API key), in Redis when configured (shared by every replica), else in process
memory.

A tenant is the API key's name; anonymous requests (open mode) share the ``anonymous`` namespace. A tenant sees,
uses and deletes only its own glossaries: another tenant's id answers 404 as if it did not exist. Redis keeps one
hash per tenant (``kakehashi:gl:<sha256 of the tenant>``), glossary id → JSON record.
"""

from __future__ import annotations

import hashlib
import json
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from starlette.requests import Request

from mt import InvalidRequest
from mt._glossary import Glossary, parse_glossary
from serve._errors import NotFound, StoreUnavailable
from serve._http import api_key, client_host, off_loop, read_body

ANONYMOUS = "anonymous"
KEY_PREFIX = "kakehashi:gl:"


@dataclass(frozen=True)
class StoredGlossary:
    """A glossary as the store keeps it: its id, owner-independent content and creation time (ISO 8601, UTC)."""

    glossary_id: str
    glossary: Glossary
    creation_time: str

    def to_json(self) -> dict[str, Any]:
        return {"id": self.glossary_id, "created": self.creation_time, "glossary": self.glossary.to_json()}

    @classmethod
    def from_json(cls, raw: str | bytes) -> StoredGlossary:
        data = json.loads(raw)
        glossary = parse_glossary(json.dumps(data["glossary"], ensure_ascii=False), "json")
        return cls(str(data["id"]), glossary, str(data["created"]))


def tenant_of(identity: str) -> str:
    """The glossary namespace of an access identity (``key:NAME`` or ``ip:ADDRESS``): the key's, or the shared
    anonymous one."""
    return identity if identity.startswith("key:") else ANONYMOUS


async def authorised_tenant(
    request: Request, authorize: Callable[[str | None, str], str], blocking: bool = True
) -> tuple[dict[str, Any], str]:
    """The request's body and glossary tenant, once ``authorize(api key, client address)`` let it through
    (called on the event loop when not ``blocking``: it then waits on nothing and a thread would cost more)."""
    body = await read_body(request)
    key, client = api_key(request, body), client_host(request)
    identity = await off_loop(authorize, key, client) if blocking else authorize(key, client)
    return body, tenant_of(identity)


class GlossaryStore(Protocol):
    """Where glossaries live; every method is blocking (call from a worker thread)."""

    kind: str

    def add(self, tenant: str, glossary: Glossary) -> StoredGlossary: ...

    def all(self, tenant: str) -> list[StoredGlossary]: ...

    def get(self, tenant: str, glossary_id: str) -> StoredGlossary:
        """Raises:
        NotFound: no glossary of this tenant has ``glossary_id``."""
        ...

    def delete(self, tenant: str, glossary_id: str) -> None:
        """Raises:
        NotFound: no glossary of this tenant has ``glossary_id``."""
        ...


def _new(glossary: Glossary) -> StoredGlossary:
    created = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return StoredGlossary(str(uuid.uuid4()), glossary, created)


def _not_found(glossary_id: str) -> NotFound:
    return NotFound(f"glossary {glossary_id!r} not found; GET /v2/glossaries lists the glossaries of your API key")


class MemoryGlossaryStore:
    """Glossaries in this process (lost at restart, not shared between replicas)."""

    kind = "memory"

    def __init__(self) -> None:
        self._items: dict[str, dict[str, StoredGlossary]] = {}
        self._lock = threading.Lock()

    def add(self, tenant: str, glossary: Glossary) -> StoredGlossary:
        stored = _new(glossary)
        with self._lock:
            self._items.setdefault(tenant, {})[stored.glossary_id] = stored
        return stored

    def all(self, tenant: str) -> list[StoredGlossary]:
        with self._lock:
            return sorted(self._items.get(tenant, {}).values(), key=lambda g: g.creation_time)

    def get(self, tenant: str, glossary_id: str) -> StoredGlossary:
        with self._lock:
            found = self._items.get(tenant, {}).get(glossary_id)
        if found is None:
            raise _not_found(glossary_id)
        return found

    def delete(self, tenant: str, glossary_id: str) -> None:
        with self._lock:
            if self._items.get(tenant, {}).pop(glossary_id, None) is None:
                raise _not_found(glossary_id)


class RedisGlossaryStore:
    """Glossaries in Redis, shared by every server process. While Redis is down, glossary requests answer 503
    (never a silent "not found")."""

    kind = "redis"

    def __init__(self, client: Any):
        import redis

        self.client = client
        self._errors = (redis.RedisError, OSError)

    def _call(self, method: str, *args: Any) -> Any:
        try:
            return getattr(self.client, method)(*args)
        except self._errors as exc:
            raise StoreUnavailable(
                f"the glossary store (Redis) does not answer ({exc}); retry when it is back"
            ) from exc

    @staticmethod
    def _key(tenant: str) -> str:
        return KEY_PREFIX + hashlib.sha256(tenant.encode("utf-8")).hexdigest()

    def add(self, tenant: str, glossary: Glossary) -> StoredGlossary:
        stored = _new(glossary)
        self._call("hset", self._key(tenant), stored.glossary_id, json.dumps(stored.to_json(), ensure_ascii=False))
        return stored

    def all(self, tenant: str) -> list[StoredGlossary]:
        rows = [StoredGlossary.from_json(raw) for raw in self._call("hgetall", self._key(tenant)).values()]
        return sorted(rows, key=lambda g: g.creation_time)

    def get(self, tenant: str, glossary_id: str) -> StoredGlossary:
        raw = self._call("hget", self._key(tenant), glossary_id)
        if raw is None:
            raise _not_found(glossary_id)
        return StoredGlossary.from_json(raw)

    def delete(self, tenant: str, glossary_id: str) -> None:
        if not self._call("hdel", self._key(tenant), glossary_id):
            raise _not_found(glossary_id)


def make_glossary_store(redis_client: Any = None) -> GlossaryStore:
    """Redis when the server has a Redis client, else process memory."""
    return RedisGlossaryStore(redis_client) if redis_client is not None else MemoryGlossaryStore()


def check_id(glossary_id: Any) -> str:
    """Raises:
    InvalidRequest: ``glossary_id`` is not a non-empty string."""
    if not isinstance(glossary_id, str) or not glossary_id.strip():
        raise InvalidRequest("'glossary_id' must be a glossary id (a string, from POST /v2/glossaries)")
    return glossary_id.strip()
