"""The OpenAPI document served at /openapi.json (a test checks it lists exactly the app's routes).

Request schemas come from where requests are parsed: the native one from :mod:`serve._schema`, its decoding
options from :meth:`mt.TranslationOptions.json_schema` (which also validates them), the compatible APIs' from
their adapters, beside their parsers. Responses are described here (a test checks the native one against
:meth:`mt.Translation.to_json`).
"""

from __future__ import annotations

from typing import Any

from serve import _deepl, _libretranslate
from serve._schema import native_request_schema

_SEGMENT = {
    "type": "object",
    "properties": {
        "source": {"type": "string"},
        "start": {"type": "integer"},
        "end": {"type": "integer"},
        "text": {"type": "string"},
        "score": {"type": "number"},
        "alternatives": {"type": "array", "items": {"type": "string"}},
        "references": {"type": "array", "items": {"type": "object"}, "description": "with references: true"},
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
    },
}

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
        },
    }
