"""Visibility is declared once (issue 21, item 3): ``server.access.VISIBILITY`` says how
each collection reaches a scope, and both engines' SQL (pulls, evictions, the visibility
of live rows) and the Python checks (``may_write``, ``readable``) follow from it.

Run on the run's engine (``--backend``): the same code answers on both.
"""

from datetime import UTC, datetime, timedelta

import pytest
from conftest import load_demo, run_async

from server import access
from server.access import Facts, Reach, Visibility, may_write
from server.db import changes, open_database, scopes
from server.db.devices import Device
from sync.validate import ForbiddenError

AT = "2026-11-30T08:00:00.000Z"
T0 = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
VOL = Device("7e57000000000002", "p-vol", "volunteer", False)


def test_a_collection_added_to_the_table_is_pulled_evicted_and_judged_by_it(
    fresh_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One entry: tickets, reached through their household (as visits are).
    monkeypatch.setitem(
        access.VISIBILITY,
        "tickets",
        Visibility((Reach("households", "household"),), volunteers=True),
    )

    async def body() -> dict:
        out: dict = {}
        async with open_database(fresh_db) as db:

            async def write(records: list, n: int) -> None:
                await changes.write_records(db, records, at=T0 + timedelta(seconds=n))

            await write(
                [
                    ("buildings", "b1", {"community": "c1"}),
                    ("buildings", "b2", {"community": "c1"}),
                    ("households", "h1", {"building": "b1"}),
                    ("households", "h2", {"building": "b2"}),
                    ("tickets", "t1", {"household": "h1", "text": "门锁坏了"}),
                    ("tickets", "t2", {"household": "h2", "text": "漏水"}),
                    ("assignments", "p-vol~b1", {"person": "p-vol", "active": True}),
                ],
                1,
            )
            scope = await scopes.load_scope(db, VOL)
            rows, cursor, _, _, token = await scopes.pull(db, VOL, 0, 100, None, AT)
            out["pulled"] = {r[2] for r in rows if r[1] == "tickets"}
            out["visible"] = [await scopes.visible(db, scope, "tickets", t) for t in ("t1", "t2")]
            log = [(1, "tickets", "t1"), (2, "tickets", "t2")]
            out["live"] = [r[2] for r in await scopes.visible_rows(db, scope, log)]
            # The ticket moves to a household outside the scope: the phone deletes it.
            await write([("tickets", "t1", {"household": "h2"})], 2)
            _, _, _, evict, _ = await scopes.pull(db, VOL, cursor, 100, token, AT)
            out["evicted"] = evict
            out["scope"] = scope
        return out

    out = run_async(body())
    assert out["pulled"] == {"t1"}
    assert out["visible"] == [True, False]
    assert out["live"] == ["t1"]
    assert out["evicted"] == [("tickets", "t1")]
    # The write rule follows too: a volunteer writes tickets of their households only.
    scope = out["scope"]
    may_write(scope, "tickets", "t1", "text", "修好了", Facts({"h1"}))
    with pytest.raises(ForbiddenError, match="household outside your assigned buildings"):
        may_write(scope, "tickets", "t2", "text", "修好了", Facts({"h2"}))
    assert access.anchors()["tickets"] == "household"


def test_the_python_rule_and_the_sql_filter_agree_on_every_record_of_the_demo(
    fresh_db: str,
) -> None:
    """``access.readable`` (Python, from the table) and the SQL made from the same table
    keep the same records, for a coordinator and for volunteers of every kind."""
    load_demo(fresh_db)

    async def body() -> list[tuple[str, list, list]]:
        async with open_database(fresh_db) as db:
            rows = await db.select("SELECT coll, id, field, value FROM winners ORDER BY coll, id")
            records: dict[tuple[str, str], dict] = {}
            for coll, rid, fld, value in rows:
                records.setdefault((coll, rid), {})[fld] = scopes._value(value)
            # Volunteers of every kind, and records reached by every way of the table.
            bs = sorted(i for c, i in records if c == "buildings")
            incs = sorted(i for c, i in records if c == "incidents")
            hs = sorted(i for c, i in records if c == "households")
            communities = sorted(i for c, i in records if c == "communities")
            await changes.write_records(
                db,
                [
                    ("assignments", f"v-b~{bs[0]}", {"person": "v-b", "active": True}),
                    ("assignments", f"v-b~{bs[1]}", {"person": "v-b", "active": False}),
                    ("assignments", f"v-i~{incs[0]}", {"incident": incs[0], "active": True}),
                    ("assignments", f"v-h~{hs[0]}", {"household": hs[0], "active": True}),
                    ("household_status", f"{incs[0]}~{hs[0]}", {"restored": False}),
                    ("household_status", f"{incs[1]}~{hs[-1]}", {"restored": True}),
                    ("checks", f"{incs[0]}~x", {"verdict": "ok"}),
                    ("checks", f"{incs[1]}~y", {"verdict": "ok"}),
                    ("reports", "r1", {"reporter": "v-b", "community": communities[0]}),
                    ("reports", "r2", {"reporter": "v-i", "community": communities[-1]}),
                ],
                at=T0,
            )
            rows = await db.select("SELECT coll, id, field, value FROM winners ORDER BY coll, id")
            for coll, rid, fld, value in rows:
                records.setdefault((coll, rid), {})[fld] = scopes._value(value)
            volunteers = ["v-b", "v-i", "v-h", "v-none"]
            every = [await scopes.community_scope(db, c) for c in communities]
            for person in volunteers:
                every.append(await scopes.load_scope(db, Device("n", person, "volunteer", False)))
            out = []
            for scope in every:
                person = scope.person or scope.community
                log = [(0, c, i) for c, i in records]
                sql = sorted((r[1], r[2]) for r in await scopes.visible_rows(db, scope, log))
                python = sorted(k for k, f in records.items() if access.readable(scope, *k, f))
                out.append((person, sql, python))
            return out

    checked = run_async(body())
    assert checked, "the demo has people to check"
    for person, sql, python in checked:
        assert sql == python, person
        assert sql, person


@pytest.mark.parametrize(
    ("coll", "fld", "moves"),
    [
        ("assignments", "active", True),
        ("incidents", "buildings", True),
        ("buildings", "community", True),
        ("households", "building", True),
        ("households", "contact", False),
        ("visits", "household", False),  # the visit alone: the rules of pulls judge it
        ("updates", "public", False),
    ],
)
def test_the_writes_that_move_scopes_come_from_the_table(coll: str, fld: str, moves: bool) -> None:
    assert access.rescopes(coll, fld) is moves
