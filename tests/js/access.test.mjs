// Access control on the device (#5): the sync loop sends the scope token it holds, and a
// page's `evict` list removes records (personal data) while unsent entries stay.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { syncCycle } from '../../pwa/js/sync/loop.js';
import { MemoryStore } from './support/fake-sync.mjs';

const NODE = '9f3a2b1c4d5e6f70';
const OTHER = '0123456789abcdef';
const T = Date.parse('2026-11-22T14:05:15.123Z');
const stamp = (i) => `${new Date(T - 60_000 + i).toISOString()}-0000-${OTHER}`;

/** MemoryStore + the two things access control adds: a scope token and evictions. */
class ScopedStore extends MemoryStore {
  async scope() { return this.meta.scope || null; }
  async commit(page) {
    if (page.evict?.length) this.replica.forget(page.evict);
    await super.commit(page);
    if (page.scope) this.meta.scope = page.scope;
  }
}

test('the loop sends the scope token it holds and stores the new one', async () => {
  const store = new ScopedStore(NODE, { now: () => T });
  const bodies = [];
  const answers = [
    { accepted: 0, rejected: [], changes: [], cursor: 5, more: false, server_time: new Date(T).toISOString(), scope: 'aaa', evict: [] },
    { accepted: 0, rejected: [], changes: [], cursor: 6, more: false, server_time: new Date(T).toISOString(), scope: 'bbb', evict: [] },
  ];
  const send = async (body) => { bodies.push(body); return answers.shift(); };
  await syncCycle({ store, send, now: () => T });
  await syncCycle({ store, send, now: () => T });
  assert.equal(bodies[0].scope, undefined);
  assert.equal(bodies[1].scope, 'aaa');
  assert.equal(store.meta.scope, 'bbb');
});

test('evicted records leave the replica; the entry about them is kept, rejected as forbidden', async () => {
  const store = new ScopedStore(NODE, { now: () => T });
  store.replica.applyAll([
    { coll: 'households', id: 'h1', field: 'contact', value: '王秀英 13800001234', hlc: stamp(1) },
    { coll: 'households', id: 'h2', field: 'contact', value: '李桂兰', hlc: stamp(2) },
  ]);
  await store.write([{ coll: 'visits', id: 'v1', field: 'household', value: 'h1' }]);
  const send = async (body) => ({
    accepted: 0, changes: [], cursor: 9, more: false, server_time: new Date(T).toISOString(),
    rejected: body.changes.map((c, index) => ({ hlc: c.hlc, index, error: 'forbidden', message: 'outside your buildings' })),
    scope: 'ccc', evict: [{ coll: 'households', id: 'h1' }, { coll: 'visits', id: 'v1' }],
  });
  await syncCycle({ store, send, now: () => T });
  assert.equal(store.replica.get('households', 'h1'), undefined);
  assert.equal(store.replica.winner('households', 'h1', 'contact'), undefined);
  assert.equal(store.replica.get('visits', 'v1'), undefined);
  assert.ok(store.replica.get('households', 'h2'));
  assert.equal(await store.pendingCount(), 0);
  assert.deepEqual([...store.rejected.values()].map((r) => [r.change.id, r.error]), [['v1', 'forbidden']]);
});
