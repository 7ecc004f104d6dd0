// The sent-log: this device's own changes that the server accepted, kept for KEEP_MS
// (14 days) and at most MAX_ENTRIES, with the server epoch they were accepted under.
//
// Why: a server restored from a backup has forgotten everything accepted after the
// backup, and its sequence restarts below our cursor. It answers with a new `epoch`
// (docs/protocol.md, "Epochs"). On that answer the sync loop (loop.js) puts every change
// still in this log back into the outbox, resets the cursor to 0 and pulls again.
// Re-sent changes keep their stamps, so a server that already has one ignores it.
//
// Its own IndexedDB database ('doorstep-sent'), so the main schema does not change. Writes
// here are not in the outbox's transaction: a change is remembered before the outbox lets
// it go, so a crash in between leaves it in both places, which is harmless.
import { toWire } from './outbox.js';

export const KEEP_MS = 14 * 24 * 3600 * 1000;
export const MAX_ENTRIES = 20_000;
const DB_NAME = 'doorstep-sent';

/** A restored server: the answer names an epoch other than the one we knew. */
export function epochChanged(known, answered) {
  return Boolean(known && answered && known !== answered);
}

function req(r) {
  return new Promise((resolve, reject) => { r.onsuccess = () => resolve(r.result); r.onerror = () => reject(r.error); });
}

function done(tx) {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error || new Error('transaction aborted'));
  });
}

export class SentLog {
  constructor(db) { this.db = db; }

  static async open(name = DB_NAME) {
    const r = indexedDB.open(name, 1);
    r.onupgradeneeded = () => {
      const sent = r.result.createObjectStore('sent', { keyPath: 'hlc' });
      sent.createIndex('at', 'at');
      r.result.createObjectStore('meta');
    };
    const db = await req(r);
    db.onversionchange = () => db.close();
    return new SentLog(db);
  }

  async epoch() {
    return (await req(this.db.transaction('meta').objectStore('meta').get('epoch'))) ?? null;
  }

  async setEpoch(epoch) {
    const tx = this.db.transaction('meta', 'readwrite', { durability: 'strict' });
    tx.objectStore('meta').put(epoch, 'epoch');
    await done(tx);
  }

  /** Keep accepted changes; drop what is older than KEEP_MS or beyond MAX_ENTRIES. */
  async remember(changes, at) {
    const tx = this.db.transaction('sent', 'readwrite', { durability: 'strict' });
    const sent = tx.objectStore('sent');
    for (const c of changes) sent.put({ ...toWire(c), at });
    sent.index('at').openCursor(IDBKeyRange.upperBound(at - KEEP_MS, true)).onsuccess = (e) => {
      const cur = e.target.result;
      if (cur) { cur.delete(); cur.continue(); }
    };
    const count = sent.count();
    count.onsuccess = () => {
      let extra = count.result - MAX_ENTRIES;
      if (extra <= 0) return;
      sent.index('at').openCursor().onsuccess = (e) => {
        const cur = e.target.result;
        if (cur && extra-- > 0) { cur.delete(); cur.continue(); }
      };
    };
    await done(tx);
  }

  /** Changes accepted within KEEP_MS of `now`, oldest first. */
  async recent(now) {
    const rows = await req(this.db.transaction('sent').objectStore('sent').index('at').getAll(IDBKeyRange.lowerBound(now - KEEP_MS)));
    return rows.map(toWire);
  }

  /** Put every kept change back into the device store's outbox; returns how many. */
  async resend(store, now) {
    const changes = await this.recent(now);
    if (!changes.length) return 0;
    const tx = store.db.transaction('outbox', 'readwrite', { durability: 'strict' });
    for (const c of changes) tx.objectStore('outbox').put(c);
    await done(tx);
    return changes.length;
  }
}
