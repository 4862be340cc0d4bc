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
from serve._http import client_host, off_loop, read_body, string_list
from serve._markup import translate_markup
from serve._service import TranslationService


def _confidence(value: float) -> float:
    return round(100.0 * value, 1)


def routes(service: TranslationService) -> list[Route]:
    async def authorised_body(request: Request) -> dict[str, Any]:
        """The body, after the ``api_key`` check; every LibreTranslate call that translates needs ``q``."""
        body = await read_body(request)
        api_key = body.get("api_key") or None
        await off_loop(service.access.check, api_key if isinstance(api_key, str) else None, client_host(request))
        if "q" not in body:
            raise InvalidRequest("Invalid request: missing q parameter")
        return body

    async def translate(request: Request) -> Response:
        body = await authorised_body(request)
        single = isinstance(body["q"], str)
        texts = string_list(body["q"], "q")
        source = body.get("source") or "auto"
        target = body.get("target")
        if not isinstance(target, str) or not target:
            raise InvalidRequest("Invalid request: missing target parameter")
        fmt = body.get("format", "text")
        if fmt not in ("text", "html"):
            raise InvalidRequest(f"format {fmt!r} is not supported; accepted: text, html")
        try:
            alternatives = int(body.get("alternatives", 0) or 0)
        except (TypeError, ValueError):
            raise InvalidRequest("alternatives must be an integer") from None
        if not 0 <= alternatives <= 3:
            raise InvalidRequest("alternatives must be between 0 and 3")
        options = TranslationOptions(
            beam_size=max(4, alternatives + 1),
            n_best=alternatives + 1,
            max_batch_tokens=service.settings.max_batch_tokens,
        )
        if fmt == "html":
            service.check_limits(texts)
            results = await off_loop(
                lambda: translate_markup(
                    texts, lambda runs: [t.text for t in service.translate(runs, source, target, None, options)]
                )
            )
            rows: list[dict[str, Any]] = [{"translatedText": text} for text in results]
        else:
            translations = await off_loop(service.translate, texts, source, target, None, options)
            rows = []
            for t in translations:
                row: dict[str, Any] = {"translatedText": t.text}
                if source == "auto":
                    confidence = t.detected.confidence if t.detected else 1.0
                    row["detectedLanguage"] = {"confidence": _confidence(confidence), "language": t.source_lang}
                if alternatives:
                    row["alternatives"] = [a.text for a in t.alternatives][:alternatives]
                rows.append(row)
        if single:
            return JSONResponse(rows[0])
        merged: dict[str, Any] = {"translatedText": [r["translatedText"] for r in rows]}
        if rows and "detectedLanguage" in rows[0]:
            merged["detectedLanguage"] = [r["detectedLanguage"] for r in rows]
        if alternatives:
            merged["alternatives"] = [r.get("alternatives", []) for r in rows]
        return JSONResponse(merged)

    async def languages(request: Request) -> Response:
        reachable = service.kakehashi.languages()
        return JSONResponse(
            [
                {"code": code, "name": parse_language(code).name, "targets": targets}
                for code, targets in sorted(reachable.items())
            ]
        )

    async def detect(request: Request) -> Response:
        body = await authorised_body(request)
        texts = string_list(body["q"], "q")
        service.check_limits(texts)
        ranked = await off_loop(service.kakehashi.detector.rank, " ".join(texts))
        return JSONResponse([{"confidence": _confidence(d.confidence), "language": d.language} for d in ranked])

    async def frontend_settings(request: Request) -> Response:
        sources = sorted(service.kakehashi.languages())
        target = (
            "en"
            if "en" in {t for ts in service.kakehashi.languages().values() for t in ts}
            else (sources[0] if sources else "en")
        )
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
