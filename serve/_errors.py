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
from mt._errors import DocumentError

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


class DocumentNotReady(KakehashiError):
    """A document job's result was asked for before the job is done; retry after ``retry_after_s``."""

    def __init__(self, message: str, retry_after_s: int = 1):
        self.retry_after_s = retry_after_s
        super().__init__(message)


class UnsupportedMediaType(KakehashiError):
    """An uploaded document is of a type no format module reads; the message lists the accepted types."""


class MethodNotAllowed(KakehashiError):
    """The path exists, but not for this HTTP method; ``allow`` lists the methods it takes."""

    def __init__(self, message: str, allow: str = ""):
        self.allow = allow
        super().__init__(message)


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
    (DocumentNotReady, 503),
    (UnsupportedMediaType, 415),
    (UnsupportedLanguagePair, 400),
    (UnsupportedLanguage, 400),
    (InvalidRequest, 400),
    (DocumentError, 400),
    (InvalidModel, 500),
    (MissingDependency, 500),
    (ConversionError, 500),
]


# Server-side states whose messages name no file and tell the client what to do.
_OWN_5XX = (StoreUnavailable, RequestTimedOut, DocumentNotReady)


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


def error_body(exc: Exception, flavour: str, where: str = "") -> dict[str, object]:
    """The error body of ``flavour`` ("deepl", "libretranslate", "native", or "stream": an SSE ``error`` event's
    data). A server-side failure (5xx) says only that: its message may name files on the server, which the log
    keeps."""
    status = status_of(exc)
    known = (isinstance(exc, KakehashiError) and status < 500) or isinstance(exc, _OWN_5XX)
    message = str(exc) if known else "internal error; the server log has the details"
    kind = type(exc).__name__ if known else "InternalError"
    if not known:
        log.error("internal error%s", f" on {where}" if where else "", exc_info=exc)
    if flavour == "deepl":
        return {"message": message}
    if flavour == "libretranslate":
        return {"error": message}
    if flavour == "stream":
        return {"type": kind, "message": message}
    return {"error": {"type": kind, "message": message}}


def error_response(request: Request, exc: Exception) -> JSONResponse:
    headers = _headers(exc)
    if isinstance(exc, MethodNotAllowed) and exc.allow:
        headers["Allow"] = exc.allow
    body = error_body(exc, flavour_of(request.url.path), f"{request.method} {request.url.path}")
    return JSONResponse(body, status_code=status_of(exc), headers=headers)


def routing_error_response(request: Request, exc: Exception) -> JSONResponse:
    """Starlette's own 404 and 405 (no such path, wrong method) in the error format of the path's API."""
    status = getattr(exc, "status_code", 500)
    path, method = request.url.path, request.method
    if status == 405:
        allowed = getattr(exc, "headers", None) or {}
        allow = allowed.get("Allow") or allowed.get("allow") or ""
        message = f"{method} is not accepted on {path}; use {allow or 'another method'}"
        return error_response(request, MethodNotAllowed(message, allow))
    if status == 404:
        return error_response(request, NotFound(f"no endpoint at {path}; the endpoints are listed in /openapi.json"))
    return error_response(request, InvalidRequest(str(getattr(exc, "detail", exc))))
