"""Every exception the REST service adds to Kakehashi's, and the one table that maps them all to HTTP statuses
and error bodies, for each API flavour."""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import JSONResponse

from mt import (
    ConversionError,
    InputTooLarge,
    InvalidModel,
    InvalidRequest,
    KakehashiError,
    MissingDependency,
    ModelNotFound,
    UnsupportedLanguage,
    UnsupportedLanguagePair,
)

log = logging.getLogger("kakehashi.http")


class Unauthorized(KakehashiError):
    """No API key, or an unknown one, where the server requires a key."""


class RateLimited(KakehashiError):
    """An API key (or client address) used up its requests for this minute."""

    def __init__(self, retry_after_s: int):
        self.retry_after_s = retry_after_s
        super().__init__(f"rate limit exceeded; retry after {retry_after_s} s")


class Overloaded(KakehashiError):
    """The translation queue is full; retry after a moment."""

    def __init__(self, retry_after_s: int = 1):
        self.retry_after_s = retry_after_s
        super().__init__(f"the server is busy (translation queue full); retry after {retry_after_s} s")


class RequestTimedOut(KakehashiError):
    """A translation did not finish within ``request_timeout_s``."""

    def __init__(self, seconds: float):
        super().__init__(f"translation did not finish within the request timeout of {seconds:g} s")


class QuotaExceeded(KakehashiError):
    """The server's character quota (``character_limit``) is used up."""


class NotFound(KakehashiError):
    """A referenced resource (such as a glossary) does not exist."""


class StoreUnavailable(KakehashiError):
    """The store that keeps glossaries (Redis) does not answer; retry when it is back."""


class MethodNotAllowed(KakehashiError):
    """The path exists, but not for this HTTP method."""


# Checked in order: the first matching class decides the status.
STATUS: list[tuple[type[Exception], int]] = [
    (Unauthorized, 403),
    (RateLimited, 429),
    (Overloaded, 429),
    (QuotaExceeded, 456),
    (InputTooLarge, 413),
    (RequestTimedOut, 504),
    (ModelNotFound, 404),
    (NotFound, 404),
    (MethodNotAllowed, 405),
    (StoreUnavailable, 503),
    (UnsupportedLanguagePair, 400),
    (UnsupportedLanguage, 400),
    (InvalidRequest, 400),
    (InvalidModel, 500),
    (MissingDependency, 500),
    (ConversionError, 500),
]


def status_of(exc: Exception) -> int:
    for cls, status in STATUS:
        if isinstance(exc, cls):
            return status
    return 500


def _headers(exc: Exception) -> dict[str, str]:
    retry = getattr(exc, "retry_after_s", None)
    return {"Retry-After": str(retry)} if retry is not None else {}


LIBRETRANSLATE_PATHS = frozenset({"/translate", "/languages", "/detect", "/frontend/settings"})


def flavour_of(path: str) -> str:
    """Which API's error format a path answers with: DeepL under /v2/, LibreTranslate on its own paths, else ours."""
    if path.startswith("/v2/"):
        return "deepl"
    if path.rstrip("/") in LIBRETRANSLATE_PATHS:
        return "libretranslate"
    return "native"


def error_response(request: Request, exc: Exception) -> JSONResponse:
    status = status_of(exc)
    message = str(exc) if isinstance(exc, KakehashiError) else "internal error; the server log has the details"
    if status >= 500 and not isinstance(exc, KakehashiError):
        log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    flavour = flavour_of(request.url.path)
    if flavour == "deepl":
        body: dict[str, object] = {"message": message}
    elif flavour == "libretranslate":
        body = {"error": message}
    else:
        body = {
            "error": {
                "type": type(exc).__name__ if isinstance(exc, KakehashiError) else "InternalError",
                "message": message,
            }
        }
    return JSONResponse(body, status_code=status, headers=_headers(exc))


def routing_error_response(request: Request, exc: Exception) -> JSONResponse:
    """Starlette's own 404 and 405 (no such path, wrong method) in the error format of the path's API."""
    status = getattr(exc, "status_code", 500)
    path, method = request.url.path, request.method
    if status == 405:
        allowed = getattr(exc, "headers", None) or {}
        accepted = allowed.get("Allow") or allowed.get("allow") or "another method"
        return error_response(request, MethodNotAllowed(f"{method} is not accepted on {path}; use {accepted}"))
    if status == 404:
        return error_response(request, NotFound(f"no endpoint at {path}; the endpoints are listed in /openapi.json"))
    return error_response(request, InvalidRequest(str(getattr(exc, "detail", exc))))
