// The JS last-writer-wins merge against the vectors the Python tests run (tests/vectors).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';

import { apply, keyOf, merge, recordKey, records, winnersEqual } from '../../pwa/js/sync/merge.js';

const VECTORS = JSON.parse(readFileSync(new URL('../vectors/merge.json', import.meta.url), 'utf8'));

function permutations(items) {
  if (items.length <= 1) return [items];
  return items.flatMap((item, i) =>
    permutations([...items.slice(0, i), ...items.slice(i + 1)]).map((rest) => [item, ...rest]),
  );
}

/** Every arrival order the case asks for: all permutations, each also duplicated. */
function deliveries(c) {
  let orders = c.permute ? permutations(c.changes) : [c.changes];
  if (c.duplicate) {
    orders = [
      ...orders,
      ...orders.map((p) => [...p, ...[...p].reverse()]),
      ...orders.map((p) => p.flatMap((x) => [x, x])),
    ];
  }
  return orders;
}

const winnersOf = (state) => new Map([...state].map(([k, c]) => [k, [c.hlc, c.value]]));
const expectedWinners = (c) => new Map(c.winners.map((w) => [keyOf(w), [w.hlc, w.value]]));
const expectedRecords = (c) => new Map(c.records.map((r) => [recordKey(r.coll, r.id), r.fields]));

for (const c of VECTORS) {
  test(`vector: ${c.name}`, () => {
    const state = new Map();
    assert.deepEqual(
      c.changes.map((x) => apply(state, x)),
      c.applied,
    );
    assert.deepEqual(winnersOf(state), expectedWinners(c));
    assert.deepEqual(records(state), expectedRecords(c));
    for (const order of deliveries(c)) {
      const merged = merge(new Map(), order);
      assert.deepEqual(winnersOf(merged), expectedWinners(c));
      assert.deepEqual(records(merged), expectedRecords(c));
      assert.ok(winnersEqual(merged, state));
    }
  });
}

test('merge vectors cover the promised cases', () => {
  assert.ok(VECTORS.length >= 20);
  assert.equal(new Set(VECTORS.map((c) => c.name)).size, VECTORS.length);
  assert.ok(VECTORS.every((c) => c.changes.length <= 6 && c.permute && c.duplicate));
  const all = VECTORS.flatMap((c) => c.changes);
  assert.ok(all.some((x) => x.field === '_deleted'));
  assert.ok(all.some((x) => x.value === null));
  assert.ok(all.some((x) => Array.isArray(x.value)));
});

test('merge leaves its input state untouched', () => {
  const c = VECTORS.find((v) => v.changes.length >= 3);
  const half = merge(new Map(), c.changes.slice(0, 1));
  const snapshot = new Map(half);
  merge(half, c.changes);
  assert.deepEqual(half, snapshot);
});

test('keys separate coll, id and field with NUL', () => {
  assert.equal(keyOf({ coll: 'visits', id: 'a~b', field: 'note' }), 'visits\u0000a~b\u0000note');
  assert.equal(recordKey('visits', 'a~b'), 'visits\u0000a~b');
});

test('a field named __proto__ stays an ordinary field of its record', () => {
  const hlc = '2026-11-22T14:05:15.123Z-0000-9f3a2b1c4d5e6f70';
  const state = merge(new Map(), [{ coll: 'v', id: 'a', field: '__proto__', value: { x: 1 }, hlc }]);
  const record = records(state).get(recordKey('v', 'a'));
  assert.equal(Object.getPrototypeOf(record), Object.prototype);
  assert.deepEqual(Object.keys(record), ['__proto__']);
});

test('winnersEqual compares keys, stamps and values', () => {
  const h1 = '2026-11-22T14:05:15.001Z-0000-9f3a2b1c4d5e6f70';
  const h2 = '2026-11-22T14:05:15.002Z-0000-9f3a2b1c4d5e6f70';
  const base = merge(new Map(), [{ coll: 'v', id: 'a', field: 'f', value: [1], hlc: h1 }]);
  const other = (change) => merge(new Map(), [change]);
  assert.ok(winnersEqual(base, other({ coll: 'v', id: 'a', field: 'f', value: [1], hlc: h1 })));
  assert.ok(!winnersEqual(base, other({ coll: 'v', id: 'a', field: 'f', value: [1], hlc: h2 })));
  assert.ok(!winnersEqual(base, other({ coll: 'v', id: 'a', field: 'f', value: [2], hlc: h1 })));
  assert.ok(!winnersEqual(base, other({ coll: 'v', id: 'a', field: 'g', value: [1], hlc: h1 })));
  assert.ok(!winnersEqual(base, new Map()));
});

test('the set fields are the table the server uses (pwa/schema.json setFields)', async () => {
  const { SET_FIELDS } = await import('../../pwa/js/sync/sets.js');
  const schema = JSON.parse(readFileSync(new URL('../../pwa/schema.json', import.meta.url), 'utf8'));
  assert.deepEqual(
    Object.fromEntries(Object.entries(SET_FIELDS).map(([k, v]) => [k, [...v].sort()])),
    schema.setFields,
  );
});

test('the replica folds set fields as records() does, in every vector', async () => {
  const { Replica } = await import('../../pwa/js/sync/replica.js');
  for (const c of VECTORS) {
    for (const order of deliveries(c).slice(0, 6)) {
      const replica = new Replica();
      replica.applyAll(order);
      for (const r of c.records) {
        const { id, ...fields } = replica.get(r.coll, r.id);
        assert.equal(id, r.id);
        assert.deepEqual(fields, r.fields, `${c.name}: ${r.coll} ${r.id}`);
      }
    }
  }
});
