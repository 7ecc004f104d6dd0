// A first load from GET /api/v1/snapshot (#12): the merged state a device may read, in one
// answer, instead of paging a whole community through the sync loop (one round trip and
// one big local commit per page, each a long task that freezes the screen).
//
// adoptSnapshot(store, snap):
//   1. the incidents go into the in-memory replica first, in a task of their own, and
//      `onHead` tells the screens that an incident's head (title, report, live counters)
//      may render while the rest is merged; then the other winners, APPLY_RECORDS records a task (a whole
//      community in one go is a long task that freezes a phone), then `onShown` tells the
//      screens they may render: real content after one round trip (shown before it is
//      durable: until step 3 the cursor has not moved, so a tab closed midway fetches the
//      snapshot again);
//   2. they are stored in small IndexedDB transactions (CHUNK fields each, sorted by key):
//      one getAll over the chunk's key range, then a put for each field whose stamp beats
//      the stored one. Each chunk is one short task, and the page stays responsive;
//   3. one last transaction stores the cursor, scope and sync time and folds the remote
//      stamps into the clock (as store.commit does for a pull). The sync loop then goes
//      on from the cursor: it pushes the outbox and pulls what came after the snapshot.
// The outbox and the rejected entries are never touched, so pending work is as it was.
import { transact } from '../shared/db.js';
import { toWire } from './outbox.js';

/** Fields per transaction: small enough that storing one is a short task on a slow phone. */
export const CHUNK = 25;
/** Records merged into the replica per task, for the same reason. */
export const APPLY_RECORDS = 20;

/** The snapshot's records as flat field changes, in the snapshot's order. */
export function snapshotChanges(snap) {
  const out = [];
  for (const [coll, id, fields] of snap.records || []) {
    for (const [field, value, hlc] of fields) out.push({ coll, id, field, value, hlc });
  }
  return out;
}

const keyOf = (c) => `${c.coll}\u0000${c.id}\u0000${c.field}`;

/**
 * The changes sorted as IndexedDB orders their [coll, id, field] keys: NUL sorts before
 * every character a name may hold, so comparing the joined keys compares part by part.
 */
export function byKey(changes) {
  const keyed = changes.map((c) => [keyOf(c), c]);
  keyed.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  return keyed.map((x) => x[1]);
}

/** Store one sorted chunk: a put for each change newer than what the device holds. */
function storeChunk(db, chunk) {
  return transact(db, ['fields'], 'readwrite', (s) => {
    const first = chunk[0];
    const last = chunk[chunk.length - 1];
    const r = s.fields.getAll(IDBKeyRange.bound([first.coll, first.id, first.field], [last.coll, last.id, last.field]));
    r.onsuccess = () => {
      const held = new Map(r.result.map((c) => [keyOf(c), c.hlc]));
      for (const c of chunk) {
        const cur = held.get(keyOf(c));
        if (cur === undefined || c.hlc > cur) s.fields.put(toWire(c));
      }
    };
  });
}

/**
 * End this task and go on in a new one: `scheduler.yield()` where the browser has it (the
 * rest of this work keeps its place ahead of other tasks), else a message — never nested
 * `setTimeout(0)`, which browsers clamp to 4 ms: 70 merge tasks would wait 280 ms more.
 */
const breathe = () => {
  if (typeof scheduler !== 'undefined' && typeof scheduler.yield === 'function') return scheduler.yield();
  if (typeof MessageChannel === 'function') {
    return new Promise((resolve) => { const ch = new MessageChannel(); ch.port1.onmessage = () => { ch.port1.close(); resolve(); }; ch.port2.postMessage(null); });
  }
  return new Promise((resolve) => setTimeout(resolve, 0));
};
/** After the next frame (the screens' redraw is queued for it), or a turn without one. */
const afterPaint = () => (typeof requestAnimationFrame === 'function'
  ? new Promise((resolve) => requestAnimationFrame(() => setTimeout(resolve, 0)))
  : breathe());

/**
 * Show, then store, a snapshot; resolves once the cursor is stored.
 * @param {import('./idb-store.js').IdbStore} store
 * @param {{records: Array, cursor: number, more: boolean, scope: string|null, server_time: string}} snap
 * @param {{offset?: number|null, chunk?: number, onHead?: () => void, onShown?: (won: number) => void}} [opts]
 *   offset: server clock minus ours, if measured; onHead: once the incidents are in the
 *   replica (the rest is not yet); onShown: once all of it is in the replica
 * @returns {Promise<number>} how many field winners the snapshot held
 */
export async function adoptSnapshot(store, snap, { offset = null, chunk = CHUNK, onHead = null, onShown = null } = {}) {
  const all = snap.records || [];
  const changes = [];
  let won = 0;
  const apply = (records) => {
    const part = snapshotChanges({ records });
    won += store.replica.applyAll(part);
    for (const c of part) changes.push(c);
  };
  apply(all.filter((r) => r[0] === 'incidents'));
  if (onHead) {
    await breathe(); // the head renders in a task of its own
    onHead();
    await afterPaint(); // the head paints before the long merge starts
  }
  const records = all.filter((r) => r[0] !== 'incidents');
  for (let i = 0; i < records.length; i += APPLY_RECORDS) {
    await breathe();
    apply(records.slice(i, i + APPLY_RECORDS));
  }
  if (onShown) {
    await breathe(); // the screens render in a task of their own
    onShown(won);
  }
  await afterPaint(); // the screens render first
  const sorted = byKey(changes);
  for (let i = 0; i < sorted.length; i += chunk) {
    await breathe(); // let a frame paint (and a tap be handled) between chunks
    await storeChunk(store.db, sorted.slice(i, i + chunk));
  }
  await store.markSynced({ cursor: snap.cursor, scope: snap.scope ?? null, offset, at: store.now(), pulled: changes });
  return changes.length;
}
