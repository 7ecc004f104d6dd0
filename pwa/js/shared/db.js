// IndexedDB: the phone's durable replica. Stores:
//   fields   — the winning change of every (coll, id, field), keyPath [coll, id, field]
//   outbox   — changes not yet answered by the server, keyPath hlc (so: creation order)
//   rejected — changes the server refused, kept and shown, keyPath hlc
//   meta     — small values by key: auth, cursor, clock, offset, lastSync
// Every multi-store update runs in ONE transaction, so a crash leaves either all or none.

export const DB_NAME = 'doorstep';
const VERSION = 1;

/** Open (and create or upgrade) the database. */
export function openDb(name = DB_NAME) {
  return new Promise((resolve, reject) => {
    const r = indexedDB.open(name, VERSION);
    r.onupgradeneeded = () => {
      const db = r.result;
      if (!db.objectStoreNames.contains('fields')) db.createObjectStore('fields', { keyPath: ['coll', 'id', 'field'] });
      if (!db.objectStoreNames.contains('outbox')) db.createObjectStore('outbox', { keyPath: 'hlc' });
      if (!db.objectStoreNames.contains('rejected')) db.createObjectStore('rejected', { keyPath: 'hlc' });
      if (!db.objectStoreNames.contains('meta')) db.createObjectStore('meta');
    };
    r.onsuccess = () => {
      // Another tab upgrading the schema must not be blocked by us.
      r.result.onversionchange = () => r.result.close();
      resolve(r.result);
    };
    r.onerror = () => reject(r.error);
    r.onblocked = () => reject(new Error('database upgrade blocked by another tab'));
  });
}

/**
 * Run `fn(stores, tx)` in one transaction; resolve with its result once committed.
 * `fn` must only queue requests (no awaits on other I/O), as IndexedDB requires.
 */
export function transact(db, names, mode, fn) {
  return new Promise((resolve, reject) => {
    const tx = db.transaction(names, mode, { durability: 'strict' });
    const stores = Object.fromEntries(names.map((n) => [n, tx.objectStore(n)]));
    let result;
    try {
      result = fn(stores, tx);
    } catch (err) {
      try { tx.abort(); } catch { /* already finished */ }
      reject(err);
      return;
    }
    tx.oncomplete = () => resolve(result?.isBox ? result.value : result);
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error || new Error('transaction aborted'));
  });
}

/** Promise for one IDB request (for reads outside `transact`). */
export function request(r) {
  return new Promise((resolve, reject) => {
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });
}

/** A mutable box a transaction callback fills from request callbacks. */
export function box(value) { return { isBox: true, value }; }
