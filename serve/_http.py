"""Request helpers shared by the API flavours: body parsing, option parsing, running blocking work off the loop."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from mt import InputTooLarge, InvalidRequest, TranslationOptions

T = TypeVar("T")

OPTION_TYPES: dict[str, type] = {
    "beam_size": int,
    "n_best": int,
    "length_penalty": float,
    "repetition_penalty": float,
    "no_repeat_ngram_size": int,
    "sampling_topk": int,
    "sampling_topp": float,
    "sampling_temperature": float,
    "max_decoding_length": int,
    "target_prefix": str,
}

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


def string_list(value: Any, name: str) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    raise InvalidRequest(f"{name!r} must be a string or a list of strings")


def parse_options(raw: Any, server_max_batch_tokens: int) -> TranslationOptions:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise InvalidRequest("'options' must be an object")
    unknown = set(raw) - set(OPTION_TYPES)
    if unknown:
        raise InvalidRequest(f"unknown option(s) {', '.join(sorted(unknown))}; accepted: {', '.join(OPTION_TYPES)}")
    values: dict[str, Any] = {}
    for key, value in raw.items():
        kind = OPTION_TYPES[key]
        if value is None:
            continue
        if kind is str and not isinstance(value, str):
            raise InvalidRequest(f"option {key!r} must be a string")
        if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
            raise InvalidRequest(f"option {key!r} must be an integer")
        if kind is float and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise InvalidRequest(f"option {key!r} must be a number")
        values[key] = kind(value)
    return TranslationOptions(max_batch_tokens=server_max_batch_tokens, **values)


async def off_loop(function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run blocking work (translation, Redis) in a worker thread, never on the event loop."""
    return await run_in_threadpool(function, *args, **kwargs)


def bearer_key(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    for scheme in ("Bearer ", "DeepL-Auth-Key "):
        if header.startswith(scheme):
            return header[len(scheme) :].strip() or None
    return request.headers.get("x-api-key") or None


def client_host(request: Request) -> str:
    return request.client.host if request.client else "unknown"
