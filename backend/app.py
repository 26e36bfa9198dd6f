"""`create_app(settings)`: the one place that builds the web application."""

from __future__ import annotations

import gc
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse

from backend.http import register_routes
from backend.issuance.vcapi import router as vcapi_router
from backend.kit.errors import DomainError
from backend.kit.http_guard import BodyLimitMiddleware, SecurityHeadersMiddleware
from backend.kit.logging import RequestIdMiddleware, configure_logging
from backend.parking.routes import router as parking_router
from backend.runtime import Runtime
from backend.settings import DEFAULT_PORT, Settings
from backend.web import router as web_router
from graphql_schema.app import graphql_router


def create_app(
    settings: Settings,
    *,
    runtime: Runtime | None = None,
    port: int = DEFAULT_PORT,
    demo: bool = False,
) -> FastAPI:
    """Build the app; it starts its own runtime unless one is handed in (tests share one)."""
    configure_logging(json_output=not settings.is_development)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = runtime is None
        app.state.runtime = runtime or await Runtime.start(settings, port=port)
        if demo:
            from backend.demo import seed_demo

            await seed_demo(app.state.runtime)
        if owned:
            # Everything built at start (contracts, the embedded chain, contexts, schema) is
            # long-lived: keep it out of the collector's full passes, whose pauses over that
            # heap showed as 0.3-0.6 s latency spikes (docs/BENCHMARKS.md, parking gate).
            gc.collect()
            gc.freeze()
        try:
            yield
        finally:
            if owned:
                await app.state.runtime.stop()

    app = FastAPI(
        title="Battery Passport Platform",
        version="0.1.0",
        lifespan=lifespan,
        docs_url="/docs" if settings.is_development else None,
        redoc_url=None,
        openapi_url="/openapi.json" if settings.is_development else None,
    )
    if runtime is not None:
        app.state.runtime = runtime

    @app.exception_handler(DomainError)
    async def _domain_error(request: Request, exc: DomainError) -> JSONResponse:
        return JSONResponse(
            status_code=exc.status_code,
            media_type="application/problem+json",
            content={
                "type": f"urn:bpp:error:{exc.code.lower()}",
                "title": exc.code,
                "status": exc.status_code,
                "detail": exc.message,
                "instance": request.url.path,
            },
        )

    # The gate endpoint first: routes are matched in order, and gates call it most.
    app.include_router(parking_router)
    register_routes(app)
    app.include_router(vcapi_router)
    app.include_router(graphql_router(settings), prefix="/graphql")
    app.include_router(web_router)
    app.add_middleware(
        SecurityHeadersMiddleware,
        hsts=not settings.is_development,
        csp_exempt=("/graphql",) if settings.is_development else (),
    )
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type", "Idempotency-Key", "X-Request-ID"],
            max_age=600,
        )
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(RequestIdMiddleware)
    return app


def app_from_environment() -> FastAPI:
    """Factory for `uvicorn --workers N`: each worker process builds its own app."""
    port = int(os.environ.get("BPP_SERVE_PORT", DEFAULT_PORT))
    return create_app(Settings(), port=port, demo=os.environ.get("BPP_DEMO") == "1")
