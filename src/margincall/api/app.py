"""``create_app(settings) -> FastAPI``: the risk engine as a service (issue #5, items 1-3)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from importlib import resources
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from margincall.api import docs_page, errors, key_routes, routes, stream, webhook_routes
from margincall.api.guard import RequestGuard, install_redaction
from margincall.api.service import Service
from margincall.config import Settings


def _static_dir() -> Path | None:
    with contextlib.suppress(ModuleNotFoundError, FileNotFoundError, TypeError):
        path = Path(str(resources.files("margincall.web") / "static"))
        if path.is_dir():
            return path
    return None


def create_app(settings: Settings | None = None) -> FastAPI:
    """The app over one durable engine. Opening the database, the key store and the writer thread happens
    here (so ``app.state.admin_key`` is known before serving); the lifespan's shutdown — or
    ``app.state.service.close()`` when the app is driven without one — drains the writer and closes the log.

    ``app.state.admin_key`` is the bootstrap admin key in clear when known (from the settings, or generated
    because the database had none), else None."""
    settings = settings or Settings.load()
    service = Service(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        service.loop = asyncio.get_running_loop()
        forwarder = None
        if settings.nats_url:
            from margincall.bus.nats import NatsForwarder

            forwarder = NatsForwarder(service.bus, settings.nats_url, stream=settings.nats_stream,
                                      prefix=settings.nats_prefix)
            await forwarder.start()
        app.state.nats = forwarder
        await service.webhooks.start()
        try:
            yield
        finally:
            await service.webhooks.stop()
            await asyncio.to_thread(service.close)
            if forwarder is not None:
                await forwarder.close()

    # Swagger UI and ReDoc load from a CDN: /docs is our own self-contained page from the same schema
    app = FastAPI(title="margincall", version="0.1.0", lifespan=lifespan, docs_url=None, redoc_url=None,
                  description="Margin and liquidation engine for crypto futures: REST + WebSocket API. "
                              "Numbers are decimal strings; errors are {\"error\": {code, message, field}}.")
    app.state.service = service
    app.state.admin_key = service.admin_key
    app.state.settings = settings
    errors.install(app)
    install_redaction("uvicorn", "uvicorn.access", "uvicorn.error", "margincall")
    app.add_middleware(RequestGuard, max_body_bytes=settings.max_body_bytes,
                       lookup=service.keys.lookup)
    app.include_router(routes.router)
    app.include_router(routes.v1)
    app.include_router(key_routes.v1)
    app.include_router(stream.router)
    app.include_router(webhook_routes.v1)

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return HTMLResponse(docs_page.render(app.openapi()))

    static = _static_dir()
    if static is not None:
        app.mount("/static", StaticFiles(directory=static), name="static")
        index = static / "index.html"
        if index.is_file():
            from fastapi.responses import FileResponse

            @app.get("/", include_in_schema=False)
            async def dashboard() -> FileResponse:
                return FileResponse(index)
    return app
