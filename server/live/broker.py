"""Live streams: one tailer per process reads the change log, one broker fans it out.

The change log is ``history`` ordered by ``seq``. Every server process runs one ``Broker``
whose tailer polls ``history WHERE seq > last`` (cheap: a rowid range) and, per batch:

1. encodes the batch once as SSE ``change`` frames for coordinators. Coordinators limited
   to a community share one topic per community: per step, the batch is filtered once per
   such topic by the rules of pulls (``db.scopes.visible_rows``) and encoded once;
2. works out which incidents the batch touched, derives their progress once, and, when it
   differs from the last one sent, encodes one ``progress`` frame for coordinators and one
   ``public`` frame for that incident's residents;
3. for volunteers' phones, filters the batch once per distinct volunteer scope (one topic
   per scope token, ``vol:<token>``) and offers each phone of that scope one ``changed``
   nudge when a row it may read was written by another device. The nudge carries no data
   at all: the phone answers it with an ordinary sync, which the server scopes as always;
4. offers the same bytes to every subscriber's bounded buffer. A subscriber whose buffer is
   full is dropped: its stream ends and the client resumes with ``Last-Event-ID``.

No query ever runs per subscriber per change. Each frame's SSE ``id`` is the sequence the
tailer had reached, so a client resuming from it misses nothing, and two processes over
one database serve the same changes in the same order.

When the tailer reads: right after this process's own syncs (``nudge``); on PostgreSQL,
whenever any process commits an append (``follow``: LISTEN/NOTIFY, docs/postgresql.md,
"The tailer"); and by polling, every ``poll`` seconds, or every ``slow_poll`` seconds
while the listener is in place (the poll is then only a fallback).
"""

import asyncio
import contextlib
import hashlib
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import msgspec
from litestar.response.sse import ServerSentEventMessage

from schemas.events import ChangeItem, ChangesEvent, ProgressEvent, PublicEvent
from schemas.progress import Progress, PublicProgress
from server import access
from server.db import AnyDatabase
from server.db import log as db_log
from server.db.log import LogRow
from server.derived.progress import building_labels, derive, public_view

__all__ = [
    "COORD",
    "NUDGE",
    "SCOPED",
    "VOL",
    "Broker",
    "Frame",
    "Subscriber",
    "coalesce",
    "frame",
]

log = logging.getLogger("doorstep.live")

COORD = "coord"
#: Topic prefix of coordinators limited to one community: ``coord:<community>``.
SCOPED = "coord:"
#: Topic prefix of volunteers' nudge streams: ``vol:<scope token>``.
VOL = "vol:"
#: The one frame a volunteer's phone is sent: "something you may read changed; sync".
NUDGE = b"event: changed\ndata: {}\n\n"
#: Changes per ``change`` frame (a big sync is split into several frames).
CHUNK = 500
#: Rows read per tailer step.
BATCH = 2000
#: Least time between two progress derivations of one incident. Deriving reads the whole
#: incident, so under a burst of syncs it is coalesced rather than repeated per request.
REFRESH_EVERY = 0.25

_encode = msgspec.json.Encoder()
_PING = b": ping\n\n"


def frame(kind: str, seq: int, data: bytes, retry: int | None = None) -> bytes:
    """One SSE event, fully encoded. ``data`` is one line of JSON."""
    head = f"retry: {retry}\n" if retry is not None else ""
    return f"{head}id: {seq}\nevent: {kind}\ndata: ".encode() + data + b"\n\n"


class Frame(ServerSentEventMessage):
    """A pre-encoded event: Litestar's ``ServerSentEvent`` sends ``encode()`` as it is, so
    the bytes built once by the broker go to every subscriber unchanged."""

    def __init__(self, raw: bytes) -> None:
        self.raw = raw

    def encode(self) -> bytes:
        return self.raw


def coalesce(rows: list[LogRow]) -> list[LogRow]:
    """The rows a coordinator's replica needs of a batch of the log: per field, only the
    change with the newest stamp (the one a last-writer-wins merge keeps), in log order.

    Under a burst — one device rewriting a note hundreds of times a second — every
    coordinator stream was sent every rewrite (224 MiB to one open stream, #22 M1); now
    it gets one per field per tailer batch. A superseded change left out is never needed:
    the kept one wins over it wherever it is merged.
    """
    best: dict[tuple[str, str, str], LogRow] = {}
    for row in rows:
        key = (row[1], row[2], row[3])
        kept = best.get(key)
        if kept is None or row[5] > kept[5]:
            best[key] = row
    if len(best) == len(rows):
        return rows
    return sorted(best.values(), key=lambda r: r[0])


class Subscriber:
    """One open stream: a bounded buffer of frames and a wake-up event."""

    __slots__ = ("buf", "dropped", "limit", "node", "topic", "wake")

    def __init__(self, topic: str, limit: int, node: str | None = None) -> None:
        self.topic = topic
        #: The device behind the stream: a volunteer's own writes do not nudge it, and a
        #: coordinator's stream ends when that device is revoked.
        self.node = node
        self.limit = limit
        #: (seq, frame, is_state): state frames (progress) are sent even when they carry
        #: the sequence the client resumed from, as they may be newer than its snapshot.
        self.buf: deque[tuple[int, bytes, bool]] = deque()
        self.wake = asyncio.Event()
        self.dropped = False

    def offer(self, seq: int, data: bytes, state: bool = False) -> None:
        if self.dropped:
            return
        if len(self.buf) >= self.limit:
            # Too slow: drop it rather than buffer without bound. It resumes by id.
            self.dropped = True
            self.buf.clear()
        else:
            self.buf.append((seq, data, state))
        self.wake.set()

    def close(self) -> None:
        """End the stream now: nothing buffered or offered later is sent."""
        self.dropped = True
        self.buf.clear()
        self.wake.set()


@dataclass
class _Cached:
    """The last frame sent for an incident and the sequence at which its content changed."""

    seq: int
    body: bytes  # the event JSON with seq zeroed, to compare content
    raw: bytes  # the SSE frame as sent


PublicHook = Callable[[str, PublicProgress | None, PublicProgress], Awaitable[None]]
#: community → its read scope (a ``server.access.Scope``).
Scoper = Callable[[str], Awaitable[Any]]
#: (scope, log rows) → the rows whose record the scope may read.
RowFilter = Callable[[Any, list[LogRow]], Awaitable[list[LogRow]]]
#: device nodes → those no longer valid (revoked, expired, unknown).
DeviceCheck = Callable[[list[str]], Awaitable[set[str]]]
#: (person, role) → their read scope now (a ``server.access.Scope``).
PersonScope = Callable[[str, str], Awaitable[Any]]
#: Seconds between two checks that the devices behind open streams are still valid.
WATCH_EVERY = 0.5
#: (on_top, on_ready, stop) → returns when its connection is lost or ``stop`` is set: the
#: database's change notifications (``BaseDatabase.follow``); False at once when the
#: engine cannot notify (the tailer polls).
Follow = Callable[
    [Callable[[int], object], Callable[[], object], asyncio.Event], Awaitable[bool | None]
]
#: Seconds before listening again after the listener's connection was lost or refused.
RELISTEN_AFTER = 1.0
#: Seconds ``Broker.stop`` waits for each of its tasks to end.
STOP_WITHIN = 5.0


def _remember(
    cache: dict[str, Any],
    kind: str,
    event: Any,
    incident: str,
    view: Any,
    seq: int,
    opaque: bool = False,
) -> bool:
    """Cache ``view`` as the incident's latest frame of ``kind``; False if unchanged.

    The view is compared without its ``seq``, so a new sequence alone sends nothing. An
    ``opaque`` view (residents') carries a version derived from its own content instead of
    the server sequence, which would show the activity of every community (issue 9); the
    cache keeps the sequence for ordering inside the process."""
    view.seq = 0
    body = _encode.encode(view)
    old = cache.get(incident)
    if old is not None and old[0].body == body:
        return False
    view.seq = version_of(body) if opaque else seq
    raw = frame(kind, view.seq, _encode.encode(event(view)))
    cache[incident] = (_Cached(seq, body, raw), view)
    return True


def version_of(body: bytes) -> int:
    """An opaque version of a view: the same content gives the same number in every
    process, and nothing about other incidents' activity shows in it."""
    return int.from_bytes(hashlib.sha256(body).digest()[:6], "big")


class Broker:
    """Tails the change log of one database and fans it out to this process's streams."""

    def __init__(
        self,
        database: AnyDatabase,
        *,
        poll: float = 0.1,
        slow_poll: float = 1.0,
        buffer: int = 256,
        ping: float = 15.0,
        retry_ms: int = 2000,
    ) -> None:
        self.database = database
        self.poll = poll
        self.slow_poll = slow_poll
        self.buffer = buffer
        self.ping = ping
        self.retry_ms = retry_ms
        self.last = 0
        self.subs: dict[str, set[Subscriber]] = {}
        self._progress: dict[str, tuple[_Cached, Progress]] = {}
        self._public: dict[str, tuple[_Cached, PublicProgress]] = {}
        self._task: asyncio.Task[None] | None = None
        self._pinger: asyncio.Task[None] | None = None
        self._advanced = asyncio.Event()
        self._wake = asyncio.Event()
        self.on_public: list[PublicHook] = []
        self._hooks: set[asyncio.Task[None]] = set()
        self._loading: dict[str, asyncio.Task[bool]] = {}
        self._dirty: set[str] = set()
        #: Every incident touched up to this log position has been derived again (the
        #: tailer's ``_refresh_due``); ``public_current`` waits for it.
        self._refreshed_upto = 0
        self._refreshed = asyncio.Event()
        self._refreshed_at = 0.0
        #: Set by the app (``wiring.live_lifespan``) to serve community-limited streams.
        self.scoper: Scoper | None = None
        self.row_filter: RowFilter | None = None
        self.device_check: DeviceCheck | None = None
        #: Set by the app: a volunteer's nudge stream ends when their scope changes.
        self.person_scope: PersonScope | None = None
        #: Set by the app on PostgreSQL: wakes the tailer when any process appends.
        self.follow: Follow | None = None
        #: True while ``follow`` is listening: the poll slows to ``slow_poll``.
        self.listening = False
        #: Times the listener was (re)established, for tests and logs.
        self.listens = 0
        self._ear: asyncio.Task[None] | None = None
        self._stopping = False
        self._stop = asyncio.Event()
        self._scopes: dict[str, Any] = {}  # scoped topic → its scope at the last step
        self._watcher: asyncio.Task[None] | None = None

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        self.last = self._refreshed_upto = await db_log.max_seq(self.database)
        self._task = asyncio.create_task(self._run(), name="doorstep-tailer")
        self._pinger = asyncio.create_task(self._ping_loop(), name="doorstep-pinger")
        self._watcher = asyncio.create_task(self._watch_loop(), name="doorstep-watcher")
        if self.follow is not None:
            self._ear = asyncio.create_task(self._listen_loop(), name="doorstep-listener")

    async def stop(self) -> None:
        # A driver may turn a cancellation into an error of its own (a connect cut
        # short): the loops see ``_stopping`` and end rather than retry, and no task may
        # hold up the shutdown for long.
        self._stopping = True
        self._stop.set()
        for task in (self._ear, self._task, self._pinger, self._watcher, *self._hooks):
            if task is not None:
                task.cancel()
                await asyncio.wait({task}, timeout=STOP_WITHIN)
                if task.done() and not task.cancelled():
                    task.exception()  # retrieved: it ended as it may
        for subs in self.subs.values():
            for sub in subs:
                sub.close()

    def nudge(self) -> None:
        """Tail now (called after a local write) instead of at the next poll."""
        self._wake.set()

    def _heard(self, top: int) -> None:
        """Another process (or this one) committed an append up to ``top``."""
        if top > self.last:
            self._wake.set()

    def _ready(self) -> None:
        """The listener is in place: read once now, whatever was announced (appends
        committed while it was away were heard by no one), then poll slowly."""
        self.listening = True
        self.listens += 1
        self._wake.set()

    async def _listen_loop(self) -> None:
        """Keep ``follow`` listening: when its connection is lost or cannot be made, poll
        fast and try again every ``RELISTEN_AFTER`` seconds."""
        assert self.follow is not None
        while not self._stopping:
            try:
                if await self.follow(self._heard, self._ready, self._stop) is False:
                    return  # the engine cannot notify: poll
                if self._stopping:
                    return
                log.warning("the change log listener's connection was lost; listening again")
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if self._stopping:
                    return
                log.warning("cannot listen to the change log (%s); polling meanwhile", exc)
            self.listening = False
            await asyncio.sleep(RELISTEN_AFTER)

    def count(self) -> dict[str, int]:
        return {topic: len(subs) for topic, subs in self.subs.items() if subs}

    # -- subscribers ----------------------------------------------------------------------

    def subscribe(self, topic: str, node: str | None = None) -> Subscriber:
        return self.attach(Subscriber(topic, self.buffer, node))

    def attach(self, sub: Any) -> Any:
        """Register an open stream: a ``Subscriber``, or anything with its ``topic``,
        ``node``, ``offer`` and ``close`` (the residents' lean ``Waiter``)."""
        self.subs.setdefault(sub.topic, set()).add(sub)
        return sub

    def unsubscribe(self, sub: Any) -> None:
        subs = self.subs.get(sub.topic)
        if subs is not None:
            subs.discard(sub)
            if not subs:
                del self.subs[sub.topic]

    def close_node(self, node: str) -> int:
        """End every stream of a device (revoked, logged out) at once; how many ended."""
        n = 0
        for subs in tuple(self.subs.values()):
            for sub in tuple(subs):
                if sub.node == node:
                    sub.close()
                    self.unsubscribe(sub)
                    n += 1
        return n

    async def close_invalid(self) -> None:
        """End the streams whose device is no longer valid (revoked by another process,
        by the command line, or expired). Called after each read of the log and before
        its frames are offered, so a change written after a revocation never reaches the
        revoked device; and every ``WATCH_EVERY`` seconds for idle streams."""
        if self.device_check is None:
            return
        nodes = {sub.node for subs in self.subs.values() for sub in subs if sub.node}
        if not nodes:
            return
        for node in await self.device_check(sorted(nodes)):
            self.close_node(node)

    async def _watch_loop(self) -> None:
        while True:
            await asyncio.sleep(WATCH_EVERY)
            try:
                await self.close_invalid()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("checking the devices of open streams failed")

    def _fan_out(self, topic: str, seq: int, raw: bytes, state: bool = False) -> None:
        for sub in tuple(self.subs.get(topic, ())):
            sub.offer(seq, raw, state)

    async def wait_for(self, seq: int, timeout: float = 5.0) -> None:
        """Wait until this process's tailer has reached ``seq`` (another process may be
        ahead of it; a client resuming from there must not be sent old events again)."""
        deadline = time.monotonic() + timeout
        while self.last < seq and time.monotonic() < deadline:
            self._advanced.clear()
            self._wake.set()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._advanced.wait(), deadline - time.monotonic())

    # -- the tailer -----------------------------------------------------------------------

    async def _run(self) -> None:
        while not self._stopping:
            # Cleared before the read, not after: a wake-up that arrives during the read
            # (a notification, a nudge) makes the loop read again at once.
            self._wake.clear()
            try:
                n = await self.step()
                await self._refresh_due()
            except asyncio.CancelledError:
                raise
            except Exception:
                if self._stopping:
                    return
                log.exception("live tailer failed at seq %s; retrying", self.last)
                n = 0
                await asyncio.sleep(1.0)
            if n < BATCH:
                wait = self.slow_poll if self.listening else self.poll
                if self._dirty:  # a progress derivation is due soon: come back for it
                    due = self._refreshed_at + REFRESH_EVERY - time.monotonic()
                    wait = min(wait, max(due, 0.0) + 0.01)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), wait)

    async def step(self) -> int:
        """Read and publish one batch of the log; returns the number of rows read."""
        rows = await db_log.tail(self.database, self.last, BATCH)
        if not rows:
            return 0
        upto = rows[-1][0]
        await self.close_invalid()
        scoped = await self._filter_scoped(rows)
        # No await from here to ``self.last = upto``.
        if self.subs.get(COORD):
            self._fan_out_changes(COORD, rows)
        for topic, kept in scoped.items():
            self._fan_out_changes(topic, kept)
        # Before any await: a stream that subscribes from here on must find these rows
        # in its catch-up, as they were not offered to it.
        self.last = upto
        self._advanced.set()
        if any(access.rescopes(r[1], r[3]) for r in rows):
            await self.close_rescoped()
        await self._nudge_volunteers(rows)
        self._dirty |= await db_log.incidents_touched(self.database, rows)
        return len(rows)

    async def _nudge_volunteers(self, rows: list[LogRow]) -> None:
        """One ``changed`` nudge per volunteer phone that may read a row of this batch
        written by another device; one visibility query per distinct scope."""
        for topic in [t for t, s in self.subs.items() if s and t.startswith(VOL)]:
            scope = self._scopes.get(topic)
            if scope is None:
                continue
            kept = await self._visible(scope, rows)
            if not kept:
                continue
            writers = {hlc[-16:] for *_, hlc in kept}
            for sub in tuple(self.subs.get(topic, ())):
                if writers - {sub.node}:
                    sub.offer(kept[-1][0], NUDGE, True)

    async def close_rescoped(self) -> None:
        """End the nudge streams of volunteers whose scope changed since they opened them
        (assigned, unassigned): no nudge for a record they may no longer read. The phone
        reconnects, and its new stream has the scope it has now."""
        if self.person_scope is None:
            return
        for topic in [t for t, s in self.subs.items() if s and t.startswith(VOL)]:
            held = self._scopes.get(topic)
            if held is None:
                continue
            now = await self.person_scope(held.person, held.role)
            if now.token == held.token:
                continue
            for sub in tuple(self.subs.get(topic, ())):
                sub.close()
                self.unsubscribe(sub)
            self._scopes.pop(topic, None)

    async def _filter_scoped(self, rows: list[LogRow]) -> dict[str, list[LogRow]]:
        """The batch filtered once per community topic that has subscribers (loops until
        no topic appeared during the queries, so no subscriber misses these rows)."""
        out: dict[str, list[LogRow]] = {}
        while True:
            todo = [t for t, s in self.subs.items() if s and t.startswith(SCOPED) and t not in out]
            if not todo:
                break
            for topic in todo:
                scope = await self.scope_of(topic[len(SCOPED) :])
                self._scopes[topic] = scope
                out[topic] = await self._visible(scope, rows)
        for topic in [t for t in self._scopes if not self.subs.get(t)]:
            del self._scopes[topic]
        return out

    async def scope_of(self, community: str) -> Any:
        if self.scoper is None:
            raise RuntimeError("this broker cannot serve community-limited streams")
        return await self.scoper(community)

    async def _visible(self, scope: Any, rows: list[LogRow]) -> list[LogRow]:
        if self.row_filter is None:
            raise RuntimeError("this broker cannot serve community-limited streams")
        return await self.row_filter(scope, rows)

    def _fan_out_changes(self, topic: str, rows: list[LogRow]) -> None:
        rows = coalesce(rows)
        for i in range(0, len(rows), CHUNK):
            part = rows[i : i + CHUNK]
            self._fan_out(topic, part[-1][0], self.change_frame(part))

    async def _refresh_due(self) -> None:
        """Derive the progress of incidents touched since the last derivation, at most
        once per ``REFRESH_EVERY``; the loop comes back when it is due for the rest."""
        upto = self.last
        if self._dirty:
            if time.monotonic() - self._refreshed_at < REFRESH_EVERY:
                return
            self._refreshed_at = time.monotonic()
            dirty, self._dirty = self._dirty, set()
            for incident in sorted(dirty):
                await self._refresh(incident, self.last)
        self._refreshed_upto = upto
        self._refreshed.set()

    def change_frame(self, rows: list[LogRow]) -> bytes:
        items = [
            ChangeItem(seq, c, i, f, msgspec.Raw(v.encode()), h) for seq, c, i, f, v, h in rows
        ]
        return frame("change", rows[-1][0], _encode.encode(ChangesEvent(items)))

    async def _refresh(self, incident: str, seq: int) -> None:
        data = await db_log.incident_inputs(self.database, incident)
        if data is None:
            return
        await self.close_invalid()  # read after the data: see ``close_invalid``
        p = derive(incident, data)
        summary = data.incident.get("summary")
        pub = public_view(p, summary if isinstance(summary, str) else None, building_labels(data))
        if self._remember_progress(incident, p, seq):
            raw = self._progress[incident][0].raw
            self._fan_out(COORD, seq, raw, state=True)
            # Coordinators' community topics only: a volunteer's nudge stream carries
            # nudges and nothing else (docs/security.md).
            for topic, scope in self._scopes.items():
                if topic.startswith(SCOPED) and incident in (scope.incidents or ()):
                    self._fan_out(topic, seq, raw, state=True)
        old = self._public.get(incident)
        if self._remember_public(incident, pub, seq):
            self._fan_out(f"public:{incident}", seq, self._public[incident][0].raw)
            for hook in self.on_public:
                task = asyncio.create_task(hook(incident, old[1] if old else None, pub))
                self._hooks.add(task)
                task.add_done_callback(self._hook_done)

    def _hook_done(self, task: asyncio.Task[None]) -> None:
        self._hooks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("live hook failed", exc_info=task.exception())

    def _remember_progress(self, incident: str, p: Progress, seq: int) -> bool:
        return _remember(self._progress, "progress", ProgressEvent, incident, p, seq)

    def _remember_public(self, incident: str, pub: PublicProgress, seq: int) -> bool:
        return _remember(self._public, "public", PublicEvent, incident, pub, seq, opaque=True)

    async def progress(self, incident: str) -> tuple[int, bytes, Progress] | None:
        """The cached progress of an incident (derived now if not cached).

        Single-flight: when a thousand residents open the link at once, one query runs
        and the others wait for its answer.
        """
        if incident not in self._progress:
            task = self._loading.get(incident)
            if task is None:
                task = asyncio.create_task(self._load(incident))
                self._loading[incident] = task
                task.add_done_callback(lambda _: self._loading.pop(incident, None))
            if not await asyncio.shield(task):
                return None
        cached, p = self._progress[incident]
        return cached.seq, cached.raw, p

    async def _load(self, incident: str) -> bool:
        seq = self.last
        data = await db_log.incident_inputs(self.database, incident)
        if data is None:
            return False
        if incident not in self._progress:  # the tailer may have got there first
            p = derive(incident, data)
            self._remember_progress(incident, p, seq)
            summary = data.incident.get("summary")
            pub = public_view(
                p, summary if isinstance(summary, str) else None, building_labels(data)
            )
            self._remember_public(incident, pub, seq)
        return True

    async def public(self, incident: str) -> tuple[int, bytes, PublicProgress] | None:
        if incident not in self._public and await self.progress(incident) is None:
            return None
        cached, pub = self._public[incident]
        return cached.seq, cached.raw, pub

    async def public_current(
        self, incident: str, timeout: float = 5.0
    ) -> tuple[int, bytes, PublicProgress] | None:
        """``public``, but never older than anything committed when the call began.

        A resident who resumes on this server with the id another server gave must not
        get a view older than the one it already has (issue 21: server C had not yet
        tailed the update A had sent). This waits (at most ``timeout``) until this
        process's tailer has read the log up to its current end and derived again every
        incident touched on the way: no derivation of its own, so the views keep the order
        of the tailer's (a view stamped with an older sequence than one already sent would
        be skipped by the streams that hold the newer one)."""
        target = await db_log.max_seq(self.database)
        deadline = time.monotonic() + timeout
        while self._refreshed_upto < target and time.monotonic() < deadline:
            self._refreshed.clear()
            self._wake.set()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._refreshed.wait(), deadline - time.monotonic())
        return await self.public(incident)

    async def _ping_loop(self) -> None:
        # One timer for all streams, not one per stream: comments keep proxies from
        # closing idle connections.
        while True:
            await asyncio.sleep(self.ping)
            for subs in tuple(self.subs.values()):
                for sub in tuple(subs):
                    sub.offer(-1, _PING, True)

    # -- streams --------------------------------------------------------------------------

    async def coordinator_stream(
        self, last_id: int | None, community: str | None = None, node: str | None = None
    ) -> AsyncIterator[Frame]:
        """Changes and progress for a coordinator, resuming after ``last_id``.

        A coordinator limited to ``community`` gets only what a pull would give them. The
        stream ends when the device ``node`` is revoked or its session ends.
        """
        if last_id is not None and last_id > self.last:
            await self.wait_for(last_id)
        scope = None if community is None else await self.scope_of(community)
        sub = self.subscribe(COORD if community is None else SCOPED + community, node)
        try:
            live_from = self.last
            yield Frame(f"retry: {self.retry_ms}\n\n".encode())
            sent = live_from
            if last_id is not None:
                sent = min(last_id, live_from)
                while sent < live_from:
                    rows = await db_log.tail(self.database, sent, CHUNK, upto=live_from)
                    if not rows:
                        break
                    sent = rows[-1][0]
                    if scope is not None:
                        rows = await self._visible(scope, rows)
                    await self.close_invalid()
                    if sub.dropped:
                        return
                    if rows:
                        yield Frame(self.change_frame(coalesce(rows)))
                sent = max(sent, last_id)
            for incident in await db_log.active_incidents(self.database):
                if scope is not None and incident not in (scope.incidents or ()):
                    continue
                got = await self.progress(incident)
                if sub.dropped:
                    return
                if got is not None:
                    yield Frame(got[1])
            async for raw in self._drain(sub, sent):
                yield raw
        finally:
            self.unsubscribe(sub)

    async def volunteer_stream(self, node: str, scope: Any) -> AsyncIterator[Frame]:
        """Nudges for one phone: ``changed`` whenever a record in ``scope`` is written by
        another device. Never a record, a count or an id: the phone syncs to learn more.

        The scope is the one the device had when it connected; the phone reconnects when
        a sync answer brings a new scope token, and the stream ends when a write changes
        the volunteer's scope (``close_rescoped``).
        """
        topic = VOL + scope.token
        self._scopes[topic] = scope
        sub = self.subscribe(topic, node)
        try:
            yield Frame(f"retry: {self.retry_ms}\n\n".encode())
            # Whatever happened before the stream opened: sync once now.
            yield Frame(NUDGE)
            async for raw in self._drain(sub, -1):
                yield raw
        finally:
            self.unsubscribe(sub)
            if not self.subs.get(topic):
                self._scopes.pop(topic, None)

    async def _drain(self, sub: Subscriber, skip: int) -> AsyncIterator[Frame]:
        """Frames from the subscriber's buffer, leaving out what the client already has
        (the catch-up sent everything up to ``skip``)."""
        while not sub.dropped:
            await sub.wake.wait()
            sub.wake.clear()
            while sub.buf:
                seq, raw, state = sub.buf.popleft()
                if state or seq > skip:
                    yield Frame(raw)
