"""The request and response types every API adapter shares, and the JSON schemas the OpenAPI document is
generated from.

Each adapter (native, LibreTranslate, DeepL) turns its own request format into one :class:`TranslationRequest`
and formats the service's :class:`~mt.Translation` results, :class:`LanguageInfo` rows and
:class:`~mt.DetectedLanguage` rankings in its own format. The native API's request schema below is both what
:func:`parse_native_request` accepts and what ``/openapi.json`` documents; its ``options`` object is
:meth:`mt.TranslationOptions.json_schema`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any

from mt import InvalidRequest, TranslationOptions
from mt._glossary import Glossary, parse_glossary

MARKUP = ("html", "xml")


@dataclass(frozen=True)
class TranslationRequest:
    """What to translate, however it was asked for.

    ``markup`` (``"html"`` or ``"xml"``): the texts are documents whose text between tags is translated and
    whose tags are kept. ``glossary``: required renderings of source terms.
    """

    texts: tuple[str, ...]
    target: str
    source: str = "auto"
    model: str | None = None
    options: TranslationOptions = field(default_factory=TranslationOptions)
    markup: str | None = None
    glossary: Glossary | None = None

    def __post_init__(self) -> None:
        if self.markup is not None and self.markup not in MARKUP:
            raise InvalidRequest(f"markup {self.markup!r} is not supported; accepted: {', '.join(MARKUP)}")

    @property
    def characters(self) -> int:
        return sum(len(t) for t in self.texts)


@dataclass(frozen=True)
class LanguageInfo:
    """A source language, its English name and the targets reachable from it."""

    code: str
    name: str
    targets: tuple[str, ...]


def native_request_schema() -> dict[str, Any]:
    """``POST /v1/translate``'s body."""
    return {
        "type": "object",
        "required": ["target"],
        # Exactly one of texts and text.
        "oneOf": [{"required": ["texts"]}, {"required": ["text"]}],
        "additionalProperties": False,
        "properties": {
            "texts": {"type": "array", "items": {"type": "string"}},
            "text": {"type": "string"},
            "source": {"type": "string", "format": "language-code", "default": "auto", "example": "ja"},
            "target": {"type": "string", "format": "language-code", "example": "en"},
            "model": {"type": "string", "description": "an installed model's name (GET /v1/models)"},
            "options": TranslationOptions.json_schema(),
            "references": {
                "type": "boolean",
                "default": False,
                "description": "each segment's supporting training-corpus pairs and support score",
            },
            "notes": {
                "type": "boolean",
                "default": False,
                "description": "cultural notes on the source's culture-specific terms",
            },
            "k": {
                "type": "integer",
                "minimum": 1,
                "maximum": 20,
                "default": 3,
                "description": "references per segment",
            },
            "glossary_id": {"type": "string", "description": "a glossary of your API key (POST /v2/glossaries)"},
            "glossary": {
                "type": "object",
                "additionalProperties": {"type": "string"},
                "description": "inline glossary {source term: target term}; needs an explicit 'source'",
            },
            "stream": {
                "type": "boolean",
                "default": False,
                "description": "Server-Sent Events (delta, translation, done); greedy decoding",
            },
        },
    }


def detect_request_schema() -> dict[str, Any]:
    """``POST /v1/detect``'s body."""
    return {
        "type": "object",
        "additionalProperties": False,
        "minProperties": 1,
        "maxProperties": 1,
        "properties": {"texts": {"type": "array", "items": {"type": "string"}}, "text": {"type": "string"}},
    }


def parse_detect_request(body: dict[str, Any]) -> list[str]:
    """The texts of a ``POST /v1/detect`` body (:func:`detect_request_schema`).

    Raises:
        InvalidRequest: not exactly one of ``texts`` (a list of strings) and ``text`` (a string).
    """
    if set(body) not in ({"texts"}, {"text"}):
        raise InvalidRequest(
            f"give either 'texts' (a list of strings) or 'text' (a string), nothing else; got {sorted(body) or 'none'}"
        )
    if "text" in body and not isinstance(body["text"], str):
        raise InvalidRequest("'text' must be a string (or send 'texts', a list of strings)")
    if "texts" in body and not isinstance(body["texts"], list):
        raise InvalidRequest("'texts' must be a list of strings (or send 'text', a string)")
    return string_list(body.get("texts", body.get("text")), "texts")


def string_list(value: Any, name: str) -> list[str]:
    """A string or a list of strings, as a list."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    raise InvalidRequest(f"{name!r} must be a string or a list of strings")


@dataclass(frozen=True)
class NativeRequest:
    """A parsed ``POST /v1/translate`` body: the translation, and how to answer."""

    translation: TranslationRequest
    references: bool = False
    stream: bool = False
    glossary_id: str | None = None
    notes: bool = False
    k: int = 3


def parse_native_request(body: dict[str, Any], max_batch_tokens: int) -> NativeRequest:
    """Check ``body`` against :func:`native_request_schema`.

    Raises:
        InvalidRequest: an unknown field, a missing ``target`` or texts, or a value of the wrong type.
    """
    accepted = native_request_schema()["properties"]
    unknown = set(body) - set(accepted)
    if unknown:
        raise InvalidRequest(f"unknown field(s) {', '.join(sorted(unknown))}; accepted: {', '.join(sorted(accepted))}")
    if ("texts" in body) == ("text" in body):
        raise InvalidRequest("give either 'texts' (a list of strings) or 'text' (a string), not both or neither")
    if "text" in body and not isinstance(body["text"], str):
        raise InvalidRequest("'text' must be a string (or send 'texts', a list of strings)")
    if "texts" in body and not isinstance(body["texts"], list):
        raise InvalidRequest("'texts' must be a list of strings (or send 'text', a string)")
    texts = string_list(body.get("texts", body.get("text")), "texts")
    target = body.get("target")
    if not isinstance(target, str) or not target:
        raise InvalidRequest("'target' (a language code such as 'en') is required")
    for name, kind, meaning in (
        ("source", str, "a language code or 'auto'"),
        ("model", str, "an installed model's name"),
        ("references", bool, "true or false"),
        ("notes", bool, "true or false"),
        ("k", int, "an integer from 1 to 20 (references per segment)"),
        ("stream", bool, "true or false"),
        ("glossary_id", str, "a glossary id from POST /v2/glossaries"),
        ("glossary", dict, "an object {source term: target term}"),
    ):
        if body.get(name) is not None and not isinstance(body[name], kind):
            raise InvalidRequest(f"'{name}' must be {meaning}")
    stream = bool(body.get("stream", False))
    raw_options = body.get("options")
    if stream and (raw_options is None or isinstance(raw_options, dict)):
        if (raw_options or {}).get("beam_size", 1) != 1:
            raise InvalidRequest("streaming decodes greedily (or by sampling); beam_size must be 1 with stream: true")
        raw_options = {"beam_size": 1, **(raw_options or {})}
    options = TranslationOptions.from_json(raw_options, max_batch_tokens=max_batch_tokens)
    request = TranslationRequest(tuple(texts), target, body.get("source") or "auto", body.get("model"), options)
    if body.get("glossary") is not None:
        if body.get("glossary_id") is not None:
            raise InvalidRequest("give 'glossary' (inline) or 'glossary_id', not both")
        if request.source == "auto":
            raise InvalidRequest("an inline 'glossary' needs an explicit 'source' language, such as 'ja'")
        entries = json.dumps(body["glossary"], ensure_ascii=False)
        request = replace(request, glossary=parse_glossary(entries, "json", request.source, target))
    k = body.get("k", 3)
    if isinstance(k, bool) or not 1 <= k <= 20:
        raise InvalidRequest(f"'k' must be an integer from 1 to 20 (references per segment), not {k!r}")
    return NativeRequest(
        request,
        bool(body.get("references", False)),
        stream,
        glossary_id=body.get("glossary_id"),
        notes=bool(body.get("notes", False)),
        k=k,
    )
