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
//   2. they are stored in IndexedDB by a worker (store-worker.js), off the page's thread:
//      each put is serialised where it is called, and thousands of them were a long task
//      every 25 fields for seconds after the screen was drawn. Where no worker can run (or
//      it fails), the page stores them itself in small transactions, one short task each
//      (snapshot-store.js: sorted by key, a put only where the stamp beats the stored one);
//   3. one last transaction stores the cursor, scope and sync time and folds the remote
//      stamps into the clock (as store.commit does for a pull). The sync loop then goes
//      on from the cursor: it pushes the outbox and pulls what came after the snapshot.
// The outbox and the rejected entries are never touched, so pending work is as it was.
import { CHUNK, snapshotChanges, byKey, storeChanges } from './snapshot-store.js';

export { CHUNK, snapshotChanges, byKey };
/** Records merged into the replica per task: a whole community in one go freezes a phone. */
export const APPLY_RECORDS = 20;

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
 * Store a snapshot in IndexedDB `name` from a worker; resolves false when there is no
 * worker or it failed (the page then stores it itself: nothing is marked synced before).
 * @param {{text?: string, snap?: object}} message the snapshot as received, or parsed
 */
function storeOffThread(name, message) {
  if (typeof Worker !== 'function') return Promise.resolve(false);
  return new Promise((resolve) => {
    let worker;
    try {
      worker = new Worker(new URL('./store-worker.js', import.meta.url), { type: 'module' });
    } catch (err) {
      console.warn('[doorstep] no snapshot worker', err);
      resolve(false);
      return;
    }
    const end = (ok) => { worker.terminate(); resolve(ok); };
    worker.onmessage = ({ data }) => {
      if (!data?.ok) console.warn('[doorstep] snapshot worker failed; storing here', data?.error);
      end(Boolean(data?.ok));
    };
    worker.onerror = (e) => { e.preventDefault?.(); console.warn('[doorstep] snapshot worker failed; storing here', e.message); end(false); };
    worker.postMessage({ name, ...message });
  });
}

/**
 * Show, then store, a snapshot; resolves once the cursor is stored.
 * @param {import('./idb-store.js').IdbStore} store
 * @param {{records: Array, cursor: number, more: boolean, scope: string|null, server_time: string}} snap
 * @param {{text?: string, offset?: number|null, chunk?: number, worker?: boolean, onHead?: () => void, onShown?: (won: number) => void}} [opts]
 *   text: the snapshot's JSON as received (the worker parses its own copy); offset: server
 *   clock minus ours, if measured; worker: store from a worker if one can run; onHead:
 *   once the incidents are in the replica (the rest is not yet); onShown: once all of it is
 * @returns {Promise<number>} how many field winners the snapshot held
 */
export async function adoptSnapshot(store, snap, { text = null, offset = null, chunk = CHUNK, worker = true, onHead = null, onShown = null } = {}) {
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
  const stored = worker && (await storeOffThread(store.db.name, text ? { text } : { snap }));
  // Here, a frame may paint (and a tap be handled) between chunks.
  if (!stored) await storeChanges(store.db, changes, { chunk, between: breathe });
  await store.markSynced({ cursor: snap.cursor, scope: snap.scope ?? null, offset, at: store.now(), pulled: changes });
  return changes.length;
}
