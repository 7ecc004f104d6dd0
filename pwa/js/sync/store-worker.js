// A dedicated worker that stores a first snapshot in IndexedDB (#12), so the page's thread
// only parses and shows it. Storing 7,000 fields is thousands of puts, each serialised
// where it is called: on the page they were a long task every 25 fields for seconds after
// the screen was drawn (a tap then waited). Here they cost the page nothing.
//
// Message in:  {name, text} (the snapshot's JSON text, as received) or {name, snap}.
// Message out: {ok: true, stored: n} once every chunk committed, or {ok: false, error}.
// The page marks the snapshot's cursor synced only after {ok: true}; on an error (or with
// no worker at all) it stores on its own thread, as before (snapshot.js).
import { openDb } from '../shared/db.js';
import { snapshotChanges, storeChanges } from './snapshot-store.js';

/** Fields per transaction here: no screen to keep responsive, fewer commits. */
const WORKER_CHUNK = 500;

self.onmessage = async ({ data }) => {
  let db = null;
  try {
    db = await openDb(data.name);
    const snap = typeof data.text === 'string' ? JSON.parse(data.text) : data.snap;
    const stored = await storeChanges(db, snapshotChanges(snap), { chunk: WORKER_CHUNK });
    self.postMessage({ ok: true, stored });
  } catch (err) {
    self.postMessage({ ok: false, error: String(err?.message || err) });
  } finally {
    db?.close();
  }
};
