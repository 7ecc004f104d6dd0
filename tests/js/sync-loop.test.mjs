// The sync loop's decisions, driven against an in-memory store and server (support/).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { syncCycle, SyncLoop, nextDelay, AuthLostError, IDLE_MS, MAX_MS, BASE_MS } from '../../pwa/js/sync/loop.js';
import { stampMillis } from '../../pwa/js/sync/clock.js';
import { ApiError } from '../../pwa/js/shared/api.js';
import { MemoryStore, FakeServer } from './support/fake-sync.mjs';

const NODE = '9f3a2b1c4d5e6f70';
const OTHER = '0123456789abcdef';
const T = Date.parse('2026-11-22T14:05:15.123Z');

function setup({ deviceSkew = 0 } = {}) {
  const server = new FakeServer({ now: () => T });
  const store = new MemoryStore(NODE, { now: () => T + deviceSkew });
  const deps = { store, send: (body) => server.sync(body), now: () => T + deviceSkew };
  return { server, store, deps };
}
const visit = (i, outcome = 'reached') => [
  { coll: 'visits', id: `v${i}`, field: 'outcome', value: outcome },
  { coll: 'visits', id: `v${i}`, field: 'household', value: `h${i}` },
];
function seedOther(server, n) {
  for (let i = 0; i < n; i++) {
    const ms = new Date(T - 60_000 + i).toISOString();
    server.seed({ coll: 'households', id: `h${i}`, field: 'room', value: `${100 + i}`, hlc: `${ms}-0000-${OTHER}` });
  }
}

test('the outbox is pushed in batches until empty, and everything reaches the server', async () => {
  const { server, store, deps } = setup();
  for (let i = 0; i < 5; i++) await store.write(visit(i));
  const summary = await syncCycle({ ...deps, batch: 3 });
  assert.equal(await store.pendingCount(), 0);
  assert.equal(summary.pushed, 10);
  assert.deepEqual(server.requests.map((r) => r.changes.length), [3, 3, 3, 1]);
  assert.equal(server.winners.size, 10);
});

test('pulls page through `more` and the cursor ends at the last page', async () => {
  const { server, store, deps } = setup();
  seedOther(server, 25);
  const summary = await syncCycle({ ...deps, limit: 10 });
  assert.equal(summary.pages, 3);
  assert.equal(summary.pulled, 25);
  assert.equal(store.meta.cursor, 25);
  assert.equal(store.replica.all('households').length, 25);
  assert.deepEqual(server.requests.map((r) => r.cursor), [0, 10, 20]);
});

test('a failed local commit leaves the cursor where it was, so nothing is skipped', async () => {
  const { server, store, deps } = setup();
  seedOther(server, 25);
  let n = 0;
  store.failCommit = () => ++n === 2;
  await assert.rejects(syncCycle({ ...deps, limit: 10 }), /disk full/);
  assert.equal(store.meta.cursor, 10);
  store.failCommit = null;
  await syncCycle({ ...deps, limit: 10 });
  assert.equal(store.replica.all('households').length, 25);
  assert.deepEqual(server.requests.map((r) => r.cursor), [0, 10, 10, 20]);
});

test('no answer means no loss: the same changes are sent again', async () => {
  const { server, store, deps } = setup();
  for (let i = 0; i < 3; i++) await store.write(visit(i));
  server.failNext = 1;
  await assert.rejects(syncCycle(deps), { name: 'NetworkError' });
  assert.equal(await store.pendingCount(), 6);
  await syncCycle(deps);
  assert.equal(await store.pendingCount(), 0);
  assert.deepEqual(server.requests[0].changes, server.requests[1].changes);
});

test('a rejected change is set aside with its reason and does not block the others', async () => {
  const { server, store, deps } = setup();
  await store.write(visit(1));
  await store.write(visit(2, 'exploded'));
  await store.write(visit(3));
  const summary = await syncCycle(deps);
  assert.equal(await store.pendingCount(), 0);
  assert.equal(summary.rejected, 1);
  const [r] = store.rejected.values();
  assert.equal(r.error, 'invalid_value');
  assert.equal(r.change.value, 'exploded');
  assert.match(r.message, /must be one of/);
  assert.equal(server.winners.size, 5);
});

test('clock_ahead: the offset is corrected, unsent changes re-stamped and accepted', async () => {
  const { server, store, deps } = setup({ deviceSkew: 20 * 60_000 });
  await store.write(visit(1));
  await store.write(visit(2));
  const summary = await syncCycle(deps);
  assert.equal(summary.restamped, 4);
  assert.equal(await store.pendingCount(), 0);
  assert.equal(store.rejected.size, 0);
  assert.equal(server.winners.size, 4);
  for (const { change } of server.winners.values()) assert.ok(stampMillis(change.hlc) - T < 1000, change.hlc);
  assert.ok(Math.abs(store.meta.offset + 20 * 60_000) < 10);
  // The local replica holds the re-stamped winners, not the refused ones.
  assert.ok(stampMillis(store.replica.winner('visits', 'v1', 'outcome').hlc) - T < 1000);
});

test('413 halves the batch instead of failing forever', async () => {
  const { server, store, deps } = setup();
  for (let i = 0; i < 4; i++) await store.write(visit(i));
  const send = async (body) => {
    if (body.changes.length > 2) throw new ApiError(413, { error: 'too_many_changes', message: 'too many' });
    return server.sync(body);
  };
  await syncCycle({ ...deps, send, batch: 8 });
  assert.equal(await store.pendingCount(), 0);
});

test('401 stops the cycle as lost authorisation, flagging revocation', async () => {
  const { server, store, deps } = setup();
  await store.write(visit(1));
  server.status = { status: 401, body: { error: 'revoked', message: 'wipe' } };
  const err = await syncCycle(deps).catch((e) => e);
  assert.ok(err instanceof AuthLostError);
  assert.equal(err.revoked, true);
  assert.equal(await store.pendingCount(), 2);
});

test('backoff grows, is capped, and never gives up', () => {
  const mid = () => 0.5;
  assert.equal(nextDelay(0, mid), IDLE_MS);
  assert.equal(nextDelay(1, () => 1), BASE_MS);
  assert.ok(nextDelay(2, () => 1) > nextDelay(1, () => 1));
  for (const f of [10, 100, 1e6, Infinity]) {
    const d = nextDelay(f, () => 1);
    assert.ok(Number.isFinite(d) && d > 0 && d <= MAX_MS, `${f} → ${d}`);
  }
});

function fakeTimers() {
  const pending = [];
  return {
    pending,
    set: (fn, ms) => { pending.push({ fn, ms }); return pending.length; },
    clear: () => {},
    async fire() { const t = pending.shift(); t.fn(); await new Promise((r) => setImmediate(r)); return t; },
  };
}
const settle = () => new Promise((r) => setTimeout(r, 5));

test('the loop keeps retrying through many failures, then syncs when the network returns', async () => {
  const { server, store, deps } = setup();
  await store.write(visit(1));
  server.failNext = 40;
  const timers = fakeTimers();
  const states = [];
  const loop = new SyncLoop({ ...deps, timers, random: () => 1, onState: (s) => states.push(s.phase) });
  loop.start();
  await settle();
  const delays = [];
  for (let i = 0; i < 40; i++) {
    assert.equal(timers.pending.length, 1, `a retry is scheduled after failure ${i + 1}`);
    delays.push(timers.pending[0].ms);
    await timers.fire();
    await settle();
  }
  assert.equal(await store.pendingCount(), 0);
  assert.equal(loop.failures, 0);
  assert.ok(delays.every((d) => d <= MAX_MS));
  assert.equal(Math.max(...delays), MAX_MS);
  assert.equal(timers.pending.at(-1).ms, IDLE_MS, 'healthy loop idles, still scheduled');
  assert.ok(states.includes('error') && states.at(-1) === 'idle');
  loop.stop();
});

test('a trigger during a cycle runs another cycle right after it', async () => {
  const { server, store, deps } = setup();
  await store.write(visit(1));
  const timers = fakeTimers();
  let release;
  const gate = new Promise((r) => { release = r; });
  let calls = 0;
  const send = async (body) => { calls += 1; if (calls === 1) await gate; return server.sync(body); };
  let cycles = 0;
  const loop = new SyncLoop({ ...deps, send, timers, onSynced: () => { cycles += 1; } });
  loop.start();
  await settle();
  await store.write(visit(2));
  loop.trigger('write');
  assert.equal(timers.pending.length, 0, 'no timer while a cycle runs');
  release();
  await settle();
  assert.equal(cycles, 2);
  assert.equal(timers.pending.length, 1);
  assert.equal(await store.pendingCount(), 0);
  loop.stop();
});

test('a 401 stops the loop and reports it; nothing is scheduled until re-enrolment', async () => {
  const { server, store, deps } = setup();
  await store.write(visit(1));
  server.status = { status: 401, body: { error: 'revoked', message: 'wipe' } };
  const timers = fakeTimers();
  let lost = null;
  const loop = new SyncLoop({ ...deps, timers, onAuthLost: (e) => { lost = e; } });
  loop.start();
  await settle();
  assert.ok(lost?.revoked);
  assert.equal(timers.pending.length, 0);
  assert.equal(loop.state.phase, 'auth');
});
