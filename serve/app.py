"""The Starlette application: routes of every API flavour over one :class:`TranslationService`."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator, MutableMapping
from importlib import resources
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from mt import KakehashiError
from serve import _deepl, _documents, _libretranslate, _native
from serve._access import install_log_redaction
from serve._errors import error_response, routing_error_response
from serve._http import off_loop
from serve._jobs import DocumentJobs
from serve._openapi import openapi_spec
from serve._service import TranslationService
from serve._settings import ServeSettings

# The web page, package data of serve; a wheel is installed unpacked, so this is a directory on disk.
STATIC = Path(str(resources.files("serve").joinpath("static")))
log = logging.getLogger("kakehashi.app")


class MetricsMiddleware:
    """Counts requests and observes latency per route template (not per raw path, which is unbounded)."""

    def __init__(self, app: ASGIApp, service: TranslationService):
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_wrapper(message: MutableMapping[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            name = getattr(route, "path", None) or "unmatched"
            self.service.metrics.requests.labels(name, str(status)).inc()
            self.service.metrics.latency.labels(name).observe(time.perf_counter() - start)


def create_app(settings: ServeSettings | None = None, service: TranslationService | None = None) -> Starlette:
    """Build the app. Models load in the lifespan, before the first request is served."""
    settings = settings or ServeSettings.load()
    service = service or TranslationService(settings)
    jobs = DocumentJobs(settings, service)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # Here, not at import: uvicorn has configured its loggers by now.
        install_log_redaction()
        await off_loop(service.start)
        await off_loop(jobs.start)
        log.info("models loaded: %s", ", ".join(service.kakehashi.registry.names()) or "none")
        yield
        await off_loop(jobs.stop)
        await off_loop(service.stop)

    async def index(request: Request) -> Response:
        return FileResponse(STATIC / "index.html")

    async def openapi(request: Request) -> Response:
        return JSONResponse(openapi_spec())

    async def on_error(request: Request, exc: Exception) -> Response:
        return error_response(request, exc)

    async def on_routing_error(request: Request, exc: Exception) -> Response:
        return routing_error_response(request, exc)

    routes = [
        Route("/", index, methods=["GET"]),
        Route("/openapi.json", openapi, methods=["GET"]),
        *_native.routes(service),
        *_libretranslate.routes(service),
        *_deepl.routes(service),
        *_documents.routes(service, jobs),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    middleware = [Middleware(MetricsMiddleware, service=service)]
    if settings.cors_origins:
        middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=list(settings.cors_origins),
                allow_methods=["GET", "POST"],
                allow_headers=["*"],
            )
        )
    app = Starlette(
        routes=routes,
        middleware=middleware,
        lifespan=lifespan,
        exception_handlers={KakehashiError: on_error, HTTPException: on_routing_error, Exception: on_error},
    )
    app.state.service = service
    app.state.jobs = jobs
    return app
