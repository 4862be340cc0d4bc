"""Kakehashi's own API: /v1/translate, /v1/languages, /v1/models, /v1/detect, /healthz, /readyz, /metrics."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from mt import InvalidRequest, Translation, parse_language
from mt.cli import describe_models
from serve._http import bearer_key, client_host, off_loop, parse_options, read_body, string_list
from serve._service import TranslationService


def translation_json(t: Translation, references: bool) -> dict[str, Any]:
    segments = []
    for s in t.segments:
        segment: dict[str, Any] = {"source": s.source, "start": s.start, "end": s.end, "text": s.text,
                                   "score": round(s.score, 4)}
        if s.alternatives:
            segment["alternatives"] = list(s.alternatives)
        if references:
            # Filled by the reference index over the training corpora once one is installed.
            segment["references"] = []
        segments.append(segment)
    return {
        "text": t.text,
        "source": t.source_lang,
        "target": t.target_lang,
        "detected_source": None if t.detected is None else {"language": t.detected.language,
                                                            "confidence": t.detected.confidence},
        "score": round(t.score, 4),
        "alternatives": [{"text": a.text, "score": round(a.score, 4)} for a in t.alternatives],
        "cached": t.cached,
        "models": list(t.models),
        "segments": segments,
        "tokens": {"source": t.source_tokens, "target": t.target_tokens},
    }


def routes(service: TranslationService) -> list[Route]:
    async def translate(request: Request) -> Response:
        body = await read_body(request)
        await off_loop(service.access.check, bearer_key(request), client_host(request))
        allowed = {"texts", "text", "source", "target", "model", "options", "references"}
        unknown = set(body) - allowed
        if unknown:
            raise InvalidRequest(f"unknown field(s) {', '.join(sorted(unknown))}; accepted: {', '.join(sorted(allowed))}")
        if "texts" not in body and "text" not in body:
            raise InvalidRequest("give 'texts' (a list of strings) or 'text' (a string)")
        texts = string_list(body.get("texts", body.get("text")), "texts")
        target = body.get("target")
        if not isinstance(target, str) or not target:
            raise InvalidRequest("'target' (a language code such as 'en') is required")
        source = body.get("source", "auto")
        if not isinstance(source, str):
            raise InvalidRequest("'source' must be a language code or 'auto'")
        model = body.get("model")
        if model is not None and not isinstance(model, str):
            raise InvalidRequest("'model' must be a model name")
        references = body.get("references", False)
        if not isinstance(references, bool):
            raise InvalidRequest("'references' must be true or false")
        options = parse_options(body.get("options"), service.settings.max_batch_tokens)
        results = await off_loop(service.translate, texts, source, target, model, options)
        return JSONResponse({"translations": [translation_json(t, references) for t in results]})

    async def languages(request: Request) -> Response:
        reachable = service.kakehashi.languages()
        rows = [{"code": code, "name": parse_language(code).name, "targets": targets}
                for code, targets in sorted(reachable.items())]
        return JSONResponse({"languages": rows})

    async def models(request: Request) -> Response:
        return JSONResponse({"models": describe_models(service.kakehashi.registry)})

    async def detect(request: Request) -> Response:
        body = await read_body(request)
        texts = string_list(body.get("texts", body.get("text")), "texts")
        service.check_limits(texts)
        found = []
        for text in texts:
            ranked = await off_loop(service.kakehashi.detector.rank, text)
            found.append([{"language": d.language, "confidence": d.confidence} for d in ranked])
        return JSONResponse({"detections": found})

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        state = await off_loop(service.readiness)
        return JSONResponse(state, status_code=200 if state["ready"] else 503)

    async def metrics(request: Request) -> Response:
        return PlainTextResponse(service.metrics.render(), media_type=service.metrics.content_type)

    return [
        Route("/v1/translate", translate, methods=["POST"]),
        Route("/v1/languages", languages, methods=["GET"]),
        Route("/v1/models", models, methods=["GET"]),
        Route("/v1/detect", detect, methods=["POST"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
    ]
