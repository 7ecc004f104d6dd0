"""The Litestar application factory."""

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from litestar import Litestar, Response, get
from litestar.config.compression import CompressionConfig
from litestar.datastructures import CacheControlHeader
from litestar.di import Provide
from litestar.response import File
from litestar.static_files import create_static_files_router

from server import api, auth, console, coord, export, metrics, people, public
from server.config import MAX_BODY, Settings
from server.db import Database
from server.errors import exception_handlers, mark_client_gone
from server.ratelimit import rate_limit_middleware
from server.security import security_headers_hook

__all__ = ["create_app"]


def create_app(settings: Settings | None = None, **overrides: Any) -> Litestar:
    """Build the app for one database file. ``overrides`` replace Settings fields."""
    settings = settings or Settings(**overrides)
    database = Database(settings.db)

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        await database.open()
        try:
            yield
        finally:
            await database.close()

    async def provide_database() -> Database:
        return database

    @get("/sw.js", include_in_schema=False, sync_to_thread=False)
    def service_worker() -> Response:
        # The service worker must never be served from an HTTP cache, or a fixed app
        # could not replace a broken one.
        return File(
            settings.pwa_dir / "sw.js",
            content_disposition_type="inline",
            media_type="text/javascript",
            headers={"Cache-Control": "no-cache", "Service-Worker-Allowed": "/"},
        )

    static = create_static_files_router(
        path="/",
        directories=[settings.pwa_dir],
        html_mode=True,
        cache_control=CacheControlHeader(no_cache=True),
        include_in_schema=False,
    )
    logging.getLogger("doorstep").setLevel(logging.INFO)
    app = Litestar(
        route_handlers=[
            api.healthz,
            api.enroll,
            api.sync,
            api.nudges,
            *coord.ROUTES,
            *public.ROUTES,
            *auth.ROUTES,
            *export.ROUTES,
            *people.ROUTES,  # access control (#5)
            *console.ROUTES,  # the coordinator's console (#12)
            *metrics.ROUTES,  # operator only (#13)
            service_worker,
            static,
        ],
        dependencies={
            "database": Provide(provide_database),
            "device": Provide(auth.current_device),  # bearer token or session cookie (#5)
        },
        exception_handlers=exception_handlers,  # type: ignore[arg-type]
        lifespan=[lifespan, public.live_lifespan, metrics.disk_watch_lifespan],
        after_response=public.after_sync,
        request_max_body_size=MAX_BODY,
        # Abuse resistance (#5); aborted uploads are one log line, not a traceback (#9).
        middleware=[mark_client_gone, rate_limit_middleware()],
        before_send=[security_headers_hook(str(settings.base_url).startswith("https:"))],
        compression_config=CompressionConfig(
            backend="gzip",
            minimum_size=512,
            gzip_compress_level=6,
            exclude=["/api/v1/events", "/api/v1/nudges", "/api/v1/public/.*/events"],
        ),
        state=None,
    )
    app.state.database = database
    app.state.metrics = metrics.Metrics()
    app.state.settings = settings
    return app
