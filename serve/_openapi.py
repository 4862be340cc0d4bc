"""The OpenAPI document served at /openapi.json (a test checks it lists exactly the app's routes).

Request schemas come from where requests are parsed: the native one from :mod:`serve._schema`, its decoding
options from :meth:`mt.TranslationOptions.json_schema` (which also validates them), the compatible APIs' from
their adapters, beside their parsers. Responses are described here (a test checks the native one against
:meth:`mt.Translation.to_json`).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from mt._lexicon import Note
from mt._references import Reference
from serve import _deepl, _libretranslate
from serve._schema import native_request_schema

_JSON_TYPES = {"str": "string", "int": "integer", "float": "number", "bool": "boolean"}


def _field_schema(annotation: str) -> dict[str, Any]:
    if annotation.startswith("tuple[") or annotation.startswith("list["):
        return {"type": "array", "items": _field_schema(annotation[annotation.index("[") + 1 :].split(",")[0])}
    names = [part.strip() for part in annotation.split("|")]
    types = [_JSON_TYPES.get(name, "null" if name == "None" else "object") for name in names]
    return {"type": types[0] if len(types) == 1 else types}


def dataclass_schema(cls: type, descriptions: dict[str, str] | None = None) -> dict[str, Any]:
    """The JSON schema of a dataclass's ``to_json`` (``asdict``) form, from its field annotations."""
    properties = {f.name: _field_schema(str(f.type)) for f in dataclasses.fields(cls)}
    for name, description in (descriptions or {}).items():
        properties[name]["description"] = description
    return {"type": "object", "properties": properties}


_REFERENCE = dataclass_schema(
    Reference,
    {
        "id": "the record's id in its corpus",
        "url": "the record's public page",
        "in_training": "whether the pair was in the model's training sample",
        "steps": "training steps at which the model saw the pair, where recorded",
    },
)

_SEGMENT = {
    "type": "object",
    "properties": {
        "source": {"type": "string"},
        "start": {"type": "integer"},
        "end": {"type": "integer"},
        "text": {"type": "string"},
        "score": {"type": "number"},
        "alternatives": {"type": "array", "items": {"type": "string"}},
        "references": {
            "type": ["array", "null"],
            "items": _REFERENCE,
            "description": "with references: true, best first; null unless annotations.references is 'ok'",
        },
        "support": {
            "type": ["number", "null"],
            "description": "with references: true: share of the output's content words attested in the references",
        },
    },
}

_TRANSLATION = {
    "type": "object",
    "properties": {
        "text": {"type": "string"},
        "source": {"type": "string"},
        "target": {"type": "string"},
        "detected_source": {
            "type": ["object", "null"],
            "properties": {"language": {"type": "string"}, "confidence": {"type": "number"}},
        },
        "score": {"type": "number", "description": "mean length-normalised log-probability (0 = certain)"},
        "alternatives": {
            "type": "array",
            "items": {"type": "object", "properties": {"text": {"type": "string"}, "score": {"type": "number"}}},
        },
        "cached": {"type": "boolean"},
        "models": {"type": "array", "items": {"type": "string"}},
        "segments": {"type": "array", "items": _SEGMENT},
        "tokens": {"type": "object", "properties": {"source": {"type": "integer"}, "target": {"type": "integer"}}},
        # The names kakehashi translate --json used first, still in every row (see mt.Translation.to_json).
        "source_lang": {"type": "string", "deprecated": True},
        "target_lang": {"type": "string", "deprecated": True},
        "detected": {"type": ["object", "null"], "deprecated": True},
        "source_tokens": {"type": "integer", "deprecated": True},
        "target_tokens": {"type": "integer", "deprecated": True},
        "notes": {
            "type": "array",
            "items": dataclass_schema(Note),
            "description": "with notes: true: cultural notes; start/end index the source text",
        },
        "annotations": {
            "type": "object",
            "additionalProperties": {"type": "string"},
            "description": "with references or notes: per requested kind, 'ok' or why it could not be done",
        },
    },
}

_GLOSSARY_ID = {"name": "glossary_id", "in": "path", "required": True, "schema": {"type": "string"}}

_ERROR = {
    "type": "object",
    "properties": {
        "error": {"type": "object", "properties": {"type": {"type": "string"}, "message": {"type": "string"}}}
    },
}


def _json(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*codes: int) -> dict[str, Any]:
    text = {
        400: "invalid request",
        403: "missing or invalid API key",
        404: "unknown model or resource",
        413: "input too large",
        429: "rate limited or queue full (Retry-After)",
        456: "quota exceeded",
        503: "not ready",
        504: "request timed out",
    }
    return {str(c): _json(_ERROR, text[c]) for c in codes}


def _form_or_json(schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "content": {"application/json": {"schema": schema}, "application/x-www-form-urlencoded": {"schema": schema}}
    }


def openapi_spec() -> dict[str, Any]:
    from mt import __version__

    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Kakehashi translation API",
            "version": __version__,
            "description": "Native API (/v1), LibreTranslate-compatible and DeepL v2-compatible endpoints.",
        },
        "paths": {
            "/v1/translate": {
                "post": {
                    "summary": "Translate texts",
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": native_request_schema()}},
                    },
                    "responses": {
                        "200": {
                            "description": "JSON, or an event stream with stream: true",
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "type": "object",
                                        "properties": {"translations": {"type": "array", "items": _TRANSLATION}},
                                    }
                                },
                                "text/event-stream": {"schema": {"type": "string"}},
                            },
                        },
                        **_errors(400, 403, 404, 413, 429, 504),
                    },
                }
            },
            "/v1/languages": {
                "get": {
                    "summary": "Source languages and their reachable targets",
                    "responses": {"200": _json({"type": "object"})},
                }
            },
            "/v1/models": {"get": {"summary": "Installed models", "responses": {"200": _json({"type": "object"})}}},
            "/v1/detect": {
                "post": {
                    "summary": "Detect languages",
                    "requestBody": {
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {
                                        "texts": {"type": "array", "items": {"type": "string"}},
                                        "text": {"type": "string"},
                                    },
                                }
                            }
                        }
                    },
                    "responses": {"200": _json({"type": "object"}), **_errors(400, 413)},
                }
            },
            "/healthz": {"get": {"summary": "The process is up", "responses": {"200": _json({"type": "object"})}}},
            "/readyz": {
                "get": {
                    "summary": "Models loaded and cache reachable",
                    "responses": {"200": _json({"type": "object"}), **_errors(503)},
                }
            },
            "/metrics": {
                "get": {
                    "summary": "Prometheus metrics",
                    "responses": {
                        "200": {"description": "OK", "content": {"text/plain": {"schema": {"type": "string"}}}}
                    },
                }
            },
            "/openapi.json": {"get": {"summary": "This document", "responses": {"200": _json({"type": "object"})}}},
            "/": {"get": {"summary": "Web page", "responses": {"200": {"description": "HTML"}}}},
            "/translate": {
                "post": {
                    "summary": "LibreTranslate: translate",
                    "requestBody": _form_or_json(_libretranslate.request_schema()),
                    "responses": {"200": _json({"type": "object"}), **_errors(400, 403, 429)},
                }
            },
            "/languages": {
                "get": {"summary": "LibreTranslate: languages", "responses": {"200": _json({"type": "array"})}},
                "post": {"summary": "LibreTranslate: languages", "responses": {"200": _json({"type": "array"})}},
            },
            "/detect": {
                "post": {
                    "summary": "LibreTranslate: detect",
                    "requestBody": _form_or_json(
                        {"type": "object", "properties": {"q": {"type": "string"}, "api_key": {"type": "string"}}}
                    ),
                    "responses": {"200": _json({"type": "array"}), **_errors(400, 403)},
                }
            },
            "/frontend/settings": {
                "get": {
                    "summary": "LibreTranslate: front-end settings",
                    "responses": {"200": _json({"type": "object"})},
                }
            },
            "/v2/translate": {
                "post": {
                    "summary": "DeepL v2: translate",
                    "requestBody": _form_or_json(_deepl.request_schema()),
                    "responses": {"200": _json({"type": "object"}), **_errors(400, 403, 404, 413, 429, 456)},
                }
            },
            "/v2/languages": {
                m: {
                    "summary": "DeepL v2: languages",
                    "parameters": [
                        {"name": "type", "in": "query", "schema": {"type": "string", "enum": ["source", "target"]}}
                    ],
                    "responses": {"200": _json({"type": "array"})},
                }
                for m in ("get", "post")
            },
            "/v2/usage": {
                m: {"summary": "DeepL v2: usage", "responses": {"200": _json({"type": "object"}), **_errors(403)}}
                for m in ("get", "post")
            },
            "/v2/glossaries": {
                "post": {
                    "summary": "DeepL v2: create a glossary (of your API key)",
                    "requestBody": _form_or_json(_deepl.glossary_request_schema()),
                    "responses": {"201": _json({"type": "object"}), **_errors(400, 403)},
                },
                "get": {"summary": "DeepL v2: your glossaries", "responses": {"200": _json({"type": "object"})}},
            },
            "/v2/glossaries/{glossary_id}": {
                "get": {
                    "summary": "DeepL v2: a glossary",
                    "parameters": [_GLOSSARY_ID],
                    "responses": {"200": _json({"type": "object"}), **_errors(403, 404)},
                },
                "delete": {
                    "summary": "DeepL v2: delete a glossary",
                    "parameters": [_GLOSSARY_ID],
                    "responses": {"204": {"description": "deleted"}, **_errors(403, 404)},
                },
            },
            "/v2/glossaries/{glossary_id}/entries": {
                "get": {
                    "summary": "DeepL v2: a glossary's entries (TSV)",
                    "parameters": [_GLOSSARY_ID],
                    "responses": {
                        "200": {
                            "description": "OK",
                            "content": {"text/tab-separated-values": {"schema": {"type": "string"}}},
                        },
                        **_errors(403, 404),
                    },
                }
            },
            "/v2/glossary-language-pairs": {
                "get": {
                    "summary": "DeepL v2: language pairs glossaries are accepted for",
                    "responses": {"200": _json({"type": "object"})},
                }
            },
        },
    }
