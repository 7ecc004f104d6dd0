"""The demo community matches the seed stories and is valid data."""

import sqlite3
from collections import Counter

import pytest
from conftest import run_cli

from server.ops.demo import HEATING, WATER, demo_records
from sync.validate import check_change


def test_every_demo_field_passes_validation() -> None:
    for coll, rid, fields in demo_records():
        for name, value in fields.items():
            check_change(coll, rid, name, value)


def test_demo_has_741_heating_and_244_water_households() -> None:
    recs = demo_records()
    incidents = {rid: f for c, rid, f in recs if c == "incidents"}
    households = [f for c, _, f in recs if c == "households"]
    per_building = Counter(f["building"] for f in households)
    assert sum(per_building[b] for b in incidents[HEATING]["buildings"]) == 741
    assert sum(per_building[b] for b in incidents[WATER]["buildings"]) == 244
    units = {
        (f["building"], f["unit"])
        for f in households
        if f["building"] in incidents[WATER]["buildings"]
    }
    assert len(units) == 8
    vulnerable = Counter(v for f in households for v in f["vulnerable"])
    assert vulnerable["lone_elderly"] > 20 and vulnerable["empty_nest"] > 20
    assert len({f["room"] + f["unit"] + f["building"] for f in households}) == len(households)


@pytest.mark.sqlite_only(reason="reads the SQLite file with sqlite3")
def test_demo_command_loads_once_into_the_winners(fresh_db: str) -> None:
    run_cli("demo", "--db", fresh_db)
    run_cli("demo", "--db", fresh_db)  # idempotent: a second run changes nothing
    conn = sqlite3.connect(fresh_db)
    (n,) = conn.execute(
        "SELECT count(*) FROM winners WHERE coll = 'households' AND field = 'building'"
    ).fetchone()
    assert n == 741 + 244
    (h,) = conn.execute("SELECT count(*) FROM history").fetchone()
    (w,) = conn.execute("SELECT count(*) FROM winners").fetchone()
    assert h == w
