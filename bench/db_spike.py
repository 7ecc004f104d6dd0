"""The spike of issue 21, item 1: two designs of one database layer on the hot path, on
both engines in the same run, each against raw DB-API code doing the same statements.

Designs:

* raw: the statements written by hand for each driver (``sqlite3``; psycopg 3 with
  ``%s``), run in the calling thread: the floor;
* dialect: the thin dialect object the server uses (``server/db/dialect.py``): each
  statement written once in SQLite's spelling, run as a blocking function of a ``Conn``
  by ``db.write_tx`` / ``db.read_tx`` on a worker thread (``Database`` over ``sqlite3``,
  ``PgDatabase`` over psycopg 3's pool);
* sqlalchemy: SQLAlchemy Core 2.x, one ``MetaData`` for the hot tables, each dialect's
  ``insert().on_conflict_do_nothing()`` / ``on_conflict_do_update()``, the same
  statements, a blocking function run on a worker thread (``asyncio.to_thread``) as the
  server would run it.

Workload, copied from ``server/db/changes.py``: the ingest of a sync (one write
transaction per batch of ``--per`` changes: the log's top, the history insert that
ignores stamps already stored, the merge into ``winners`` guarded by the stamp, the
top again; on PostgreSQL the log's ordering lock first), one device's batches in series;
then a volunteer's pull (a page of ``--page`` winners in the scope of one building, after
cursor 0: reference rows, its households, the visits to them, as
``scopes.pull_filter`` says it). Every database starts with the project's schema (opened
once through the engine, which migrates) and the same world. Rounds interleave designs on
fresh databases; medians are compared. PostgreSQL is a throwaway cluster (tests/pg.py)
with fsync on, as SQLite's synchronous=FULL.

Needs the bench extra: ``uv sync --extra test --extra bench`` (SQLAlchemy).
Run: .venv/bin/python bench/db_spike.py [--buildings 40] [--batches 30] [--per 300]
     [--pulls 30] [--page 500] [--rounds 3] [--engines sqlite,postgresql]
"""

import argparse
import asyncio
import json
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402
import sqlalchemy as sa  # noqa: E402
from pg import Cluster, find_bindir  # noqa: E402
from sqlalchemy.dialects import postgresql as sa_pg  # noqa: E402
from sqlalchemy.dialects import sqlite as sa_sqlite  # noqa: E402

from server.db.postgresql.core import PgDatabase, options  # noqa: E402
from server.db.postgresql.dialect import LOG_LOCK, translate  # noqa: E402
from server.db.sqlite.engine import Database  # noqa: E402
from sync import clock  # noqa: E402
from sync.ids import uuid7  # noqa: E402

NODE = "0123456789abcdef"
REFERENCE = ("communities", "buildings")

# -- the statements, written once in SQLite's spelling (changes.py's shape) -----------------

TOP = "SELECT coalesce(max(seq), 0) FROM history"
INSERT = (
    "INSERT INTO history (hlc, coll, id, field, value, node, person, received_at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (hlc) DO NOTHING"
)
# One SQL for both engines while a batch never changes one field twice (true of this
# workload); PostgreSQL refuses an upsert touching a row twice (changes.py's twin keeps
# the newest per field with DISTINCT ON).
MERGE = """
INSERT INTO winners (coll, id, field, value, hlc, seq)
SELECT coll, id, field, value, hlc, seq FROM history WHERE seq > ? ORDER BY seq
ON CONFLICT (coll, id, field) DO UPDATE
SET value = excluded.value, hlc = excluded.hlc, seq = excluded.seq
WHERE excluded.hlc > winners.hlc
"""
LOCK = "SELECT pg_advisory_xact_lock(?)"


def pull_sql(each: str) -> str:
    """A volunteer's page: ``each`` is the dialect's table of a JSON list's strings."""
    return (
        "SELECT seq, coll, id, field, value, hlc FROM winners WHERE seq > ? AND ("
        f"coll IN {REFERENCE!r} "
        f"OR (coll = 'households' AND id IN (SELECT value FROM {each})) "
        "OR (coll = 'visits' AND (SELECT x.value FROM winners x WHERE x.coll = winners.coll "
        "AND x.id = winners.id AND x.field = 'household') "
        f"IN (SELECT '\"' || value || '\"' FROM {each}))"
        ") ORDER BY seq LIMIT ?"
    )


# -- the world ------------------------------------------------------------------------------


class World:
    """Buildings of 24 households (written untimed), then visits in batches (timed)."""

    def __init__(self, buildings: int, batches: int, per: int) -> None:
        ts = clock.initial(NODE)
        now = int(time.time() * 1000) - 3_600_000
        n = 0

        def stamp() -> str:
            nonlocal ts, n
            n += 1
            ts = clock.send(ts, now + n // 10_000)
            return clock.format_stamp(ts)

        def row(coll: str, rid: str, field: str, value: object) -> tuple:
            v = json.dumps(value, ensure_ascii=False)
            return (stamp(), coll, rid, field, v, NODE, None, "2026-12-07T22:00:00.000Z")

        setup: list[tuple] = [row("communities", "c1", "name", "压测社区")]
        self.homes: list[list[str]] = []
        for b in range(buildings):
            bid = uuid7()
            setup += [row("buildings", bid, "label", f"{b + 1}号楼")]
            hs = [uuid7() for _ in range(24)]
            self.homes.append(hs)
            for h, hid in enumerate(hs):
                for f, v in (("building", bid), ("unit", "1"), ("room", f"{h}01"), ("c", "139")):
                    setup.append(row("households", hid, f, v))
        self.setup = [setup[i : i + 1000] for i in range(0, len(setup), 1000)]
        every = [h for hs in self.homes for h in hs]
        self.visits: list[list[tuple]] = []
        i = 0
        for _ in range(batches):
            batch: list[tuple] = []
            while len(batch) < per:
                vid = uuid7()
                for f, v in (
                    ("household", every[i % len(every)]),
                    ("at", "2026-12-07T22:05:00.000Z"),
                    ("outcome", "reached"),
                    ("needs", ["heater"] if i % 3 == 0 else []),
                    ("note", "独居老人，已送电暖气" if i % 5 == 0 else ""),
                    ("by", NODE),
                ):
                    batch.append(row("visits", vid, f, v))
                i += 1
            self.visits.append(batch[:per])
        self.changes = sum(len(b) for b in self.visits)


# -- design: raw DB-API ---------------------------------------------------------------------


def ingest_in(conn: Any, batch: list[tuple], sql: dict[str, str], lock: bool) -> int:
    """One sync's write, inside the caller's transaction (the same for raw and dialect)."""
    if lock:
        conn.execute(sql["lock"], (LOG_LOCK,))
    (before,) = conn.execute(sql["top"]).fetchone()
    conn.executemany(sql["insert"], batch)
    conn.execute(sql["merge"], (before,))
    (after,) = conn.execute(sql["top"]).fetchone()
    return int(after)


def pull_in(conn: Any, sql: str, homes: list[str], page: int) -> list[tuple]:
    ids = json.dumps(homes)
    return [tuple(r) for r in conn.execute(sql, (0, ids, ids, page))]


SQLITE_SQL = {"top": TOP, "insert": INSERT, "merge": MERGE, "pull": pull_sql("json_each(?)")}
PG_EACH = "json_array_elements_text(?::json) AS value"
PG_RAW_SQL = {
    "top": TOP,
    "insert": translate(INSERT),
    "merge": translate(MERGE),
    "lock": translate(LOCK),
    "pull": translate(pull_sql(PG_EACH)),
}


class Raw:
    name = "raw"

    def __init__(self, engine: str, where: str) -> None:
        self.pg = engine == "postgresql"
        if self.pg:
            self.conn: Any = psycopg.connect(where, autocommit=True, options=options())
            self.sql = PG_RAW_SQL
        else:
            self.conn = sqlite3.connect(where, isolation_level=None)
            for p in ("journal_mode=WAL", "synchronous=FULL", "foreign_keys=ON"):
                self.conn.execute(f"PRAGMA {p}")
            self.sql = SQLITE_SQL

    async def ingest(self, batch: list[tuple]) -> int:
        c = self.conn
        if self.pg:
            with c.transaction(), c.cursor() as cur:
                return ingest_in(cur, batch, self.sql, True)
        c.execute("BEGIN IMMEDIATE")
        out = ingest_in(c, batch, self.sql, False)
        c.execute("COMMIT")
        return out

    async def pull(self, homes: list[str], page: int) -> list[tuple]:
        c = self.conn
        if self.pg:
            with c.transaction():
                c.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
                return pull_in(c, self.sql["pull"], homes, page)
        c.execute("BEGIN")
        try:
            return pull_in(c, self.sql["pull"], homes, page)
        finally:
            c.execute("COMMIT")

    async def close(self) -> None:
        self.conn.close()


# -- design: the thin dialect object (what the server runs) ---------------------------------


class Thin:
    name = "dialect"

    def __init__(self, engine: str, where: str) -> None:
        self.db: Any = PgDatabase(where) if engine == "postgresql" else Database(where)

    async def open(self) -> None:
        await self.db.open()
        d = self.db.sql
        # Written once; the dialect supplies the ordering lock and the JSON-list table.
        self.sql = {"top": TOP, "insert": INSERT, "merge": MERGE}
        self.pull_sql = pull_sql(d.each())

    def _ingest_in(self, conn: Any, batch: list[tuple]) -> int:
        conn.dialect.order_in(conn)  # a no-op on SQLite; write_tx(appends=True) took it
        return ingest_in(conn, batch, self.sql, False)

    async def ingest(self, batch: list[tuple]) -> int:
        return await self.db.write_tx(lambda c: self._ingest_in(c, batch), appends=True)

    async def pull(self, homes: list[str], page: int) -> list[tuple]:
        return await self.db.read_tx(lambda c: pull_in(c, self.pull_sql, homes, page))

    async def close(self) -> None:
        await self.db.close()


# -- design: SQLAlchemy Core 2.x -------------------------------------------------------------

META = sa.MetaData()
HISTORY = sa.Table(
    "history",
    META,
    sa.Column("seq", sa.BigInteger, primary_key=True),
    sa.Column("hlc", sa.Text, nullable=False, unique=True),
    *(sa.Column(c, sa.Text, nullable=False) for c in ("coll", "id", "field", "value", "node")),
    sa.Column("person", sa.Text),
    sa.Column("received_at", sa.Text, nullable=False),
)
WINNERS = sa.Table(
    "winners",
    META,
    *(sa.Column(c, sa.Text, primary_key=True) for c in ("coll", "id", "field")),
    sa.Column("value", sa.Text, nullable=False),
    sa.Column("hlc", sa.Text, nullable=False),
    sa.Column("seq", sa.BigInteger, nullable=False, unique=True),
)
COLUMNS = ("hlc", "coll", "id", "field", "value", "node", "person", "received_at")


def sa_statements(pg: bool) -> dict[str, Any]:
    """The hot path's statements for one dialect: the upserts are per dialect."""
    insert = sa_pg.insert if pg else sa_sqlite.insert
    h, w = HISTORY, WINNERS
    ins = insert(h).on_conflict_do_nothing(index_elements=[h.c.hlc])
    src = (
        sa.select(h.c.coll, h.c.id, h.c.field, h.c.value, h.c.hlc, h.c.seq)
        .where(h.c.seq > sa.bindparam("before"))
        .order_by(h.c.seq)
    )
    merge = insert(w).from_select(["coll", "id", "field", "value", "hlc", "seq"], src)
    merge = merge.on_conflict_do_update(
        index_elements=[w.c.coll, w.c.id, w.c.field],
        set_={"value": merge.excluded.value, "hlc": merge.excluded.hlc, "seq": merge.excluded.seq},
        where=merge.excluded.hlc > w.c.hlc,
    )

    def each() -> Any:
        p = sa.bindparam("homes", type_=sa.Text)
        if pg:
            return sa.func.json_array_elements_text(sa.cast(p, sa.JSON)).table_valued("value")
        return sa.func.json_each(p).table_valued("value")

    x = w.alias("x")
    anchor = (
        sa.select(x.c.value)
        .where(x.c.coll == w.c.coll, x.c.id == w.c.id, x.c.field == "household")
        .scalar_subquery()
    )
    hs, hq = each(), each()
    pull = (
        sa.select(w.c.seq, w.c.coll, w.c.id, w.c.field, w.c.value, w.c.hlc)
        .where(
            w.c.seq > sa.bindparam("cursor"),
            sa.or_(
                w.c.coll.in_(REFERENCE),
                sa.and_(w.c.coll == "households", w.c.id.in_(sa.select(hs.c.value))),
                sa.and_(
                    w.c.coll == "visits",
                    anchor.in_(sa.select(sa.literal('"') + hq.c.value + sa.literal('"'))),
                ),
            ),
        )
        .order_by(w.c.seq)
        .limit(sa.bindparam("page", type_=sa.Integer))
    )
    return {
        "top": sa.select(sa.func.coalesce(sa.func.max(h.c.seq), 0)),
        "insert": ins,
        "merge": merge,
        "lock": sa.select(sa.func.pg_advisory_xact_lock(LOG_LOCK)),
        "pull": pull,
    }


class Alchemy:
    name = "sqlalchemy"

    def __init__(self, engine: str, where: str) -> None:
        self.pg = engine == "postgresql"
        self.st = sa_statements(self.pg)
        if self.pg:
            url = where.replace("postgresql://", "postgresql+psycopg://", 1)
            self.writer = self.reader = sa.create_engine(
                url, pool_size=4, connect_args={"options": options()}
            )
        else:
            self.writer = self._sqlite(where, "BEGIN IMMEDIATE")
            self.reader = self._sqlite(where, "BEGIN")

    @staticmethod
    def _sqlite(path: str, begin: str) -> sa.Engine:
        # pysqlite's own transaction handling would BEGIN DEFERRED late; SQLAlchemy's
        # documented recipe takes it over so a write transaction is BEGIN IMMEDIATE.
        engine = sa.create_engine(f"sqlite:///{path}")

        @sa.event.listens_for(engine, "connect")
        def _connect(dbapi: Any, _rec: Any) -> None:
            dbapi.isolation_level = None
            for p in ("journal_mode=WAL", "synchronous=FULL", "foreign_keys=ON"):
                dbapi.execute(f"PRAGMA {p}")

        @sa.event.listens_for(engine, "begin")
        def _begin(conn: sa.Connection) -> None:
            conn.exec_driver_sql(begin)

        return engine

    def _ingest(self, batch: list[tuple]) -> int:
        st = self.st
        with self.writer.begin() as c:
            if self.pg:
                c.execute(st["lock"])
            before = c.execute(st["top"]).scalar_one()
            c.execute(st["insert"], [dict(zip(COLUMNS, r, strict=True)) for r in batch])
            c.execute(st["merge"], {"before": before})
            return int(c.execute(st["top"]).scalar_one())

    def _pull(self, homes: list[str], page: int) -> list[tuple]:
        with self.reader.connect() as c:
            if self.pg:
                c = c.execution_options(isolation_level="REPEATABLE READ")
            with c.begin():
                args = {"cursor": 0, "homes": json.dumps(homes), "page": page}
                return [tuple(r) for r in c.execute(self.st["pull"], args)]

    async def ingest(self, batch: list[tuple]) -> int:
        return await asyncio.to_thread(self._ingest, batch)

    async def pull(self, homes: list[str], page: int) -> list[tuple]:
        return await asyncio.to_thread(self._pull, homes, page)

    async def close(self) -> None:
        self.writer.dispose()
        self.reader.dispose()


DESIGNS: list[Callable[[str, str], Any]] = [Raw, Thin, Alchemy]


# -- the run --------------------------------------------------------------------------------


async def prepare(engine: str, where: str) -> None:
    """The project's schema, made by the engine itself (it migrates on open)."""
    db: Any = PgDatabase(where) if engine == "postgresql" else Database(where)
    await db.open()
    await db.close()


async def measure(design: Any, world: World, pulls: int, page: int) -> dict[str, Any]:
    if hasattr(design, "open"):
        await design.open()
    try:
        for batch in world.setup:
            await design.ingest(batch)
        t0 = time.perf_counter()
        for batch in world.visits:
            top = await design.ingest(batch)
        ingest_s = time.perf_counter() - t0
        times, rows = [], 0
        for k in range(pulls):
            homes = world.homes[k % len(world.homes)]
            t = time.perf_counter()
            got = await design.pull(homes, page)
            times.append(time.perf_counter() - t)
            rows += len(got)
    finally:
        await design.close()
    return {
        "ingest": world.changes / ingest_s,
        "pull_ms": statistics.median(times) * 1000,
        "rows": rows / pulls,
        "top": top,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--buildings", type=int, default=40)
    ap.add_argument("--batches", type=int, default=30)
    ap.add_argument("--per", type=int, default=300)
    ap.add_argument("--pulls", type=int, default=30)
    ap.add_argument("--page", type=int, default=500)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--engines", default="sqlite,postgresql")
    args = ap.parse_args()
    engines = args.engines.split(",")
    world = World(args.buildings, args.batches, args.per)
    tmp = Path(tempfile.mkdtemp(prefix="doorstep-spike-"))
    cluster = None
    if "postgresql" in engines:
        bindir = find_bindir()
        if bindir is None:
            sys.exit("PostgreSQL's initdb/pg_ctl not found: bash .ci/setup --test")
        cluster = Cluster(bindir, durable=True).start()
    runs: dict[tuple[str, str], list[dict]] = {}
    answers: dict[str, set] = {}
    try:
        for r in range(args.rounds):
            for engine in engines:
                for make in DESIGNS:
                    if engine == "postgresql":
                        assert cluster is not None
                        where = cluster.create_database()
                    else:
                        where = str(tmp / f"{r}-{make.name}.db")  # type: ignore[attr-defined]
                    asyncio.run(prepare(engine, where))
                    m = asyncio.run(measure(make(engine, where), world, args.pulls, args.page))
                    runs.setdefault((make.name, engine), []).append(m)  # type: ignore[attr-defined]
                    answers.setdefault(engine, set()).add((m["rows"], m["top"]))
                    if cluster is not None and engine == "postgresql":
                        cluster.drop_database(where)
    finally:
        if cluster is not None:
            cluster.stop()
    # Every design wrote the same log and read the same pages.
    for engine, seen in answers.items():
        assert len(seen) == 1, f"{engine}: the designs disagree: {seen}"
    print(
        f"db spike: {world.changes:,} changes in batches of {args.per} (one device, in "
        f"series), then {args.pulls} volunteer pulls of <= {args.page} winners "
        f"({next(iter(answers[engines[0]]))[0]:.0f} rows each); medians of {args.rounds} rounds"
    )
    head = ("design", "engine", "ingest changes/s", "vs raw", "pull ms", "vs raw")
    rows = []
    for engine in engines:
        raw = runs[("raw", engine)]
        raw_i = statistics.median(m["ingest"] for m in raw)
        raw_p = statistics.median(m["pull_ms"] for m in raw)
        for make in DESIGNS:
            ms = runs[(make.name, engine)]  # type: ignore[attr-defined]
            i = statistics.median(m["ingest"] for m in ms)
            p = statistics.median(m["pull_ms"] for m in ms)
            rows.append(
                (
                    make.name,
                    engine,
                    f"{i:,.0f}",
                    f"{i / raw_i:.2f}x",
                    f"{p:.2f}",
                    f"{p / raw_p:.2f}x",
                )  # type: ignore[attr-defined]
            )
    widths = [max(len(r[k]) for r in [head, *rows]) for k in range(len(head))]
    for r in [head, *rows]:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())


if __name__ == "__main__":
    main()
