// The dashboard's first load (#12): a snapshot's records flatten to field changes, and
// sort as IndexedDB orders their [coll, id, field] keys (one getAll per chunk relies on it).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { snapshotChanges, byKey } from '../../pwa/js/sync/snapshot.js';

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
