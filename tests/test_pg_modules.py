"""The data modules give the same answers on PostgreSQL as on SQLite (#14).

Differential tests over ``demo_twins``: the demo community in a SQLite file and the same
rows in PostgreSQL. Each test calls the public functions of a module with the same
arguments on ``Database(path)`` and ``PgDatabase(url)`` and compares the answers, then
writes through both the same way and compares what the reads show.
"""

from collections.abc import Awaitable, Callable
from typing import Any

from conftest import run_async

from server.db import changes as sqlite_changes
from server.db import log
from server.db.core import Database
from server.db.pg import changes as pg_changes
from server.db.pg import log as pg_log
from server.db.pg.core import PgDatabase

NODE = "0123456789abcdef"
AT = "2026-11-30T08:00:00.000Z"

Twins = tuple[Database, PgDatabase]


def _twins(demo_twins: tuple[str, str], scenario: Callable[[Twins], Awaitable[Any]]) -> Any:
    """Run ``scenario((sqlite, postgresql))`` with both databases open."""
    path, url = demo_twins

    async def main() -> Any:
        async with Database(path) as a, PgDatabase(url) as b:
            return await scenario((a, b))

    return run_async(main())


async def same(dbs: Twins, fn: Callable[..., Awaitable[Any]], *args: Any, **kw: Any) -> Any:
    """``fn(db, *args)`` on both databases; their answers must be equal. Returns it."""
    mine, theirs = await fn(dbs[0], *args, **kw), await fn(dbs[1], *args, **kw)
    assert theirs == mine, f"{fn.__module__}.{fn.__name__}{args!r}"
    return mine


async def append(dbs: Twins, changes: list[tuple]) -> None:
    """The same accepted changes through each backend's write path."""
    a = await sqlite_changes.apply(dbs[0], changes)
    b = await pg_changes.apply(dbs[1], changes)
    assert a == b


def change(n: int, coll: str, rid: str, field: str, value: str) -> tuple:
    # Later than any demo stamp, whatever hour the demo was made at.
    stamp = f"2099-01-01T00:00:{n:02d}.000Z-0000-{NODE}"
    return (stamp, coll, rid, field, value, NODE, None, AT)


async def _incidents(db: Database) -> list[str]:
    rows = await db.read("SELECT DISTINCT id FROM winners WHERE coll = 'incidents' ORDER BY id")
    return [r[0] for r in rows]


def test_the_live_tailers_reads_are_the_same_on_both(demo_twins: tuple[str, str]) -> None:
    async def scenario(dbs: Twins) -> None:
        top = await same(dbs, log.max_seq)
        assert top > 7000
        for after, limit, upto in ((0, 500, None), (100, 50, 120), (top - 5, 100, None)):
            await same(dbs, log.tail, after, limit, upto)
        # Every batch of the log touches the same incidents.
        for after in range(0, top, 400):
            rows = await log.tail(dbs[0], after, 400)
            await same(dbs, log.incidents_touched, rows)
        await same(dbs, log.active_incidents)
        await same(dbs, log.incident_scopes)
        incidents = await _incidents(dbs[0])
        assert len(incidents) >= 2
        for incident in [*incidents, "no-such-incident"]:
            await same(dbs, log.incident_inputs, incident)
            await same(dbs, log.checks_of, incident)
        assert (await log.incident_inputs(dbs[0], incidents[0])) is not None

        # Writes through both, then the reads that show them.
        inc = incidents[0]
        household = (await log.incident_inputs(dbs[0], inc)).households  # type: ignore[union-attr]
        hid = sorted(household)[0]
        await append(
            dbs,
            [
                change(1, "visits", "v-new", "incident", f'"{inc}"'),
                change(2, "visits", "v-new", "household", f'"{hid}"'),
                change(3, "visits", "v-new", "outcome", '"met"'),
                change(4, "household_status", f"{inc}~{hid}", "restored", "true"),
                change(5, "household_status", f"{inc}~{hid}", "needs_open.water", "true"),
                change(6, "checks", f"{inc}~c1", "resolved", '"ok"'),
                change(7, "incidents", "inc-new", "status", '"open"'),
                change(8, "incidents", "inc-new", "buildings", '["b-x"]'),
                change(9, "households", "h-new", "building", '"b-x"'),
                change(10, "updates", "u-new", "incident", '"inc-new"'),
                change(11, "updates", "u-new", "text", '"水已恢复"'),
                change(12, "incidents", incidents[1], "status", '"closed"'),
            ],
        )
        new_top = await same(dbs, log.max_seq)
        assert new_top == top + 12
        rows = await same(dbs, log.tail, top, 100)
        assert len(rows) == 12
        touched = await same(dbs, log.incidents_touched, rows)
        assert {inc, "inc-new"} <= touched
        active = await same(dbs, log.active_incidents)
        assert "inc-new" in active and incidents[1] not in active
        await same(dbs, log.incident_scopes)
        for incident in (inc, "inc-new", incidents[1]):
            got = await same(dbs, log.incident_inputs, incident)
            assert got.seq == new_top
        statuses = (await log.incident_inputs(dbs[1], inc)).statuses  # type: ignore[union-attr]
        assert statuses[f"{inc}~{hid}"]["restored"] is True
        assert (await same(dbs, log.checks_of, inc)) == {f"{inc}~c1": {"resolved": "ok"}}

        # The twin that runs inside a caller's transaction.
        def mine(conn: Any) -> Any:
            return log.incident_scopes_in(conn)

        theirs = await dbs[1].read_fn(pg_log.incident_scopes_in)
        assert theirs == await dbs[0].call(mine)

    _twins(demo_twins, scenario)
