// The dashboard's first load (#12): a snapshot's records flatten to field changes, and
// sort as IndexedDB orders their [coll, id, field] keys (one getAll per chunk relies on it).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { snapshotChanges, byKey, adoptSnapshot } from '../../pwa/js/sync/snapshot.js';

const snap = {
  records: [
    ['households', 'h2', [['room', '101', 's1'], ['building', 'b1', 's2']]],
    ['buildings', 'b1', [['label', '1号楼', 's3']]],
    ['households', 'h1', [['room', '102', 's4']]],
    ['households', 'h', [['zz', 1, 's5']]],
  ],
  cursor: 9, more: false, scope: null, server_time: '2026-11-30T00:00:00.000Z',
};

test('a snapshot flattens to one change per field', () => {
  const changes = snapshotChanges(snap);
  assert.equal(changes.length, 5);
  assert.deepEqual(changes[0], { coll: 'households', id: 'h2', field: 'room', value: '101', hlc: 's1' });
});

/** IndexedDB's order of array keys of strings: part by part, code unit by code unit. */
function idbOrder(a, b) {
  for (const k of ['coll', 'id', 'field']) {
    if (a[k] !== b[k]) return a[k] < b[k] ? -1 : 1;
  }
  return 0;
}

test('snapshot changes sort as IndexedDB orders their keys', () => {
  const got = byKey(snapshotChanges(snap)).map((c) => `${c.coll}/${c.id}/${c.field}`);
  const want = snapshotChanges(snap).sort(idbOrder).map((c) => `${c.coll}/${c.id}/${c.field}`);
  assert.deepEqual(got, want);
  // A shorter id sorts before a longer one it prefixes, whatever its fields are called.
  assert.deepEqual(got.slice(1, 3), ['households/h/zz', 'households/h1/room']);
});

/** Just enough of IndexedDB for storeChunk: every getAll finds nothing, puts are counted. */
function fakeDb(puts) {
  globalThis.IDBKeyRange ??= { bound: (a, b) => [a, b] };
  return {
    transaction() {
      const tx = {};
      const fields = {
        getAll() { const r = {}; queueMicrotask(() => { r.result = []; r.onsuccess(); queueMicrotask(() => tx.oncomplete()); }); return r; },
        put(c) { puts.push(c); },
      };
      tx.objectStore = () => fields;
      return tx;
    },
  };
}

test('an incident head can render before the rest of the snapshot is merged', async () => {
  const applied = [];
  const puts = [];
  let synced = null;
  const store = {
    db: fakeDb(puts),
    now: () => 0,
    replica: { applyAll: (part) => { for (const c of part) applied.push(`${c.coll}/${c.id}`); return part.length; } },
    markSynced: async (m) => { synced = m; },
  };
  const many = Array.from({ length: 70 }, (_, i) => ['households', `h${i}`, [['room', String(i), `s${i}`]]]);
  const seen = {};
  const won = await adoptSnapshot(store, { records: [...many, ['incidents', 'i1', [['title', 'x', 't1']]]], cursor: 7, scope: 'k' }, {
    onHead: () => { seen.head = [...applied]; },
    onShown: () => { seen.shown = applied.length; },
  });
  // The incident first, alone; all of it before the screens render it whole.
  assert.deepEqual(seen.head, ['incidents/i1']);
  assert.equal(seen.shown, 71);
  assert.equal(won, 71);
  // Then stored (every field, nothing newer was held), then the cursor.
  assert.equal(puts.length, 71);
  assert.equal(synced.cursor, 7);
  assert.equal(synced.scope, 'k');
});
