// The JS hybrid logical clock against the vectors the Python tests run (tests/vectors).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';

import * as clock from '../../pwa/js/sync/clock.js';

const {
  ClockDriftError,
  ClockError,
  CounterOverflowError,
  DuplicateNodeError,
  InvalidNodeError,
  MAX_COUNTER,
  MAX_DRIFT_MS,
  MalformedStampError,
  formatStamp,
  initial,
  parse,
  receive,
  send,
  stampMillis,
  stampNode,
} = clock;

const VECTORS = JSON.parse(readFileSync(new URL('../vectors/clock.json', import.meta.url), 'utf8'));
const ERRORS = {
  MalformedStampError,
  ClockDriftError,
  CounterOverflowError,
  DuplicateNodeError,
  InvalidNodeError,
};

function run(c) {
  switch (c.op) {
    case 'parse': {
      const { millis, counter, node } = parse(c.stamp);
      return { millis, counter, node };
    }
    case 'format':
      return formatStamp(c.ts);
    case 'initial':
      return formatStamp(initial(c.node));
    case 'send':
      return formatStamp(send(parse(c.clock), c.now, c.max_drift));
    case 'receive':
      return formatStamp(receive(parse(c.clock), parse(c.remote), c.now, c.max_drift));
    default:
      throw new Error(`unknown op ${c.op}`);
  }
}

for (const c of VECTORS) {
  if (c.op === 'order') {
    test(`vector: ${c.name}`, () => {
      const parsed = c.stamps.map(parse);
      assert.deepEqual([...c.stamps].sort(), c.stamps);
      for (let i = 1; i < parsed.length; i++) {
        const [a, b] = [parsed[i - 1], parsed[i]];
        const before =
          a.millis < b.millis ||
          (a.millis === b.millis &&
            (a.counter < b.counter || (a.counter === b.counter && a.node < b.node)));
        assert.ok(before, `${c.stamps[i - 1]} should sort before ${c.stamps[i]}`);
      }
    });
    continue;
  }
  test(`vector: ${c.name}`, () => {
    if (c.error !== undefined) {
      assert.throws(
        () => run(c),
        (err) => {
          assert.ok(err instanceof ERRORS[c.error], `expected ${c.error}, got ${err}`);
          assert.ok(err instanceof ClockError);
          assert.equal(err.name, c.error);
          assert.equal(err.message, c.message);
          assert.equal(err.code, c.code);
          if ('drift' in c) assert.equal(err.drift, c.drift);
          if ('limit' in c) assert.equal(err.limit, c.limit);
          return true;
        },
      );
    } else {
      assert.deepEqual(run(c), c.expect);
    }
  });
}

test('clock vectors cover every operation and error', () => {
  const names = new Set(VECTORS.map((c) => c.name));
  assert.equal(names.size, VECTORS.length);
  assert.ok(VECTORS.length >= 40);
  assert.deepEqual(
    new Set(VECTORS.map((c) => c.op)),
    new Set(['parse', 'format', 'initial', 'send', 'receive', 'order']),
  );
  assert.deepEqual(
    new Set(VECTORS.filter((c) => c.error).map((c) => c.error)),
    new Set(Object.keys(ERRORS)),
  );
});

// A seeded generator keeps the random checks reproducible.
function rng(seed) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const MIN_MILLIS = -62167219200000;
const MAX_MILLIS = 253402300799999;
const HEX = '0123456789abcdef';

function randomTimestamp(next) {
  const millis = MIN_MILLIS + Math.floor(next() * (MAX_MILLIS - MIN_MILLIS + 1));
  const counter = Math.floor(next() * (MAX_COUNTER + 1));
  let node = '';
  for (let i = 0; i < 16; i++) node += HEX[Math.floor(next() * 16)];
  return { millis, counter, node };
}

test('format then parse round-trips and agrees with Date for years 0000 to 9999', () => {
  const next = rng(1);
  for (let i = 0; i < 20000; i++) {
    const ts = randomTimestamp(next);
    const stamp = formatStamp(ts);
    assert.equal(stamp.length, 46);
    assert.deepEqual({ ...parse(stamp) }, ts);
    assert.equal(stampMillis(stamp), ts.millis);
    assert.equal(stampNode(stamp), ts.node);
    // toISOString writes years 0000..9999 with four digits; an independent oracle.
    assert.equal(stamp.slice(0, 24), new Date(ts.millis).toISOString());
  }
});

test('string order equals (millis, counter, node) order', () => {
  const next = rng(2);
  for (let i = 0; i < 20000; i++) {
    const a = randomTimestamp(next);
    const b = i % 3 === 0 ? { ...a, counter: Math.floor(next() * 3) } : randomTimestamp(next);
    const byFields =
      a.millis !== b.millis
        ? a.millis < b.millis
        : a.counter !== b.counter
          ? a.counter < b.counter
          : a.node < b.node;
    assert.equal(formatStamp(a) < formatStamp(b), byFields);
  }
});

test('send stamps strictly increase whatever the wall clock does', () => {
  const next = rng(3);
  let state = initial('9f3a2b1c4d5e6f70');
  let previous = formatStamp(state);
  let now = 1795356315123;
  for (let i = 0; i < 5000; i++) {
    now += Math.floor(next() * 200) - 100;
    state = send(state, now);
    const stamp = formatStamp(state);
    assert.ok(stamp > previous, `${stamp} should be after ${previous}`);
    previous = stamp;
  }
});

test('a timestamp is a frozen value', () => {
  const ts = initial('9f3a2b1c4d5e6f70');
  assert.ok(Object.isFrozen(ts));
  assert.ok(Object.isFrozen(send(ts, 10)));
  assert.deepEqual({ ...send(ts, 10) }, { millis: 10, counter: 0, node: '9f3a2b1c4d5e6f70' });
  assert.equal(ts.millis, 0);
});

test('the default max drift is five minutes', () => {
  assert.equal(MAX_DRIFT_MS, 300000);
  const ts = { millis: 1000 + MAX_DRIFT_MS, counter: 0, node: '9f3a2b1c4d5e6f70' };
  assert.equal(send(ts, 1000).millis, 1000 + MAX_DRIFT_MS);
  assert.throws(() => send(ts, 999), ClockDriftError);
});
