// Pure outbox logic: stamping, re-stamping, reading answers, the rescue export.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { stampEdits, restamp, settle, measureOffset, observe, exportBundle, clockTooFarAhead, toWire } from '../../pwa/js/sync/outbox.js';
import { initial, parse, stampMillis, MAX_DRIFT_MS, formatStamp } from '../../pwa/js/sync/clock.js';
import { uuidv7 } from '../../pwa/js/shared/uuidv7.js';

const NODE = '9f3a2b1c4d5e6f70';
const OTHER = '0123456789abcdef';
const T = Date.parse('2026-11-22T14:05:15.123Z');
const edit = (field, value) => ({ coll: 'visits', id: 'v1', field, value });

test('every edited field becomes one change with a unique increasing stamp', () => {
  const { clock, changes } = stampEdits(initial(NODE), T, [edit('outcome', 'reached'), edit('needs', ['heater']), edit('at', 'x')]);
  assert.equal(changes.length, 3);
  assert.deepEqual(changes.map((c) => c.field), ['outcome', 'needs', 'at']);
  const stamps = changes.map((c) => c.hlc);
  assert.deepEqual([...stamps].sort(), stamps);
  assert.equal(new Set(stamps).size, 3);
  assert.equal(stamps[0], '2026-11-22T14:05:15.123Z-0000-9f3a2b1c4d5e6f70');
  assert.equal(formatStamp(clock), stamps[2]);
  for (const c of changes) assert.deepEqual(Object.keys(c), ['coll', 'id', 'field', 'value', 'hlc']);
});

test('a clock that ran far ahead is pulled back to now instead of refusing to stamp', () => {
  const ahead = { millis: T + MAX_DRIFT_MS + 60_000, counter: 3, node: NODE };
  assert.ok(clockTooFarAhead(ahead, T));
  const { changes } = stampEdits(ahead, T, [edit('outcome', 'reached')]);
  assert.equal(stampMillis(changes[0].hlc), T);
});

test('re-stamping keeps the original order and brings stamps back to now', () => {
  const future = T + 20 * 60_000;
  const { clock, changes } = stampEdits(initial(NODE), future, [edit('outcome', 'reached'), edit('note', 'a'), edit('note', 'b')]);
  const shuffled = [changes[2], changes[0], changes[1]];
  const { pairs } = restamp(clock, T, shuffled);
  assert.deepEqual(pairs.map(([o]) => o.hlc), changes.map((c) => c.hlc));
  const fresh = pairs.map(([, n]) => n);
  assert.deepEqual(fresh.map((c) => c.value), ['reached', 'a', 'b']);
  for (const c of fresh) assert.ok(stampMillis(c.hlc) - T <= 5, c.hlc);
  assert.deepEqual([...fresh.map((c) => c.hlc)].sort(), fresh.map((c) => c.hlc));
});

test('settle: unlisted changes are accepted, rejections split into clock_ahead and kept', () => {
  const { changes } = stampEdits(initial(NODE), T, [edit('outcome', 'reached'), edit('outcome', 'bogus'), edit('note', 'x')]);
  const answer = { rejected: [
    { hlc: changes[1].hlc, index: 1, error: 'invalid_value', message: 'bad outcome' },
    { hlc: changes[2].hlc, index: 2, error: 'clock_ahead', message: 'ahead' },
  ] };
  const s = settle(changes, answer);
  assert.deepEqual(s.accepted, [changes[0].hlc]);
  assert.equal(s.rejected.length, 1);
  assert.deepEqual(s.rejected[0], { change: changes[1], error: 'invalid_value', message: 'bad outcome' });
  assert.deepEqual(s.clockAhead, [changes[2]]);
});

test('settle trusts hlc when a rejection index does not match', () => {
  const { changes } = stampEdits(initial(NODE), T, [edit('a', 1), edit('b', 2)]);
  const s = settle(changes, { rejected: [{ hlc: changes[1].hlc, index: 0, error: 'unknown_field', message: 'm' }] });
  assert.deepEqual(s.accepted, [changes[0].hlc]);
  assert.equal(s.rejected[0].change.hlc, changes[1].hlc);
});

test('settle reports rejections it cannot match instead of dropping anything', () => {
  const { changes } = stampEdits(initial(NODE), T, [edit('a', 1)]);
  const s = settle(changes, { rejected: [{ hlc: null, index: 7, error: 'malformed_change', message: 'm' }] });
  assert.deepEqual(s.accepted, [changes[0].hlc]);
  assert.equal(s.unknown.length, 1);
});

test('offset is measured from the middle of the round trip', () => {
  assert.equal(measureOffset('2026-11-22T14:05:15.123Z', T - 600_000 - 100, T - 600_000 + 100), 600_000);
  assert.equal(measureOffset('not a time', 0, 1), null);
});

test('observe moves the clock past remote stamps but ignores our own echoes', () => {
  const clock = initial(NODE);
  const remote = { coll: 'x', id: 'y', field: 'z', value: 1, hlc: `2026-11-22T14:06:00.000Z-0004-${OTHER}` };
  const own = { ...remote, hlc: `2026-11-22T15:00:00.000Z-0000-${NODE}` };
  const next = observe(clock, T, [remote, own]);
  assert.equal(next.millis, parse(remote.hlc).millis);
  assert.equal(next.counter, 5);
  assert.equal(observe(clock, T, [own]), clock);
});

test('observe skips a remote stamp far ahead but raises a counter overflow', () => {
  const clock = initial(NODE);
  const far = { coll: 'x', id: 'y', field: 'z', value: 1, hlc: `2027-11-22T14:06:00.000Z-0000-${OTHER}` };
  assert.equal(observe(clock, T, [far]), clock);
  const atT = new Date(T).toISOString();
  const full = { ...far, hlc: `${atT}-ffff-${OTHER}` };
  assert.throws(() => observe(clock, T, [full]), (err) => err.code === 'counter_overflow');
});

test('the rescue export holds unsent and rejected changes in wire form', () => {
  const { changes } = stampEdits(initial(NODE), T, [edit('outcome', 'reached'), edit('outcome', 'zzz')]);
  const bundle = exportBundle({
    outbox: [{ ...changes[0], extra: 1 }], rejected: [{ change: changes[1], error: 'invalid_value', message: 'm', at: 5 }],
    node: NODE, person: 'p', at: 'now',
  });
  assert.equal(bundle.format, 'doorstep-unsent/1');
  assert.deepEqual(bundle.changes, [toWire(changes[0])]);
  assert.equal(bundle.rejected[0].error, 'invalid_value');
  assert.equal(bundle.rejected[0].hlc, changes[1].hlc);
});

test('uuidv7 ids have version 7, the variant bits, and sort by time', () => {
  const a = uuidv7(T);
  const b = uuidv7(T + 1);
  assert.match(a, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.ok(a < b);
  assert.equal(parseInt(a.replace(/-/g, '').slice(0, 12), 16), T);
  assert.match(a, /^[A-Za-z0-9_~-]{1,100}$/);
});
