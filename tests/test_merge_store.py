"""The shared merge vectors against the code that ships on the server: the SQL upsert of
``server.db.changes.apply_in`` and the read-side fold of set fields (``server.db.log.fold_rows``).

The phone's side (IndexedDB ``putIfNewer`` + replica) runs the same vectors in Chromium:
tests/test_merge_idb_e2e.py.
"""

import json
from pathlib import Path
from typing import Any

import pytest

from server.db import Database, changes, run
from server.db.log import fold_rows

VECTORS = json.loads((Path(__file__).parent / "vectors" / "merge.json").read_text("utf-8"))


def orders(changes: list[dict]) -> list[tuple[str, list[list[dict]]]]:
    """A few arrival orders, each as a list of sync batches."""
    return [
        ("one batch", [changes]),
        ("one batch reversed", [changes[::-1]]),
        ("one per request, reversed", [[c] for c in changes[::-1]]),
        ("each twice, then all again", [[c, c] for c in changes] + [changes]),
    ]


async def _through_store(db: Database, batches: list[list[dict]]) -> list[tuple]:
    for batch in batches:
        rows = [
            (
                c["hlc"],
                c["coll"],
                c["id"],
                c["field"],
                json.dumps(c["value"]),
                c["hlc"][-16:],
                None,
                "2026-11-22T00:00:00.000Z",
            )
            for c in batch
        ]
        await db.write_tx(lambda conn, rows=rows: changes.apply_in(conn, rows), appends=True)
    return await db.select("SELECT coll, id, field, value, hlc FROM winners")


@pytest.mark.parametrize("case", VECTORS, ids=[c["name"] for c in VECTORS])
def test_server_store_merges_and_folds_every_vector(case: dict[str, Any], tmp_path: Path) -> None:
    stamps = [c["hlc"] for c in case["changes"]]
    if len(set(stamps)) < len(stamps) and case["name"] != "the same stamp twice is a no-op":
        # One stamp on several fields: the server's history keeps one change per stamp
        # (docs/protocol.md: a stamp identifies its change), so this vector is for the
        # pure merge only.
        pytest.skip("one stamp on several fields is outside the protocol")
    expected_winners = {
        (w["coll"], w["id"], w["field"]): (w["hlc"], w["value"]) for w in case["winners"]
    }
    expected_records = {(r["coll"], r["id"]): r["fields"] for r in case["records"]}
    for n, (how, batches) in enumerate(orders(case["changes"])):
        # server.db.run works inside a running loop too (after Playwright in one session).
        rows = run(str(tmp_path / f"{n}.db"), lambda db, b=batches: _through_store(db, b))
        winners = {(c, i, f): (h, json.loads(v)) for c, i, f, v, h in rows}
        assert winners == expected_winners, how
        records: dict[tuple[str, str], dict] = {}
        for coll in {c for c, _, _ in winners}:
            folded = fold_rows(coll, [(i, f, v, h) for c, i, f, v, h in rows if c == coll])
            for rid, fields in folded.items():
                if fields.get("_deleted") is not True:
                    records[(coll, rid)] = fields
        assert records == expected_records, how
