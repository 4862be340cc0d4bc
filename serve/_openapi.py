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
from serve import _deepl, _documents, _libretranslate
from serve._http import MAX_BODY_BYTES, MAX_JSON_DEPTH
from serve._schema import detect_request_schema, native_request_schema

_JSON_TYPES = {"str": "string", "int": "integer", "float": "number", "bool": "boolean", "None": "null"}


def _split_union(annotation: str) -> list[str]:
    """``a | tuple[b, c] | None`` → ``["a", "tuple[b, c]", "None"]`` (only top-level bars split)."""
    parts, depth, current = [], 0, ""
    for char in annotation:
        depth += {"[": 1, "]": -1}.get(char, 0)
        if char == "|" and depth == 0:
            parts.append(current.strip())
            current = ""
        else:
            current += char
    return [*parts, current.strip()]


def _field_schema(annotation: str) -> dict[str, Any]:
    options = _split_union(annotation)
    if len(options) > 1:
        schemas = [_field_schema(option) for option in options]
        if all(set(schema) == {"type"} and isinstance(schema["type"], str) for schema in schemas):
            return {"type": [schema["type"] for schema in schemas]}
        return {"anyOf": schemas}
    name = options[0]
    if name.startswith(("tuple[", "list[")):
        return {"type": "array", "items": _field_schema(name[name.index("[") + 1 :].split(",")[0].rstrip("]"))}
    return {"type": _JSON_TYPES.get(name, "object")}


def dataclass_schema(cls: type, descriptions: dict[str, str] | None = None) -> dict[str, Any]:
    """The JSON schema of a dataclass's ``to_json`` (``asdict``) form, from its field annotations."""
    properties = {f.name: _field_schema(str(f.type)) for f in dataclasses.fields(cls)}
    for name, description in (descriptions or {}).items():
        properties[name]["description"] = description
    return {"type": "object", "required": sorted(properties), "additionalProperties": False, "properties": properties}


def _object(required: dict[str, Any], optional: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    """An object with exactly these properties: ``required`` always present, ``optional`` sometimes."""
    return {
        "type": "object",
        "required": list(required),
        "additionalProperties": False,
        "properties": {**required, **(optional or {})},
        **extra,
    }


_STRING = {"type": "string"}
_STRINGS = {"type": "array", "items": _STRING}
_NUMBER = {"type": "number"}
_INTEGER = {"type": "integer"}
_BOOLEAN = {"type": "boolean"}

_REFERENCE = dataclass_schema(
    Reference,
    {
        "id": "the record's id in its corpus",
        "url": "the record's public page",
        "in_training": "whether the pair was in the model's training sample",
        "steps": (
            "training steps whose batches held the pair (one entry per time seen; a step repeats when both "
            "directions were in its batch), or, as a string, why there are none or they are not known"
        ),
        "times_seen": "how many times training saw the pair (0 if never); null when the steps are not known",
    },
)

_SEGMENT = _object(
    {
        "source": _STRING,
        "start": _INTEGER,
        "end": _INTEGER,
        "text": _STRING,
        "score": _NUMBER,
        "alternatives": _STRINGS,
    },
    {
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
)

_DETECTED = {
    "type": ["object", "null"],
    "required": ["language", "confidence"],
    "additionalProperties": False,
    "properties": {"language": _STRING, "confidence": _NUMBER},
}

_TRANSLATION = _object(
    {
        "text": _STRING,
        "source": _STRING,
        "target": _STRING,
        "detected_source": _DETECTED,
        "score": {"type": "number", "description": "mean length-normalised log-probability (0 = certain)"},
        "alternatives": {"type": "array", "items": _object({"text": _STRING, "score": _NUMBER})},
        "cached": _BOOLEAN,
        "models": _STRINGS,
        "segments": {"type": "array", "items": _SEGMENT},
        "tokens": _object({"source": _INTEGER, "target": _INTEGER}),
        # The names kakehashi translate --json used first, still in every row (see mt.Translation.to_json).
        "source_lang": {"type": "string", "deprecated": True},
        "target_lang": {"type": "string", "deprecated": True},
        "detected": {**_DETECTED, "deprecated": True},
        "source_tokens": {"type": "integer", "deprecated": True},
        "target_tokens": {"type": "integer", "deprecated": True},
    },
    {
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
)

# The data of each Server-Sent Event of a streamed /v1/translate, by event name.
STREAM_EVENTS: dict[str, dict[str, Any]] = {
    "delta": _object({"text_index": _INTEGER, "segment": _INTEGER, "delta": _STRING}),
    "translation": {
        **_TRANSLATION,
        "required": ["text_index", *_TRANSLATION["required"]],
        "properties": {"text_index": _INTEGER, **_TRANSLATION["properties"]},
    },
    "error": _object({"type": _STRING, "message": _STRING}),
    "done": {"type": "object", "maxProperties": 0},
}

# Each event of the stream, as read by an SSE parser: its name, and its data as JSON text (OpenAPI 3.1 has the
# schema of an event stream describe one event).
_STREAM_EVENT = {
    "oneOf": [
        _object(
            {
                "event": {"const": kind},
                "data": {"type": "string", "contentMediaType": "application/json", "contentSchema": data},
            }
        )
        for kind, data in STREAM_EVENTS.items()
    ]
}

_GLOSSARY_ID = {"name": "glossary_id", "in": "path", "required": True, "schema": {"type": "string"}}

# Each API's error body: ours, LibreTranslate's and DeepL's.
_ERRORS = {
    "native": _object({"error": _object({"type": _STRING, "message": _STRING})}),
    "libretranslate": _object({"error": _STRING}),
    "deepl": _object({"message": _STRING}),
}

_LANGUAGE_ROW = _object({"code": _STRING, "name": _STRING, "targets": _STRINGS})
_CONFIDENCE = _object({"confidence": _NUMBER, "language": _STRING})
_READINESS = _object(
    {
        "ready": _BOOLEAN,
        "models_loaded": _BOOLEAN,
        "models": _STRINGS,
        "cache": _object({"kind": _STRING, "reachable": _BOOLEAN}),
    }
)
_MODEL = _object(
    {
        "name": _STRING,
        "family": _STRING,
        "architecture": _STRING,
        "languages": _STRINGS,
        "pairs": _STRINGS,
        "quantization": {"type": ["string", "null"]},
        "size_bytes": _INTEGER,
        "default": _BOOLEAN,
        "license": {"type": ["string", "null"]},
        "corpora": _STRINGS,
        # The decoding options requests that leave them unset get (TranslationOptions.recommendable).
        "decoding": {"type": "object"},
    }
)
_GLOSSARY_INFO = _object(
    {
        "glossary_id": _STRING,
        "name": _STRING,
        "ready": _BOOLEAN,
        "source_lang": _STRING,
        "target_lang": _STRING,
        "creation_time": _STRING,
        "entry_count": _INTEGER,
    }
)


def _json(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


_ERROR_TEXT = {
    400: "invalid request: the message says what was wrong and what is accepted",
    403: "missing or invalid API key",
    404: "unknown model or resource",
    413: "body, text or request too large",
    429: "rate limited or queue full (Retry-After)",
    456: "character quota exceeded",
    503: "the glossary store (Redis) does not answer",
    504: "request timed out",
}

# What every request that reads a body may answer: a body that is not JSON, UTF-8 or an object, or too large;
# and what every authorised request may answer.
_BODY = (400, 413)
_AUTH = (403, 429)


def _errors(flavour: str, *codes: int) -> dict[str, Any]:
    responses = {}
    for code in sorted(set(codes)):
        response = _json(_ERRORS[flavour], _ERROR_TEXT[code])
        if code == 429:
            response["headers"] = {"Retry-After": {"schema": {"type": "integer"}, "required": True}}
        responses[str(code)] = response
    return responses


def _form_or_json(schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "content": {"application/json": {"schema": schema}, "application/x-www-form-urlencoded": {"schema": schema}}
    }


def _info(summary: str, schema: dict[str, Any], flavour: str = "native", **extra: Any) -> dict[str, Any]:
    """A GET of information: open, or with ``require_api_key`` a key unless its path is in ``public_paths``."""
    return {"summary": summary, "responses": {"200": _json(schema), **_errors(flavour, *_BODY, *_AUTH)}, **extra}


def openapi_spec() -> dict[str, Any]:
    from mt import __version__

    lt_translation = {
        "oneOf": [
            _object({"translatedText": _STRING}, {"detectedLanguage": _CONFIDENCE, "alternatives": _STRINGS}),
            _object(
                {"translatedText": _STRINGS},
                {
                    "detectedLanguage": {"type": "array", "items": _CONFIDENCE},
                    "alternatives": {"type": "array", "items": _STRINGS},
                },
            ),
        ]
    }
    deepl_languages = {
        "type": "array",
        "items": _object({"language": _STRING, "name": _STRING}, {"supports_formality": _BOOLEAN}),
    }
    frontend_settings = _object(
        {
            "charLimit": _INTEGER,
            "frontendTimeout": _INTEGER,
            "apiKeys": _BOOLEAN,
            "keyRequired": _BOOLEAN,
            "suggestions": _BOOLEAN,
            "filesTranslation": _BOOLEAN,
            "supportedFilesFormat": _STRINGS,
            "language": _object(
                {
                    "source": _object({"code": _STRING, "name": _STRING}),
                    "target": _object({"code": _STRING, "name": _STRING}),
                }
            ),
        }
    )
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Kakehashi translation API",
            "version": __version__,
            "description": (
                "Native API (/v1), LibreTranslate-compatible and DeepL v2-compatible endpoints. Bodies are UTF-8, "
                f"at most {MAX_BODY_BYTES} bytes and {MAX_JSON_DEPTH} levels deep. With require_api_key, every "
                "path but those of the public_paths setting needs a key (Authorization: Bearer KEY, "
                "DeepL-Auth-Key KEY, X-API-Key, or api_key / auth_key)."
            ),
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
                            "description": "JSON, or with stream: true Server-Sent Events: delta events as the "
                            "model produces text, one translation per text, then done; a failure after the first "
                            "event ends the stream with an error event",
                            "content": {
                                "application/json": {
                                    "schema": _object({"translations": {"type": "array", "items": _TRANSLATION}})
                                },
                                "text/event-stream": {"schema": _STREAM_EVENT},
                            },
                        },
                        **_errors("native", *_BODY, *_AUTH, 404, 503, 504),
                    },
                }
            },
            "/v1/languages": {
                "get": _info(
                    "Source languages and their reachable targets",
                    _object({"languages": {"type": "array", "items": _LANGUAGE_ROW}}),
                )
            },
            "/v1/models": {"get": _info("Installed models", _object({"models": {"type": "array", "items": _MODEL}}))},
            "/v1/detect": {
                "post": {
                    "summary": "Detect languages",
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": detect_request_schema()}},
                    },
                    "responses": {
                        "200": _json(
                            _object({"detections": {"type": "array", "items": {"type": "array", "items": _CONFIDENCE}}})
                        ),
                        **_errors("native", *_BODY, *_AUTH),
                    },
                }
            },
            "/healthz": {
                "get": {
                    "summary": "The process is up",
                    "responses": {"200": _json(_object({"status": {"const": "ok"}}))},
                }
            },
            "/readyz": {
                "get": {
                    "summary": "Models loaded and cache reachable",
                    "responses": {"200": _json(_READINESS), "503": _json(_READINESS, "not ready")},
                }
            },
            "/metrics": {
                "get": {
                    "summary": "Prometheus metrics",
                    "responses": {
                        "200": {"description": "OK", "content": {"text/plain": {"schema": {"type": "string"}}}},
                        **_errors("native", *_BODY, *_AUTH),
                    },
                }
            },
            "/openapi.json": {"get": {"summary": "This document", "responses": {"200": _json({"type": "object"})}}},
            "/": {
                "get": {
                    "summary": "Web page",
                    "responses": {"200": {"description": "HTML", "content": {"text/html": {"schema": _STRING}}}},
                }
            },
            "/translate": {
                "post": {
                    "summary": "LibreTranslate: translate",
                    "requestBody": {"required": True, **_form_or_json(_libretranslate.request_schema())},
                    "responses": {"200": _json(lt_translation), **_errors("libretranslate", *_BODY, *_AUTH, 504)},
                }
            },
            "/languages": {
                m: _info("LibreTranslate: languages", {"type": "array", "items": _LANGUAGE_ROW}, "libretranslate")
                for m in ("get", "post")
            },
            "/detect": {
                "post": {
                    "summary": "LibreTranslate: detect",
                    "requestBody": {"required": True, **_form_or_json(_libretranslate.detect_request_schema())},
                    "responses": {
                        "200": _json({"type": "array", "items": _CONFIDENCE}),
                        **_errors("libretranslate", *_BODY, *_AUTH),
                    },
                }
            },
            "/frontend/settings": {
                "get": _info("LibreTranslate: front-end settings", frontend_settings, "libretranslate")
            },
            "/v2/translate": {
                "post": {
                    "summary": "DeepL v2: translate",
                    "requestBody": {"required": True, **_form_or_json(_deepl.request_schema())},
                    "responses": {
                        "200": _json(
                            _object(
                                {
                                    "translations": {
                                        "type": "array",
                                        "items": _object(
                                            {
                                                "detected_source_language": {"type": "string", "minLength": 2},
                                                "text": _STRING,
                                                "billed_characters": _INTEGER,
                                            }
                                        ),
                                    }
                                }
                            )
                        ),
                        **_errors("deepl", *_BODY, *_AUTH, 404, 456, 503, 504),
                    },
                }
            },
            "/v2/languages": {
                m: _info(
                    "DeepL v2: languages",
                    deepl_languages,
                    "deepl",
                    parameters=[
                        {"name": "type", "in": "query", "schema": {"type": "string", "enum": ["source", "target"]}}
                    ],
                )
                for m in ("get", "post")
            },
            "/v2/usage": {
                m: _info(
                    "DeepL v2: usage",
                    _object({"character_count": _INTEGER, "character_limit": _INTEGER}),
                    "deepl",
                )
                for m in ("get", "post")
            },
            "/v2/glossaries": {
                "post": {
                    "summary": "DeepL v2: create a glossary (of your API key)",
                    "requestBody": {"required": True, **_form_or_json(_deepl.glossary_request_schema())},
                    "responses": {"201": _json(_GLOSSARY_INFO), **_errors("deepl", *_BODY, *_AUTH, 503)},
                },
                "get": _info(
                    "DeepL v2: your glossaries",
                    _object({"glossaries": {"type": "array", "items": _GLOSSARY_INFO}}),
                    "deepl",
                ),
            },
            "/v2/glossaries/{glossary_id}": {
                "get": {
                    "summary": "DeepL v2: a glossary",
                    "parameters": [_GLOSSARY_ID],
                    "responses": {"200": _json(_GLOSSARY_INFO), **_errors("deepl", *_BODY, *_AUTH, 404, 503)},
                },
                "delete": {
                    "summary": "DeepL v2: delete a glossary",
                    "parameters": [_GLOSSARY_ID],
                    "responses": {"204": {"description": "deleted"}, **_errors("deepl", *_BODY, *_AUTH, 404, 503)},
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
                        **_errors("deepl", *_BODY, *_AUTH, 404, 503),
                    },
                }
            },
            **_documents.openapi_paths(_ERRORS),
            "/v2/glossary-language-pairs": {
                "get": _info(
                    "DeepL v2: language pairs glossaries are accepted for",
                    _object(
                        {
                            "supported_languages": {
                                "type": "array",
                                "items": _object({"source_lang": _STRING, "target_lang": _STRING}),
                            }
                        }
                    ),
                    "deepl",
                )
            },
        },
    }
