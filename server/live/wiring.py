"""The live wiring of one server process: the change-log tailer (``Broker``) and the
push sender (``Pusher``), started with the app, and the hook that tails the log right
after a sync; ``create_app`` installs both. The routes that read from them are in
``server.http.coord``, ``server.http.phones`` (nudges) and ``server.http.public``."""

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from functools import partial
from typing import Any

from litestar import Litestar, Request

from server.db import devices as db_devices
from server.db import scopes
from server.live.broker import Broker
from server.live.push import Pusher

__all__ = ["after_sync", "live_lifespan"]


@asynccontextmanager
async def live_lifespan(app: Litestar) -> AsyncIterator[None]:
    """Start the tailer and the push sender; stop them after."""
    settings = app.state.settings
    database = app.state.database
    # DOORSTEP_SSE_PING: seconds between comment pings on idle streams (default 15).
    broker = Broker(database, ping=float(os.environ.get("DOORSTEP_SSE_PING", "15")))
    # Everything is inside try: a failed start must stop what started, or its task keeps
    # a server that could not start alive instead of exiting.
    try:
        pusher = Pusher(database, settings.base_url)
        await pusher.start()
        broker.on_public.append(pusher.on_public)
        # Streams of coordinators limited to a community: filtered by the rules of pulls.
        broker.scoper = partial(scopes.community_scope, database)
        broker.row_filter = partial(scopes.visible_rows, database)
        # Streams of revoked devices and ended sessions close (#9).
        broker.device_check = partial(_invalid_devices, database)
        # A volunteer's nudge stream ends when their scope changes (#22).
        broker.person_scope = partial(_person_scope, database)
        # Woken by every process's appends where the engine tells (PostgreSQL's
        # LISTEN/NOTIFY, #14); SQLite's ``follow`` says it cannot, and the tailer polls.
        broker.follow = database.follow
        app.state.broker, app.state.pusher = broker, pusher
        app.state.public_cache = {}  # residents' answers per incident version (#9)
        await broker.start()
        yield
    finally:
        await broker.stop()


async def _invalid_devices(database: Any, nodes: list[str]) -> set[str]:
    return await db_devices.invalid_among(database, nodes, _now())


async def _person_scope(database: Any, person: str, role: str) -> Any:
    return await scopes.load_scope(database, db_devices.Device("", person, role, False))


async def after_sync(request: Request) -> None:
    """After a sync answer, tail the log now rather than at the next poll (the changes
    of this process's writes reach streams ~poll/2 sooner; on PostgreSQL the other
    processes hear of them by LISTEN/NOTIFY, on SQLite they poll)."""
    if request.method == "POST" and request.url.path == "/api/v1/sync":
        broker = getattr(request.app.state, "broker", None)
        if broker is not None:
            broker.nudge()


def _now() -> str:
    at = datetime.now(UTC)
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"
