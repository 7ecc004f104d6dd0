"""``GET /metrics``: Prometheus metrics, for the operator only, and the low-disk watch.

Closed to the public: with ``DOORSTEP_METRICS_TOKEN`` set, a request needs
``Authorization: Bearer <token>``; without it, only a direct request from the server
itself (a loopback address, no ``X-Forwarded-For``: so nothing that came through the
proxy) is answered. Anything else is a 404, as if there were no such page. The Caddyfile
in deploy/ does not pass ``/metrics`` on either.

Counters live in a registry of the app's own (two apps in one process, as in tests, do
not share counts); what the database knows (quarantine size, backup age) is read at
scrape time.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from litestar import Litestar, Request, Response, get
from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from schemas.sync import SyncResponse
from server.db import ops

__all__ = ["ROUTES", "Metrics", "disk_watch_lifespan", "observe_sync"]

log = logging.getLogger("doorstep.metrics")

#: Free bytes on the database's disk below which coordinators are warned (default 1 GiB).
LOW_DISK_BYTES = int(os.environ.get("DOORSTEP_LOW_DISK_BYTES", str(1 << 30)))
#: Seconds between disk checks.
DISK_CHECK_SECONDS = float(os.environ.get("DOORSTEP_DISK_CHECK_SECONDS", "60"))


class Metrics:
    """The app's counters and gauges, in a registry of its own."""

    def __init__(self) -> None:
        self.registry = r = CollectorRegistry()
        self.sync_requests = Counter(
            "doorstep_sync_requests",
            "Sync requests by outcome (ok or error code)",
            ["outcome"],
            registry=r,
        )
        self.sync_changes = Counter(
            "doorstep_sync_changes",
            "Pushed changes by outcome (accepted, rejected)",
            ["outcome"],
            registry=r,
        )
        self.rejections = Counter(
            "doorstep_rejections", "Rejected changes by error code", ["code"], registry=r
        )
        self.quarantine = Gauge(
            "doorstep_quarantine_open", "Quarantined changes not yet reviewed", registry=r
        )
        self.streams = Gauge(
            "doorstep_open_streams",
            "Open SSE streams of this process by kind",
            ["kind"],
            registry=r,
        )
        self.tailer_lag = Gauge(
            "doorstep_tailer_lag",
            "Change-log entries this process's tailer has not read",
            registry=r,
        )
        self.db_bytes = Gauge(
            "doorstep_database_bytes", "Database file size with its WAL", registry=r
        )
        self.free_bytes = Gauge(
            "doorstep_disk_free_bytes", "Free bytes on the database's disk", registry=r
        )
        self.low_disk = Gauge(
            "doorstep_disk_low", "1 while free disk is below DOORSTEP_LOW_DISK_BYTES", registry=r
        )
        self.backup_age = Gauge(
            "doorstep_backup_age_seconds",
            "Seconds since the last doorstep backup (-1: never)",
            registry=r,
        )
        for kind in ("coordinator", "public"):
            self.streams.labels(kind)
        for outcome in ("accepted", "rejected"):
            self.sync_changes.labels(outcome)
        self.sync_requests.labels("ok")


def observe_sync(metrics: Metrics, answer: SyncResponse | None, error: str | None = None) -> None:
    """Count one sync request: its answer, or the code of the error it ended in."""
    if answer is None:
        metrics.sync_requests.labels(error or "error").inc()
        return
    metrics.sync_requests.labels("ok").inc()
    metrics.sync_changes.labels("accepted").inc(answer.accepted)
    metrics.sync_changes.labels("rejected").inc(len(answer.rejected))
    for r in answer.rejected:
        metrics.rejections.labels(r.error).inc()


def _disk(db: str) -> tuple[int, int]:
    """(database bytes with WAL, free bytes on its disk)."""
    size = sum(
        Path(f"{db}{suffix}").stat().st_size
        for suffix in ("", "-wal")
        if Path(f"{db}{suffix}").exists()
    )
    return size, shutil.disk_usage(Path(db).resolve().parent).free


async def _refresh(app: Litestar) -> None:
    m: Metrics = app.state.metrics
    database = app.state.database
    open_q, backup_at, top = await ops.health(database)
    m.quarantine.set(open_q)
    if backup_at:
        at = datetime.fromisoformat(backup_at.replace("Z", "+00:00")).timestamp()
        m.backup_age.set(max(0.0, time.time() - at))
    else:
        m.backup_age.set(-1)
    broker = getattr(app.state, "broker", None)
    counts = {"coordinator": 0, "public": 0}
    if broker is not None:
        for topic, n in broker.count().items():
            counts["public" if topic.startswith("public:") else "coordinator"] += n
        m.tailer_lag.set(max(0, int(top) - broker.last))
    for kind, n in counts.items():
        m.streams.labels(kind).set(n)
    if database.path is None:
        # PostgreSQL's disk is the database server's, watched there (docs/operations.md):
        # its free space is not ours to read; the database's size is.
        m.db_bytes.set(await ops.database_bytes(database))
        return
    size, free = _disk(database.path)
    m.db_bytes.set(size)
    m.free_bytes.set(free)
    m.low_disk.set(1 if free < LOW_DISK_BYTES else 0)


@get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response[bytes]:
    await _refresh(request.app)
    return Response(
        generate_latest(request.app.state.metrics.registry),
        media_type=CONTENT_TYPE_LATEST,
        headers={"Cache-Control": "no-store"},
    )


def low_disk_frame(free: int) -> bytes:
    """An SSE ``warning`` event for coordinator consoles (no id: it is not in the log)."""
    data = json.dumps(
        {"type": "warning", "code": "low_disk", "free_mb": free // (1 << 20)},
        separators=(",", ":"),
    )
    return f"event: warning\ndata: {data}\n\n".encode()


@asynccontextmanager
async def disk_watch_lifespan(app: Litestar) -> AsyncIterator[None]:
    """Check free disk every DISK_CHECK_SECONDS; while low, log it and warn coordinators.
    SQLite only: PostgreSQL's disk is on the database server, not beside this process."""
    if app.state.database.path is None:
        yield
        return

    async def watch() -> None:
        while True:
            with contextlib.suppress(OSError):
                _, free = await asyncio.to_thread(_disk, app.state.database.path)
                if free < LOW_DISK_BYTES:
                    log.warning(
                        "low disk: %d MiB free beside %s", free >> 20, app.state.database.path
                    )
                    broker = getattr(app.state, "broker", None)
                    if broker is not None:
                        raw = low_disk_frame(free)
                        for topic in tuple(broker.subs):
                            if not topic.startswith("public:"):
                                broker._fan_out(topic, -1, raw, True)
            await asyncio.sleep(DISK_CHECK_SECONDS)

    task = asyncio.create_task(watch(), name="doorstep-disk-watch")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


ROUTES: list[Any] = [metrics]
