"""Kakehashi's own API: /v1/translate, /v1/languages, /v1/models, /v1/detect, /healthz, /readyz, /metrics."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

from starlette.concurrency import iterate_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from mt import InvalidRequest, KakehashiError, StreamEvent, Translation, parse_language
from mt.cli import describe_models
from serve._http import bearer_key, client_host, off_loop, parse_options, read_body, string_list
from serve._service import TranslationService


def translation_json(t: Translation, references: bool) -> dict[str, Any]:
    segments = []
    for s in t.segments:
        segment: dict[str, Any] = {
            "source": s.source,
            "start": s.start,
            "end": s.end,
            "text": s.text,
            "score": round(s.score, 4),
        }
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
        "detected_source": None
        if t.detected is None
        else {"language": t.detected.language, "confidence": t.detected.confidence},
        "score": round(t.score, 4),
        "alternatives": [{"text": a.text, "score": round(a.score, 4)} for a in t.alternatives],
        "cached": t.cached,
        "models": list(t.models),
        "segments": segments,
        "tokens": {"source": t.source_tokens, "target": t.target_tokens},
    }


async def _server_sent(events: Iterator[tuple[int, StreamEvent]], references: bool) -> AsyncIterator[str]:
    """Server-Sent Events: ``delta`` events while sentences are produced, one ``translation`` per text, then
    ``done``; a failure mid-stream becomes an ``error`` event (the status line has long been sent)."""
    try:
        async for index, event in iterate_in_threadpool(events):
            if event.kind == "delta":
                data = {"text_index": index, "segment": event.segment, "delta": event.text}
                yield f"event: delta\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"
            elif event.translation is not None:
                data = {"text_index": index, **translation_json(event.translation, references)}
                yield f"event: translation\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"
    except KakehashiError as exc:
        yield f"event: error\ndata: {json.dumps({'type': type(exc).__name__, 'message': str(exc)})}\n\n"
        return
    yield "event: done\ndata: {}\n\n"


def routes(service: TranslationService) -> list[Route]:
    async def translate(request: Request) -> Response:
        body = await read_body(request)
        await off_loop(service.access.check, bearer_key(request), client_host(request))
        allowed = {"texts", "text", "source", "target", "model", "options", "references", "stream"}
        unknown = set(body) - allowed
        if unknown:
            raise InvalidRequest(
                f"unknown field(s) {', '.join(sorted(unknown))}; accepted: {', '.join(sorted(allowed))}"
            )
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
        stream = body.get("stream", False)
        if not isinstance(stream, bool):
            raise InvalidRequest("'stream' must be true or false")
        raw_options = body.get("options")
        if stream and isinstance(raw_options, dict) and raw_options.get("beam_size", 1) != 1:
            raise InvalidRequest("streaming decodes greedily (or by sampling); beam_size must be 1 with stream: true")
        options = parse_options(
            {"beam_size": 1, **raw_options}
            if stream and isinstance(raw_options, dict)
            else ({"beam_size": 1} if stream and raw_options is None else raw_options),
            service.settings.max_batch_tokens,
        )
        if stream:
            service.check_limits(texts)
            events = service.stream(texts, source, target, model, options)
            return StreamingResponse(
                _server_sent(events, references),
                media_type="text/event-stream",
                headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
            )
        results = await off_loop(service.translate, texts, source, target, model, options)
        return JSONResponse({"translations": [translation_json(t, references) for t in results]})

    async def languages(request: Request) -> Response:
        reachable = service.kakehashi.languages()
        rows = [
            {"code": code, "name": parse_language(code).name, "targets": targets}
            for code, targets in sorted(reachable.items())
        ]
        return JSONResponse({"languages": rows})

    async def models(request: Request) -> Response:
        return JSONResponse({"models": describe_models(service.kakehashi.registry)})

    async def detect(request: Request) -> Response:
        await off_loop(service.access.check, bearer_key(request), client_host(request))
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
