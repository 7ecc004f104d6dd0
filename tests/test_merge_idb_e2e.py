"""The shared merge vectors against the code that ships on the phone: IdbStore.commit
(IndexedDB putIfNewer in one transaction) and the replica it feeds, in Chromium — and
again after reopening the database, as after a reload."""

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import LiveServer

pytestmark = pytest.mark.browser

VECTORS = json.loads((Path(__file__).parent / "vectors" / "merge.json").read_text("utf-8"))

RUN = """async (vectors) => {
  const { IdbStore } = await import('/js/sync/idb-store.js');
  const orders = (cs) => [[cs], [[...cs].reverse()], [...cs].reverse().map((c) => [c]),
                          [...cs.map((c) => [c, c]), cs]];
  const dump = (store) => new Promise((res) => {
    const r = store.db.transaction('fields').objectStore('fields').getAll();
    r.onsuccess = () => res(r.result.map((c) => [c.coll, c.id, c.field, c.hlc, c.value]));
  });
  const recs = (store, c) => c.records.map((r) => {
    const rec = store.replica.get(r.coll, r.id);
    if (!rec) return null;
    const { id, ...fields } = rec;
    return fields;
  });
  const out = [];
  for (const [i, c] of vectors.entries()) {
    for (const [k, order] of orders(c.changes).entries()) {
      const name = `vectors-${i}-${k}`;
      let store = await IdbStore.open(name);
      for (const pulled of order) {
        const page = { accepted: [], rejected: [], pulled, cursor: 0, offset: null, at: 'x' };
        await store.commit(page);
      }
      const live = recs(store, c);
      store.db.close();
      store = await IdbStore.open(name);  // a reload: the replica rebuilt from IndexedDB
      out.push({ i, k, fields: await dump(store), live, reloaded: recs(store, c) });
      store.db.close();
      indexedDB.deleteDatabase(name);
    }
  }
  return out;
}"""


def test_phone_store_merges_and_folds_every_vector(browser: Any, empty_server: LiveServer) -> None:
    context = browser.new_context(bypass_csp=True)
    page = context.new_page()
    page.goto(f"{empty_server.url}/login.html")
    # Vectors whose stamps repeat across fields stay with the pure merge (see
    # tests/test_merge_store.py); the phone, like the server, keys the outbox by stamp.
    cases = [
        c
        for c in VECTORS
        if len({x["hlc"] for x in c["changes"]}) == len(c["changes"])
        or c["name"] == "the same stamp twice is a no-op"
    ]
    results = page.evaluate(RUN, cases)
    context.close()
    assert len(results) == 4 * len(cases)
    for res in results:
        case = cases[res["i"]]
        winners = {
            (w["coll"], w["id"], w["field"]): (w["hlc"], w["value"]) for w in case["winners"]
        }
        got = {(c, i, f): (h, v) for c, i, f, h, v in res["fields"]}
        assert got == winners, (case["name"], res["k"])
        expected = [r["fields"] for r in case["records"]]
        assert res["live"] == expected, (case["name"], res["k"])
        assert res["reloaded"] == expected, (case["name"], res["k"])
