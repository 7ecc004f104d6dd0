// Storing a first snapshot's winners in IndexedDB (#12), shared by the page (snapshot.js,
// where no worker can run) and the worker that does it off the page's thread
// (store-worker.js): small transactions, sorted by key; in each, one getAll over the
// chunk's key range, then a put for each field whose stamp beats the stored one — so a
// field the device wrote or pulled meanwhile is never overwritten by an older one.
import { transact } from '../shared/db.js';
import { toWire } from './outbox.js';

/** Fields per transaction on the page: storing one is a short task on a slow phone. */
export const CHUNK = 25;

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
 * Store `changes` chunk by chunk; `between()` is awaited before each chunk (the page lets a
 * frame paint there). Resolves with how many changes it went through.
 */
export async function storeChanges(db, changes, { chunk = CHUNK, between = null } = {}) {
  const sorted = byKey(changes);
  for (let i = 0; i < sorted.length; i += chunk) {
    if (between) await between();
    await storeChunk(db, sorted.slice(i, i + chunk));
  }
  return sorted.length;
}
