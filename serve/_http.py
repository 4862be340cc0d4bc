"""Request helpers shared by the API flavours: body parsing, the API key wherever a client puts it, and running
blocking work off the event loop."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from mt import InputTooLarge, InvalidRequest

T = TypeVar("T")

MAX_BODY_BYTES = 4 * 1024 * 1024


async def read_body(request: Request) -> dict[str, Any]:
    """A JSON object or a form (repeated fields become lists), as a dict."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise InputTooLarge(f"request body of {declared} bytes; at most {MAX_BODY_BYTES} are accepted")
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        form = await request.form()
        out: dict[str, Any] = {}
        for key, value in form.multi_items():
            if not isinstance(value, str):
                raise InvalidRequest(f"field {key!r} must be text, not a file")
            out[key] = (
                [*out[key], value] if isinstance(out.get(key), list) else ([out[key], value] if key in out else value)
            )
        return out
    raw = await request.body()
    if len(raw) > MAX_BODY_BYTES:
        raise InputTooLarge(f"request body of {len(raw)} bytes; at most {MAX_BODY_BYTES} are accepted")
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidRequest(f"the body is not valid JSON ({exc}); send JSON or a form") from exc
    if not isinstance(data, dict):
        raise InvalidRequest("the JSON body must be an object")
    return data


async def off_loop(function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run blocking work (translation, Redis) in a worker thread, never on the event loop."""
    return await run_in_threadpool(function, *args, **kwargs)


def api_key(request: Request, body: dict[str, Any]) -> str | None:
    """The API key, wherever the client's API puts it: ``Authorization: Bearer …`` or ``DeepL-Auth-Key …``,
    ``X-API-Key``, or the body's ``api_key`` (LibreTranslate) or ``auth_key`` (DeepL)."""
    header = request.headers.get("authorization", "")
    for scheme in ("Bearer ", "DeepL-Auth-Key "):
        if header.startswith(scheme):
            return header[len(scheme) :].strip() or None
    for found in (request.headers.get("x-api-key"), body.get("api_key"), body.get("auth_key")):
        if isinstance(found, str) and found:
            return found
    return None


def client_host(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def authorised_body(request: Request, authorize: Callable[[str | None, str], None]) -> dict[str, Any]:
    """The request's body (:func:`read_body`), once ``authorize(api key, client address)`` let it through."""
    body = await read_body(request)
    await off_loop(authorize, api_key(request, body), client_host(request))
    return body
