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
from serve._errors import NotFound
from serve._http import authorised_body, off_loop, read_body
from serve._schema import TranslationRequest, string_list
from serve._service import TranslationService

SPLIT_SENTENCES = ("0", "1", "nonewlines")
FORMALITY = ("default", "more", "less", "prefer_more", "prefer_less")
TAG_HANDLING = ("html", "xml")
# DeepL names regional variants of these targets; other languages are plain upper-case codes.
TARGET_VARIANTS = {"en": ["EN-GB", "EN-US"], "pt": ["PT-BR", "PT-PT"], "zh": ["ZH-HANS"]}


def request_schema() -> dict[str, Any]:
    """``POST /v2/translate``'s body, as :func:`_translation_request` reads it."""
    return {
        "type": "object",
        "required": ["text", "target_lang"],
        "properties": {
            "text": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
            "source_lang": {"type": "string"},
            "target_lang": {"type": "string", "example": "EN-US"},
            "split_sentences": {"type": "string", "enum": list(SPLIT_SENTENCES)},
            "preserve_formatting": {"type": "boolean"},
            "tag_handling": {"type": "string", "enum": list(TAG_HANDLING)},
            "formality": {"type": "string", "enum": list(FORMALITY)},
            "glossary_id": {"type": "string"},
            "auth_key": {"type": "string"},
        },
    }


def deepl_code(code: str) -> str:
    return parse_language(code).base.upper() if code else ""


def _translation_request(body: dict[str, Any], max_batch_tokens: int) -> TranslationRequest:
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
    if body.get("formality", "default") not in FORMALITY:
        raise InvalidRequest(f"Value for 'formality' not supported; accepted: {', '.join(FORMALITY)}")
    tag_handling = body.get("tag_handling") or None
    if tag_handling is not None and tag_handling not in TAG_HANDLING:
        raise InvalidRequest(f"Value for 'tag_handling' not supported; accepted: {', '.join(TAG_HANDLING)}")
    if body.get("glossary_id"):
        raise NotFound(f"glossary {body['glossary_id']!r} not found; this server has no glossaries")
    options = TranslationOptions(max_batch_tokens=max_batch_tokens)
    return TranslationRequest(tuple(texts), target, source, None, options, tag_handling)


def routes(service: TranslationService) -> list[Route]:
    async def translate(request: Request) -> Response:
        body = await authorised_body(request, service.authorize)
        parsed = _translation_request(body, service.settings.max_batch_tokens)
        results = await off_loop(service.translate, parsed, True)
        rows = [
            {
                "detected_source_language": deepl_code(t.source_lang),
                "text": t.text,
                "billed_characters": len(original),
            }
            for t, original in zip(results, parsed.texts)
        ]
        return JSONResponse({"translations": rows})

    async def languages(request: Request) -> Response:
        # DeepL's own client sends ``type`` as form data, even with GET.
        body = await read_body(request)
        kind = request.query_params.get("type") or body.get("type") or "source"
        if kind not in ("source", "target"):
            raise InvalidRequest("Value for 'type' not supported; accepted: source, target")
        rows = service.languages()
        if kind == "source":
            return JSONResponse([{"language": row.code.upper(), "name": row.name} for row in rows])
        targets = sorted({t for row in rows for t in row.targets})
        variants = []
        for code in targets:
            language = parse_language(code)
            for variant in TARGET_VARIANTS.get(language.base, [language.base.upper()]):
                variants.append({"language": variant, "name": language.name, "supports_formality": False})
        return JSONResponse(variants)

    async def usage(request: Request) -> Response:
        await authorised_body(request, service.authorize)
        limit = service.settings.character_limit
        return JSONResponse({"character_count": service.characters, "character_limit": limit or 1_000_000_000_000})

    return [
        Route("/v2/translate", translate, methods=["POST"]),
        Route("/v2/languages", languages, methods=["GET", "POST"]),
        Route("/v2/usage", usage, methods=["GET", "POST"]),
    ]
