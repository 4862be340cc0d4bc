"""DeepL API v2-compatible endpoints, as an adapter over the same service.

``POST /v2/translate`` (form or JSON; ``text`` repeated or a list; ``source_lang``; ``target_lang`` such as
``EN-US`` or ``JA``; ``split_sentences``, ``preserve_formatting``, ``tag_handling`` html/xml, ``formality`` and
``glossary_id`` accepted), ``Authorization: DeepL-Auth-Key …``; ``GET|POST /v2/languages?type=source|target``;
``GET|POST /v2/usage``. Errors are ``{"message": "…"}`` with DeepL's status codes (400, 403, 404, 413, 429, 456).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mt import InvalidRequest, TranslationOptions, parse_language
from serve._errors import NotFound, QuotaExceeded
from serve._http import bearer_key, client_host, off_loop, read_body, string_list
from serve._markup import translate_markup
from serve._service import TranslationService

SPLIT_SENTENCES = ("0", "1", "nonewlines")
FORMALITY = ("default", "more", "less", "prefer_more", "prefer_less")
# DeepL names regional variants of these targets; other languages are plain upper-case codes.
TARGET_VARIANTS = {"en": ["EN-GB", "EN-US"], "pt": ["PT-BR", "PT-PT"], "zh": ["ZH-HANS"]}


def deepl_code(code: str) -> str:
    return parse_language(code).base.upper()


def routes(service: TranslationService) -> list[Route]:
    def authenticate(request: Request, body: dict[str, Any]) -> None:
        key = bearer_key(request) or (body.get("auth_key") if isinstance(body.get("auth_key"), str) else None)
        service.access.check(key, client_host(request))

    async def translate(request: Request) -> Response:
        body = await read_body(request)
        await off_loop(authenticate, request, body)
        if "text" not in body:
            raise InvalidRequest("Parameter 'text' not specified.")
        texts = string_list(body["text"], "text")
        target = body.get("target_lang")
        if not isinstance(target, str) or not target:
            raise InvalidRequest("Parameter 'target_lang' not specified.")
        source = body.get("source_lang") or "auto"
        if not isinstance(source, str):
            raise InvalidRequest("Value for 'source_lang' not supported.")
        split = str(body.get("split_sentences", "1"))
        if split not in SPLIT_SENTENCES:
            raise InvalidRequest(f"Value for 'split_sentences' not supported; accepted: {', '.join(SPLIT_SENTENCES)}")
        formality = body.get("formality", "default")
        if formality not in FORMALITY:
            raise InvalidRequest(f"Value for 'formality' not supported; accepted: {', '.join(FORMALITY)}")
        tag_handling = body.get("tag_handling")
        if tag_handling not in (None, "", "html", "xml"):
            raise InvalidRequest("Value for 'tag_handling' not supported; accepted: html, xml")
        if body.get("glossary_id"):
            raise NotFound(f"glossary {body['glossary_id']!r} not found; this server has no glossaries")
        service.check_limits(texts)
        limit = service.settings.character_limit
        characters = sum(len(t) for t in texts)
        if limit and service.characters + characters > limit:
            raise QuotaExceeded(f"character quota of {limit} reached")
        options = TranslationOptions(max_batch_tokens=service.settings.max_batch_tokens)
        source_code = "auto" if source == "auto" else source
        if tag_handling:
            detected = deepl_code(source) if source != "auto" else None
            outputs = await off_loop(
                lambda: translate_markup(
                    texts, lambda runs: [t.text for t in service.translate(runs, source_code, target, None, options)]
                )
            )
            rows = [
                {"detected_source_language": detected or "", "text": text, "billed_characters": len(original)}
                for text, original in zip(outputs, texts)
            ]
        else:
            results = await off_loop(service.translate, texts, source_code, target, None, options)
            rows = [
                {
                    "detected_source_language": deepl_code(t.source_lang),
                    "text": t.text,
                    "billed_characters": len(original),
                }
                for t, original in zip(results, texts)
            ]
        return JSONResponse({"translations": rows})

    async def languages(request: Request) -> Response:
        # DeepL's own client sends ``type`` as form data, even with GET.
        body = await read_body(request)
        kind = request.query_params.get("type") or body.get("type") or "source"
        if kind not in ("source", "target"):
            raise InvalidRequest("Value for 'type' not supported; accepted: source, target")
        reachable = service.kakehashi.languages()
        if kind == "source":
            codes = sorted(reachable)
            return JSONResponse([{"language": c.upper(), "name": parse_language(c).name} for c in codes])
        targets = sorted({t for ts in reachable.values() for t in ts})
        rows = []
        for code in targets:
            language = parse_language(code)
            for variant in TARGET_VARIANTS.get(language.base, [language.base.upper()]):
                rows.append({"language": variant, "name": language.name, "supports_formality": False})
        return JSONResponse(rows)

    async def usage(request: Request) -> Response:
        body = await read_body(request)
        await off_loop(authenticate, request, body)
        limit = service.settings.character_limit
        return JSONResponse({"character_count": service.characters, "character_limit": limit or 1_000_000_000_000})

    return [
        Route("/v2/translate", translate, methods=["POST"]),
        Route("/v2/languages", languages, methods=["GET", "POST"]),
        Route("/v2/usage", usage, methods=["GET", "POST"]),
    ]
