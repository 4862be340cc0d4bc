"""Kakehashi's own API: /v1/translate, /v1/languages, /v1/models, /v1/detect, /healthz, /readyz, /metrics."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from mt import StreamEvent
from serve._errors import error_body
from serve._glossaries import authorised_tenant
from serve._http import authorised_body, authorised_info, off_loop
from serve._schema import parse_detect_request, parse_native_request
from serve._service import TranslationService


def _event(kind: str, data: dict[str, Any]) -> str:
    return f"event: {kind}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


def _sse(index: int, event: StreamEvent, references: bool, notes: bool) -> str:
    if event.translation is not None:
        return _event("translation", {"text_index": index, **event.translation.to_json(references, notes)})
    return _event("delta", {"text_index": index, "segment": event.segment, "delta": event.text})


async def _server_sent(
    first: tuple[int, StreamEvent] | None,
    pull: Callable[[], Awaitable[tuple[int, StreamEvent] | None]],
    references: bool,
    notes: bool = False,
) -> AsyncIterator[str]:
    """Server-Sent Events: ``delta`` events while sentences are produced, one ``translation`` per text, then
    ``done``; any failure mid-stream (the status line has long been sent) ends the stream with an ``error``
    event whose data is the native error body, and the response is closed properly. ``pull`` gives the next
    event (None at the end)."""
    try:
        item = first
        while item is not None:
            yield _sse(*item, references, notes)
            item = await pull()
    except Exception as exc:  # noqa: BLE001 - every failure must reach the client as an event, not a cut stream
        yield _event("error", error_body(exc, "stream", "POST /v1/translate (stream)"))
        return
    yield "event: done\ndata: {}\n\n"


def routes(service: TranslationService) -> list[Route]:
    async def translate(request: Request) -> Response:
        body, tenant = await authorised_tenant(request, service.identify, service.authorization_blocks)
        parsed = parse_native_request(body, service.settings.max_batch_tokens)
        if parsed.glossary_id is not None:
            stored = await off_loop(service.glossaries.get, tenant, parsed.glossary_id)
            parsed = replace(parsed, translation=replace(parsed.translation, glossary=stored.glossary))
        if parsed.stream:
            events = service.annotate_stream(
                service.stream(parsed.translation), parsed.references, parsed.notes, parsed.k
            )
            # The first event is computed before the status line is sent, so that refusals (limits, a full
            # queue, an unknown model or pair) answer with their own status, as they do without streaming. The
            # stream is admitted there; its later events come from the model threads without a second check.
            first = await service.admitted(next, events, None)

            async def pull() -> tuple[int, StreamEvent] | None:
                return await service.on_model_thread(next, events, None)

            return StreamingResponse(
                _server_sent(first, pull, parsed.references, parsed.notes),
                media_type="text/event-stream",
                headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
            )
        # A repeated request is answered whole from this process's memory, without a thread or the pipeline.
        key = None if parsed.references or parsed.notes else service.response_key(parsed.translation, "native")
        hit = service.cached_response(key)
        if hit is not None:
            return Response(hit, media_type="application/json")
        results = await service.admitted(service.translate, parsed.translation)
        if parsed.references or parsed.notes:
            results = await off_loop(service.annotate, results, parsed.references, parsed.notes, parsed.k)
        rows = [t.to_json(parsed.references, parsed.notes) for t in results]
        if key is not None:
            again = [replace(t, cached=True) for t in results]
            kept = JSONResponse({"translations": [t.to_json() for t in again]}).body
            service.remember_response(key, parsed.translation, again, bytes(kept))
        return JSONResponse({"translations": rows})

    async def info(request: Request) -> None:
        s = service.settings
        await authorised_info(request, s.require_api_key, s.public_paths, service.authorize)

    async def languages(request: Request) -> Response:
        await info(request)
        rows = [{"code": row.code, "name": row.name, "targets": list(row.targets)} for row in service.languages()]
        return JSONResponse({"languages": rows})

    async def models(request: Request) -> Response:
        await info(request)
        # Where a model lies on the server's disk is none of a client's business.
        return JSONResponse({"models": [{k: v for k, v in m.items() if k != "path"} for m in service.models()]})

    async def detect(request: Request) -> Response:
        body = await authorised_body(request, service.authorize)
        ranked = await off_loop(service.detect, parse_detect_request(body))
        found = [[{"language": d.language, "confidence": d.confidence} for d in ranking] for ranking in ranked]
        return JSONResponse({"detections": found})

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        state = await off_loop(service.readiness)
        return JSONResponse(state, status_code=200 if state["ready"] else 503)

    async def metrics(request: Request) -> Response:
        await info(request)
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
