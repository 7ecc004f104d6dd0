// A server restored from a backup answers with a new epoch: the sync loop re-sends the
// device's accepted changes it still keeps, resets its cursor and pulls everything again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { syncCycle } from '../../pwa/js/sync/loop.js';
import { epochChanged, KEEP_MS } from '../../pwa/js/sync/sent-log.js';
import { toWire } from '../../pwa/js/sync/outbox.js';
import { MemoryStore, FakeServer } from './support/fake-sync.mjs';

const NODE = '9f3a2b1c4d5e6f70';
const OTHER = '0123456789abcdef';
const T = Date.parse('2026-11-22T14:05:15.123Z');

/** SentLog's interface in memory (the IndexedDB one runs in the browser tests). */
class MemorySentLog {
  constructor() { this.known = null; this.sent = new Map(); }
  async epoch() { return this.known; }
  async setEpoch(e) { this.known = e; }
  async remember(changes, at) { for (const c of changes) this.sent.set(c.hlc, { ...toWire(c), at }); }
  async resend(store, now) {
    const keep = [...this.sent.values()].filter((c) => c.at >= now - KEEP_MS).map(toWire);
    for (const c of keep) store.outbox.set(c.hlc, c);
    return keep.length;
  }
}

function setup() {
  const server = new FakeServer({ now: () => T });
  server.epoch = 'e1';
  const store = new MemoryStore(NODE, { now: () => T });
  const sentLog = new MemorySentLog();
  const send = async (body) => ({ ...(await server.sync(body)), epoch: server.epoch });
  return { server, store, sentLog, deps: { store, sentLog, send, now: () => T } };
}

const visit = (id) => [{ coll: 'visits', id, field: 'outcome', value: 'reached' }];
const other = (i, ms = T - 60_000) => ({ coll: 'households', id: `h${i}`, field: 'room', value: `${i}`, hlc: `${new Date(ms + i).toISOString()}-0000-${OTHER}` });

test('epochChanged is true only for a known epoch that differs', () => {
  assert.equal(epochChanged(null, 'a'), false);
  assert.equal(epochChanged('a', 'a'), false);
  assert.equal(epochChanged('a', undefined), false);
  assert.equal(epochChanged('a', 'b'), true);
});

test('after a restore the acknowledged change is re-sent and the cursor gap is closed', async () => {
  const { server, store, sentLog, deps } = setup();
  await store.write(visit('before'));
  await syncCycle(deps);
  assert.equal(sentLog.known, 'e1');
  const backup = { winners: new Map(server.winners), seq: server.seq };

  await store.write(visit('after'));
  for (let i = 0; i < 30; i++) server.seed(other(i));
  await syncCycle(deps);
  assert.equal(await store.pendingCount(), 0); // acknowledged: gone from the outbox
  const cursorBefore = store.meta.cursor;

  // Restore: the server forgets everything after the backup and gets a new epoch; a
  // change written in the gap gets a sequence number below the phone's cursor.
  server.winners = backup.winners;
  server.seq = backup.seq;
  server.epoch = 'e2';
  server.seed(other(999, T - 1000));
  assert.ok(server.seq < cursorBefore);

  const summary = await syncCycle(deps);
  assert.equal(summary.resent, 2);
  assert.ok([...server.winners.values()].some((w) => w.change.id === 'after'));
  assert.equal(store.replica.get('households', 'h999')?.room, '999'); // written in the gap
  assert.equal(sentLog.known, 'e2');
  assert.equal(store.meta.cursor, server.seq);
  assert.equal(await store.pendingCount(), 0);
});

test('a change older than the keep window is not re-sent', async () => {
  const { server, store, sentLog, deps } = setup();
  await store.write(visit('old'));
  await syncCycle(deps);
  server.epoch = 'e2';
  const later = { ...deps, now: () => T + KEEP_MS + 1 };
  const summary = await syncCycle(later);
  assert.equal(summary.resent, 0);
  assert.equal(sentLog.known, 'e2');
});
