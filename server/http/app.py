"""The Litestar application factory: ``create_app`` (``doorstep serve`` and the tests).

It puts every route under a router of its ``RouteAccess`` (``server.guards.caller``), and
refuses a route without one; provides the ``device`` and ``access`` (``Caller``)
dependencies; starts the database, the live wiring (``server.live.wiring``) and the
low-disk watch with the app; adds the rate limits, the security headers and the one error
shape (``server.errors``).
"""

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from litestar import Litestar, Response, Router, get
from litestar.config.compression import CompressionConfig
from litestar.datastructures import CacheControlHeader
from litestar.di import Provide
from litestar.response import File
from litestar.static_files import create_static_files_router

from server.db import AnyDatabase, open_database
from server.errors import exception_handlers, mark_client_gone
from server.guards import caller, sessions
from server.guards.ratelimit import RateLimiter, rate_limit_middleware
from server.guards.security import escape_logged_text, path_guard_middleware, security_headers_hook
from server.http import console, coord, devices, export, metrics, people, phones, public, snapshot
from server.http.config import MAX_BODY, Settings
from server.ledger import routes as ledger
from server.live import wiring

__all__ = ["OPENAPI_PATH", "create_app"]

#: Litestar's API description (public: it describes the open-source API, no data).
OPENAPI_PATH = "/schema"


def create_app(settings: Settings | None = None, **overrides: Any) -> Litestar:
    """Build the app for one database file. ``overrides`` replace Settings fields."""
    settings = settings or Settings(**overrides)
    database = open_database(settings.db)

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        await database.open()
        try:
            yield
        finally:
            await database.close()

    async def provide_database() -> AnyDatabase:
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
    escape_logged_text()  # no log line carries a raw control character (#22)
    limiter = RateLimiter(database)  # counters shared by every process on the file (#14)
    # Access (#9): every route sits on exactly one of these routers, whose rule and guard
    # decide who may call it; ``Scope`` then decides what the caller may see.
    rule = caller.RouteAccess
    routers = [
        _router(
            rule.PUBLIC,
            caller.public_guard,
            [
                phones.healthz,
                phones.enroll,
                sessions.login,
                *people.SETUP_ROUTES,
                service_worker,
                public.resident_sw,
                static,
            ],
        ),
        _router(rule.RESIDENT, caller.resident_guard, public.RESIDENT_ROUTES),
        _router(
            rule.DEVICE,
            caller.device_guard,
            [phones.sync, phones.nudges, sessions.session, sessions.logout],
        ),
        _router(
            rule.COORDINATOR,
            caller.coordinator_guard,
            [
                *coord.ROUTES,
                *devices.ROUTES,
                *export.ROUTES,
                *people.ROUTES,
                *console.ROUTES,
                *snapshot.ROUTES,
                *ledger.ROUTES,
            ],
        ),
        _router(rule.OPERATOR, caller.operator_guard, metrics.ROUTES),
    ]
    app = Litestar(
        route_handlers=routers,
        dependencies={
            "database": Provide(provide_database),
            "device": Provide(caller.provide_device),  # bearer token or session cookie
            "access": Provide(caller.provide_caller),  # what the caller may see
        },
        exception_handlers=exception_handlers(),  # type: ignore[arg-type]
        lifespan=[lifespan, wiring.live_lifespan, metrics.disk_watch_lifespan],
        after_response=wiring.after_sync,
        request_max_body_size=MAX_BODY,
        # Abuse resistance (#5); aborted uploads are one log line, not a traceback (#9);
        # odd paths are a 400, never a 500 from the file system (#22).
        middleware=[path_guard_middleware, mark_client_gone, rate_limit_middleware(limiter)],
        before_send=[
            security_headers_hook(
                str(settings.base_url).startswith("https:"), settings.pwa_dir / "index.html"
            )
        ],
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
    app.state.share_cache = {}
    app.state.limiter = limiter  # also consulted by server.live.residents
    _check_rules(app)
    return app


def _router(rule: "caller.RouteAccess", guard: Any, handlers: list[Any]) -> Router:
    return Router(path="/", route_handlers=handlers, guards=[guard], opt={caller.ACCESS: rule})


def _check_rules(app: Litestar) -> None:
    """Refuse to build an app with a route that states no access rule."""
    missing = [
        route.path
        for route in app.routes
        for handler in getattr(route, "route_handlers", ())
        if caller.route_access_of(handler) is None
        and not route.path.startswith(OPENAPI_PATH)
        and "OPTIONS" not in (getattr(handler, "http_methods", None) or ())
    ]
    if missing:
        raise RuntimeError(f"routes without an access rule (server/guards/caller.py): {missing}")
