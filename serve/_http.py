"""Request helpers shared by the API flavours: body parsing, the API key wherever a client puts it, and running
blocking work off the event loop."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import parse_qsl

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from mt import InputTooLarge, InvalidRequest

T = TypeVar("T")

MAX_BODY_BYTES = 4 * 1024 * 1024
# Deeper JSON is no request of ours (the deepest, an inline glossary in a request, is 3 levels): refused before
# anything recurses into it.
MAX_JSON_DEPTH = 32
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def _too_large(size: int | str) -> InputTooLarge:
    return InputTooLarge(f"request body of {size} bytes or more; at most {MAX_BODY_BYTES} are accepted")


async def read_raw_body(request: Request, limit: int = MAX_BODY_BYTES) -> bytes:
    """The request's bytes, counted while they arrive: a body over ``limit`` (declared or chunked) is refused
    as soon as it passes the limit, never read whole."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise _too_large(declared)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(size)
        chunks.append(chunk)
    return b"".join(chunks)


def _json_problem(value: Any, limit: int = MAX_JSON_DEPTH) -> str | None:
    """What makes a parsed JSON body unacceptable, checked without recursion: nesting deeper than ``limit``
    arrays and objects, or a string with an unpaired surrogate escape (``"\\ud800"``), which is not Unicode text
    and could be neither translated nor written back as UTF-8."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError as exc:
                return (
                    f"a string of the JSON body holds an unpaired surrogate ({item[exc.start]!r}); "
                    "strings must be Unicode text (escape astral characters as surrogate pairs)"
                )
            continue
        children = (
            [*item.keys(), *item.values()] if isinstance(item, dict) else item if isinstance(item, list) else None
        )
        if children is None:
            continue
        if depth > limit:
            return f"the JSON body nests deeper than {limit} levels; requests need at most a few"
        stack.extend((child, depth + 1) for child in children)
    return None


def _no_constant(name: str) -> Any:
    raise InvalidRequest(f"{name} is not JSON; numbers must be finite")


def _text(raw: bytes, what: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidRequest(f"the {what} is not valid UTF-8 (byte {exc.start}); send text encoded as UTF-8") from None


def _add(out: dict[str, Any], key: str, value: str) -> None:
    """Repeated form fields become lists (DeepL's ``text=…&text=…``)."""
    if key not in out:
        out[key] = value
    elif isinstance(out[key], list):
        out[key].append(value)
    else:
        out[key] = [out[key], value]


async def _multipart(request: Request, raw: bytes) -> dict[str, Any]:
    async def replay() -> dict[str, Any]:
        return {"type": "http.request", "body": raw, "more_body": False}

    out: dict[str, Any] = {}
    form = await Request(request.scope, replay).form()
    for key, value in form.multi_items():
        if not isinstance(value, str):
            raise InvalidRequest(f"field {key!r} must be text, not a file")
        _add(out, key, value)
    return out


async def read_body(request: Request) -> dict[str, Any]:
    """A JSON object or a form (repeated fields become lists), as a dict.

    Forms are UTF-8, whatever their ``charset`` says: it is what every DeepL and LibreTranslate client sends.

    Raises:
        InputTooLarge: the body is over :data:`MAX_BODY_BYTES`.
        InvalidRequest: not UTF-8, not JSON, not an object, or nested deeper than :data:`MAX_JSON_DEPTH`.
    """
    raw = await read_raw_body(request)
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type in FORM_TYPES:
        # Forms carry text fields only (files are refused), so the whole body must be UTF-8.
        text = _text(raw, "form body")
        if content_type == "multipart/form-data":
            return await _multipart(request, raw)
        out: dict[str, Any] = {}
        try:
            pairs = parse_qsl(text, keep_blank_values=True, encoding="utf-8", errors="strict")
        except UnicodeDecodeError:
            raise InvalidRequest("a form field is not valid UTF-8 once percent-decoded; send UTF-8 text") from None
        for key, value in pairs:
            _add(out, key, value)
        return out
    if not raw.strip():
        return {}
    try:
        data = json.loads(_text(raw, "JSON body"), parse_constant=_no_constant)
        problem = _json_problem(data)
    except json.JSONDecodeError as exc:
        raise InvalidRequest(f"the body is not valid JSON ({exc}); send JSON or a form") from exc
    except RecursionError:
        problem = f"the JSON body nests deeper than {MAX_JSON_DEPTH} levels; requests need at most a few"
    if problem:
        raise InvalidRequest(problem)
    if not isinstance(data, dict):
        raise InvalidRequest("the JSON body must be an object")
    return data


async def off_loop(function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run blocking work (translation, Redis) in a worker thread, never on the event loop."""
    return await run_in_threadpool(function, *args, **kwargs)


def api_key(request: Request, body: dict[str, Any]) -> str | None:
    """The API key, wherever the client's API puts it: ``Authorization: Bearer …`` or ``DeepL-Auth-Key …``,
    ``X-API-Key``, the body's ``api_key`` (LibreTranslate) or ``auth_key`` (DeepL), or the same names in the
    query string (older DeepL and LibreTranslate clients; the access log redacts them)."""
    header = request.headers.get("authorization", "")
    for scheme in ("Bearer ", "DeepL-Auth-Key "):
        if header[: len(scheme)].lower() == scheme.lower():
            return header[len(scheme) :].strip() or None
    for name in ("api_key", "auth_key"):
        if name in body and not isinstance(body[name], str):
            raise InvalidRequest(f"{name!r} must be a string (the API key)")
    query = request.query_params
    for found in (
        request.headers.get("x-api-key"),
        body.get("api_key"),
        body.get("auth_key"),
        query.get("api_key"),
        query.get("auth_key"),
    ):
        if found:
            return str(found)
    return None


def client_host(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def authorised_body(request: Request, authorize: Callable[[str | None, str], None]) -> dict[str, Any]:
    """The request's body (:func:`read_body`), once ``authorize(api key, client address)`` let it through."""
    body = await read_body(request)
    await off_loop(authorize, api_key(request, body), client_host(request))
    return body


async def authorised_info(
    request: Request,
    require_key: bool,
    public_paths: tuple[str, ...],
    authorize: Callable[[str | None, str], None],
) -> dict[str, Any]:
    """The body of an information request (languages, models, metrics, settings): read, and with ``require_key``
    authorised unless its path is one of ``public_paths``."""
    body = await read_body(request)
    if require_key and request.url.path not in public_paths:
        await off_loop(authorize, api_key(request, body), client_host(request))
    return body
