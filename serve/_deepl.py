"""DeepL API v2-compatible endpoints, as an adapter over the same service.

``POST /v2/translate`` (form or JSON; ``text`` repeated or a list; ``source_lang``; ``target_lang`` such as
``EN-US`` or ``JA``; ``split_sentences``, ``preserve_formatting``, ``tag_handling`` html/xml, ``formality`` and
``glossary_id`` accepted), ``Authorization: DeepL-Auth-Key …``; ``GET|POST /v2/languages?type=source|target``;
``GET|POST /v2/usage``; glossaries: ``POST|GET /v2/glossaries``, ``GET|DELETE /v2/glossaries/{id}``,
``GET /v2/glossaries/{id}/entries`` (TSV) and ``GET /v2/glossary-language-pairs``, each API key seeing its own.
Errors are ``{"message": "…"}`` with DeepL's status codes (400, 403, 404, 413, 429, 456).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mt import InvalidRequest, TranslationOptions, UnsupportedLanguagePair, parse_language
from mt._glossary import Glossary, parse_glossary
from serve._glossaries import StoredGlossary, authorised_tenant, check_id
from serve._http import authorised_body, authorised_info, off_loop
from serve._schema import LanguageInfo, TranslationRequest, string_list
from serve._service import TranslationService

SPLIT_SENTENCES = ("0", "1", "nonewlines")
FORMALITY = ("default", "more", "less", "prefer_more", "prefer_less")
TAG_HANDLING = ("html", "xml")
# DeepL names regional variants of these targets; other languages are plain upper-case codes.
TARGET_VARIANTS = {"en": ["EN-GB", "EN-US"], "pt": ["PT-BR", "PT-PT"], "zh": ["ZH-HANS"]}
ENTRIES_FORMATS = ("tsv", "csv")
# A boolean in JSON; in a form, the spellings DeepL's clients send.
PRESERVE_FORMATTING = (True, False, "0", "1", "true", "false", "True", "False")


def request_schema() -> dict[str, Any]:
    """``POST /v2/translate``'s body, as :func:`_translation_request` reads it."""
    return {
        "type": "object",
        "required": ["text", "target_lang"],
        "properties": {
            "text": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
            "source_lang": {"type": "string", "format": "language-code"},
            "target_lang": {"type": "string", "format": "language-code", "example": "EN-US"},
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


def glossary_request_schema() -> dict[str, Any]:
    """``POST /v2/glossaries``'s body, as :func:`_glossary` reads it."""
    return {
        "type": "object",
        "required": ["name", "source_lang", "target_lang", "entries", "entries_format"],
        "properties": {
            "name": {"type": "string"},
            "source_lang": {"type": "string", "example": "ja"},
            "target_lang": {"type": "string", "example": "en"},
            "entries": {"type": "string", "description": "one 'source term<TAB>target term' per line (or CSV)"},
            "entries_format": {"type": "string", "enum": list(ENTRIES_FORMATS)},
        },
    }


def glossary_pairs(languages: list[LanguageInfo]) -> list[tuple[str, str]]:
    """The language pairs glossaries are accepted for: every pair the server translates."""
    return [(row.code, target) for row in languages for target in row.targets]


def _glossary(body: dict[str, Any], pairs: list[tuple[str, str]]) -> Glossary:
    """A glossary from ``POST /v2/glossaries``'s body, for one of ``pairs``."""
    for name in ("name", "source_lang", "target_lang", "entries"):
        if not isinstance(body.get(name), str) or not body[name].strip():
            raise InvalidRequest(
                f"Parameter '{name}' not specified; a glossary needs name, source_lang, target_lang, entries"
            )
    fmt = body.get("entries_format") or "tsv"
    if fmt not in ENTRIES_FORMATS:
        raise InvalidRequest(f"Value for 'entries_format' not supported; accepted: {', '.join(ENTRIES_FORMATS)}")
    glossary = parse_glossary(body["entries"], fmt, body["source_lang"], body["target_lang"], body["name"].strip())
    if (glossary.source, glossary.target) not in pairs:
        raise UnsupportedLanguagePair(glossary.source, glossary.target, [f"{a}→{b}" for a, b in pairs])
    return glossary


def _glossary_info(stored: StoredGlossary) -> dict[str, Any]:
    g = stored.glossary
    return {
        "glossary_id": stored.glossary_id,
        "name": g.name,
        "ready": True,
        "source_lang": g.source,
        "target_lang": g.target,
        "creation_time": stored.creation_time,
        "entry_count": len(g.entries),
    }


def _translation_request(body: dict[str, Any], max_batch_tokens: int, glossary: Glossary | None) -> TranslationRequest:
    if "text" not in body:
        raise InvalidRequest("Parameter 'text' not specified.")
    texts = string_list(body["text"], "text")
    target = body.get("target_lang")
    if not isinstance(target, str) or not target:
        raise InvalidRequest("Parameter 'target_lang' not specified.")
    source = body.get("source_lang") or "auto"
    if not isinstance(source, str):
        raise InvalidRequest("Value for 'source_lang' not supported.")
    split = body.get("split_sentences", "1")
    if split not in SPLIT_SENTENCES:
        raise InvalidRequest(f"Value for 'split_sentences' not supported; accepted: {', '.join(SPLIT_SENTENCES)}")
    if body.get("formality", "default") not in FORMALITY:
        raise InvalidRequest(f"Value for 'formality' not supported; accepted: {', '.join(FORMALITY)}")
    if body.get("preserve_formatting", False) not in PRESERVE_FORMATTING:
        raise InvalidRequest("Value for 'preserve_formatting' not supported; accepted: true, false (or 1, 0 in a form)")
    tag_handling = body.get("tag_handling")
    if tag_handling is not None and tag_handling not in TAG_HANDLING:
        raise InvalidRequest(f"Value for 'tag_handling' not supported; accepted: {', '.join(TAG_HANDLING)}")
    if glossary is not None and source == "auto":
        raise InvalidRequest("Parameter 'source_lang' is required when a glossary is used.")
    options = TranslationOptions(max_batch_tokens=max_batch_tokens)
    return TranslationRequest(tuple(texts), target, source, None, options, tag_handling, glossary)


def routes(service: TranslationService) -> list[Route]:
    async def translate(request: Request) -> Response:
        body, tenant = await authorised_tenant(request, service.identify)
        glossary = None
        if body.get("glossary_id"):
            glossary_id = check_id(body["glossary_id"])
            glossary = (await off_loop(service.glossaries.get, tenant, glossary_id)).glossary
        parsed = _translation_request(body, service.settings.max_batch_tokens, glossary)
        results = await service.admitted(service.translate, parsed, True)
        rows = []
        for t, original in zip(results, parsed.texts):
            source = t.source_lang
            if not source:
                # A document without text runs (markup only) was not detected by the pipeline; DeepL always
                # names a language, so detect it here.
                # A text without letters is taken as already in the target language, as plain texts are.
                ranked = (await off_loop(service.detect, [original]))[0]
                source = ranked[0].language if ranked else parsed.target
            rows.append(
                {"detected_source_language": deepl_code(source), "text": t.text, "billed_characters": len(original)}
            )
        return JSONResponse({"translations": rows})

    async def languages(request: Request) -> Response:
        # DeepL's own client sends ``type`` as form data, even with GET.
        s = service.settings
        body = await authorised_info(request, s.require_api_key, s.public_paths, service.authorize)
        kind = request.query_params.get("type", body.get("type", "source"))
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

    async def create_glossary(request: Request) -> Response:
        body, tenant = await authorised_tenant(request, service.identify)
        glossary = _glossary(body, glossary_pairs(service.languages()))
        stored = await off_loop(service.glossaries.add, tenant, glossary)
        return JSONResponse(_glossary_info(stored), status_code=201)

    async def list_glossaries(request: Request) -> Response:
        _, tenant = await authorised_tenant(request, service.identify)
        stored = await off_loop(service.glossaries.all, tenant)
        return JSONResponse({"glossaries": [_glossary_info(g) for g in stored]})

    async def get_glossary(request: Request) -> Response:
        _, tenant = await authorised_tenant(request, service.identify)
        stored = await off_loop(service.glossaries.get, tenant, request.path_params["glossary_id"])
        return JSONResponse(_glossary_info(stored))

    async def glossary_entries(request: Request) -> Response:
        _, tenant = await authorised_tenant(request, service.identify)
        stored = await off_loop(service.glossaries.get, tenant, request.path_params["glossary_id"])
        return Response(stored.glossary.to_tsv(), media_type="text/tab-separated-values")

    async def delete_glossary(request: Request) -> Response:
        _, tenant = await authorised_tenant(request, service.identify)
        await off_loop(service.glossaries.delete, tenant, request.path_params["glossary_id"])
        return Response(status_code=204)

    async def glossary_language_pairs(request: Request) -> Response:
        await authorised_body(request, service.authorize)
        pairs = glossary_pairs(service.languages())
        return JSONResponse({"supported_languages": [{"source_lang": a, "target_lang": b} for a, b in pairs]})

    return [
        Route("/v2/glossaries", create_glossary, methods=["POST"]),
        Route("/v2/glossaries", list_glossaries, methods=["GET"]),
        Route("/v2/glossaries/{glossary_id}", get_glossary, methods=["GET"]),
        Route("/v2/glossaries/{glossary_id}", delete_glossary, methods=["DELETE"]),
        Route("/v2/glossaries/{glossary_id}/entries", glossary_entries, methods=["GET"]),
        Route("/v2/glossary-language-pairs", glossary_language_pairs, methods=["GET"]),
        Route("/v2/translate", translate, methods=["POST"]),
        Route("/v2/languages", languages, methods=["GET", "POST"]),
        Route("/v2/usage", usage, methods=["GET", "POST"]),
    ]
