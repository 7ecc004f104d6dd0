"""The server's shipped merge — ``server.db.changes.apply_in``, in one appending write
transaction as a sync request runs it — runs the shared merge vectors
(tests/vectors/merge.json) on both engines: in the given order, reversed, one change per
transaction and all in one, with every change sent twice where the vector allows it."""

import json
from pathlib import Path
from typing import Any

import msgspec
import pytest
from conftest import database_on, drop_database, run_async

from server.db import AnyDatabase, changes, open_database

VECTORS = json.loads((Path(__file__).parent / "vectors" / "merge.json").read_text("utf-8"))


def _row(c: dict) -> changes.Incoming:
    value = msgspec.json.encode(c["value"]).decode()
    return (c["hlc"], c["coll"], c["id"], c["field"], value, c["hlc"][30:], None, "t")


async def _winners(d: AnyDatabase, batches: list[list[dict]]) -> list[dict]:
    """The winners after ``batches``, each in one transaction, on an emptied log."""

    def empty(conn: Any) -> None:
        conn.execute("DELETE FROM winners")
        conn.execute("DELETE FROM history")

    await d.write_tx(empty)
    for batch in batches:
        rows = [_row(c) for c in batch]
        await d.write_tx(lambda conn, rows=rows: changes.apply_in(conn, rows), appends=True)
    got = await d.select("SELECT coll, id, field, value, hlc FROM winners")
    return sorted(
        (
            {"coll": c, "id": i, "field": f, "value": json.loads(v), "hlc": h}
            for c, i, f, v, h in got
        ),
        key=lambda w: (w["coll"], w["id"], w["field"]),
    )


@pytest.fixture(scope="module")
def engine(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """One database of each engine for the module (each vector empties its log first)."""
    if backend == "sqlite":
        yield str(tmp_path_factory.mktemp("merge") / "merge.db")
        return
    url = database_on(backend, "")
    yield url
    drop_database(url)


def _orders(vector: dict) -> list[list[dict]]:
    cs = vector["changes"]
    out = [cs]
    if vector.get("permute"):
        out.append(list(reversed(cs)))
    if vector.get("duplicate"):
        out.append(cs + cs)
    return out


#: Vectors the SQL merge does not pass yet. This one stamps changes of *different* fields
#: with the same stamp; the server keys its history by stamp (a stamp names one change),
#: so the second is taken for a re-send and dropped. Devices never reuse a stamp, but the
#: reference merge and the shipped one disagree here: to be settled with the SQL merge
#: work (issue 11).
#: Vectors the SQL merge is known to answer differently (none: a stamp names one change,
#: so a vector that reused one across fields was fixed instead).
KNOWN_DIVERGENT: set[str] = set()


def _param(v: dict) -> object:
    marks = (
        [pytest.mark.xfail(reason="stamp reused across fields", strict=True)]
        if v["name"] in KNOWN_DIVERGENT
        else []
    )
    return pytest.param(v, id=v["name"], marks=marks)


@pytest.mark.parametrize("vector", [_param(v) for v in VECTORS])
def test_sql_merge_runs_the_shared_vectors(vector: dict, engine: str) -> None:
    want = sorted(vector["winners"], key=lambda w: (w["coll"], w["id"], w["field"]))

    async def main() -> None:
        async with open_database(engine) as d:
            for order in _orders(vector):
                assert await _winners(d, [[c] for c in order]) == want, order
                assert await _winners(d, [order]) == want, order

    run_async(main())
