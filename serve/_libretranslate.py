"""LibreTranslate-compatible endpoints, as an adapter over the same service.

``POST /translate`` (JSON or form; ``q`` a string or a list; ``source`` incl. ``auto``; ``format`` text|html;
``alternatives``; ``api_key``), ``GET|POST /languages``, ``POST /detect``, ``GET /frontend/settings``.
Errors are ``{"error": "…"}``.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mt import InvalidRequest, TranslationOptions, parse_language
from serve._http import authorised_body, authorised_info, off_loop
from serve._schema import TranslationRequest, string_list
from serve._service import TranslationService

FORMATS = ("text", "html")


def request_schema() -> dict[str, Any]:
    """``POST /translate``'s body, as :func:`_translation_request` reads it."""
    return {
        "type": "object",
        "required": ["q", "target"],
        "properties": {
            "q": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
            "source": {"type": "string", "format": "language-code", "default": "auto"},
            "target": {"type": "string", "format": "language-code"},
            "format": {"type": "string", "enum": list(FORMATS)},
            "alternatives": {"type": "integer", "minimum": 0, "maximum": 3},
            "api_key": {"type": "string"},
        },
    }


def detect_request_schema() -> dict[str, Any]:
    """``POST /detect``'s body: ``q``, whose texts are ranked together."""
    return {
        "type": "object",
        "required": ["q"],
        "properties": {
            "q": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
            "api_key": {"type": "string"},
        },
    }


def _confidence(value: float) -> float:
    return round(100.0 * value, 1)


def _alternatives(body: dict[str, Any]) -> int:
    value = body.get("alternatives", 0)
    # An integer in JSON, digits in a form.
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidRequest(f"alternatives must be an integer between 0 and 3, not {value!r}")
    alternatives = value
    if not 0 <= alternatives <= 3:
        raise InvalidRequest("alternatives must be between 0 and 3")
    return alternatives


def _translation_request(body: dict[str, Any], max_batch_tokens: int) -> TranslationRequest:
    target = body.get("target")
    if not isinstance(target, str) or not target:
        raise InvalidRequest("Invalid request: missing target parameter")
    fmt = body.get("format", "text")
    if fmt not in FORMATS:
        raise InvalidRequest(f"format {fmt!r} is not supported; accepted: {', '.join(FORMATS)}")
    alternatives = _alternatives(body)
    options = TranslationOptions(
        beam_size=max(4, alternatives + 1), n_best=alternatives + 1, max_batch_tokens=max_batch_tokens
    )
    source = body.get("source") or "auto"
    if not isinstance(source, str):
        raise InvalidRequest("source must be a language code such as 'ja', or 'auto'")
    markup = "html" if fmt == "html" else None
    return TranslationRequest(tuple(string_list(body["q"], "q")), target, source, None, options, markup)


def routes(service: TranslationService) -> list[Route]:
    async def body_with_q(request: Request) -> dict[str, Any]:
        """The body, after the ``api_key`` check; every LibreTranslate call that translates needs ``q``."""
        body = await authorised_body(request, service.authorize)
        if "q" not in body:
            raise InvalidRequest("Invalid request: missing q parameter")
        return body

    async def translate(request: Request) -> Response:
        body = await body_with_q(request)
        parsed = _translation_request(body, service.settings.max_batch_tokens)
        alternatives = parsed.options.n_best - 1
        results = await service.admitted(service.translate, parsed)
        rows: list[dict[str, Any]] = []
        for t in results:
            row: dict[str, Any] = {"translatedText": t.text}
            if parsed.source == "auto" and not parsed.markup:
                confidence = t.detected.confidence if t.detected else 1.0
                row["detectedLanguage"] = {"confidence": _confidence(confidence), "language": t.source_lang}
            if alternatives and not parsed.markup:
                row["alternatives"] = [a.text for a in t.alternatives][:alternatives]
            rows.append(row)
        if isinstance(body["q"], str):
            return JSONResponse(rows[0])
        merged: dict[str, Any] = {"translatedText": [r["translatedText"] for r in rows]}
        if rows and "detectedLanguage" in rows[0]:
            merged["detectedLanguage"] = [r["detectedLanguage"] for r in rows]
        if alternatives:
            merged["alternatives"] = [r.get("alternatives", []) for r in rows]
        return JSONResponse(merged)

    async def info(request: Request) -> None:
        s = service.settings
        await authorised_info(request, s.require_api_key, s.public_paths, service.authorize)

    async def languages(request: Request) -> Response:
        await info(request)
        return JSONResponse(
            [{"code": row.code, "name": row.name, "targets": list(row.targets)} for row in service.languages()]
        )

    async def detect(request: Request) -> Response:
        body = await body_with_q(request)
        # LibreTranslate ranks the languages of all its texts together.
        ranked = await off_loop(service.detect, [" ".join(string_list(body["q"], "q"))])
        return JSONResponse([{"confidence": _confidence(d.confidence), "language": d.language} for d in ranked[0]])

    async def frontend_settings(request: Request) -> Response:
        await info(request)
        rows = service.languages()
        targets = {t for row in rows for t in row.targets}
        target = "en" if "en" in targets else (rows[0].code if rows else "en")
        return JSONResponse(
            {
                "charLimit": service.settings.max_chars_per_text,
                "frontendTimeout": 500,
                "apiKeys": bool(service.settings.api_keys_file),
                "keyRequired": service.settings.require_api_key,
                "suggestions": False,
                "filesTranslation": False,
                "supportedFilesFormat": [],
                "language": {
                    "source": {"code": "auto", "name": "Auto Detect"},
                    "target": {"code": target, "name": parse_language(target).name},
                },
            }
        )

    return [
        Route("/translate", translate, methods=["POST"]),
        Route("/languages", languages, methods=["GET", "POST"]),
        Route("/detect", detect, methods=["POST"]),
        Route("/frontend/settings", frontend_settings, methods=["GET"]),
    ]
