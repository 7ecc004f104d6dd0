// The device's storage for sync: IndexedDB (durable) + Replica (in memory, for screens).
// Implements the store interface syncCycle() needs, plus local writes. Each operation is
// one IndexedDB transaction; the in-memory replica is updated only after it committed.
import { openDb, transact } from '../shared/db.js';
import { initial } from './clock.js';
import { stampEdits, restamp, clockTooFarAhead, observe, toWire } from './outbox.js';
import { Replica } from './replica.js';

const ALL = ['fields', 'outbox', 'rejected', 'meta'];
const META_KEYS = ['auth', 'cursor', 'clock', 'offset', 'lastSync', 'scope', 'lastWrite'];

/**
 * The greatest stamp per field among `changes`. putIfNewer's get and put are separate
 * requests, so two changes of one field in one transaction would both read the old
 * winner and the later put would win whatever its stamp: merge them here first.
 */
function newestPerKey(changes) {
  const best = new Map();
  for (const c of changes) {
    const k = `${c.coll}\u0000${c.id}\u0000${c.field}`;
    const cur = best.get(k);
    if (!cur || c.hlc > cur.hlc) best.set(k, c);
  }
  return [...best.values()];
}

/** Put `c` into `fields` if it beats the stored winner; calls won(c) when it does. */
function putIfNewer(fields, c, won) {
  const r = fields.get([c.coll, c.id, c.field]);
  r.onsuccess = () => {
    const cur = r.result;
    if (!cur || c.hlc > cur.hlc) { fields.put(toWire(c)); won?.(c); }
  };
}

/** The household an unsent change is about, if any. */
function doorOf(replica, c) {
  if (c.coll === 'households') return c.id;
  if (c.coll === 'household_status') return c.id.split('~')[1];
  if (c.coll === 'visits' || c.coll === 'deliveries') {
    return c.field === 'household' ? c.value : replica.get(c.coll, c.id)?.household;
  }
  return null;
}

function replaceStamps(s, pairs) {
  for (const [old, fresh] of pairs) {
    s.outbox.delete(old.hlc);
    s.outbox.put(fresh);
    const r = s.fields.get([old.coll, old.id, old.field]);
    r.onsuccess = () => { if (r.result && r.result.hlc === old.hlc) s.fields.put(fresh); };
  }
}

export class IdbStore {
  constructor(db, replica = new Replica()) {
    this.db = db;
    this.replica = replica;
    this.meta = { auth: null, cursor: 0, clock: null, offset: 0, lastSync: null, scope: null, lastWrite: null };
    this.listeners = new Set();
  }

  static async open(name) {
    const store = new IdbStore(await openDb(name));
    await store.load();
    return store;
  }

  async load() {
    const [fields, ...metas] = await transact(this.db, ['fields', 'meta'], 'readonly', (s) => {
      const reqs = [s.fields.getAll(), ...META_KEYS.map((k) => s.meta.get(k))];
      return { isBox: true, get value() { return reqs.map((r) => r.result); } };
    });
    META_KEYS.forEach((k, i) => { if (metas[i] !== undefined) this.meta[k] = metas[i]; });
    this.replica.applyAll(fields);
  }

  /** Corrected wall time: what the server's clock reads now, as far as we know. */
  now() { return Date.now() + (this.meta.offset || 0); }

  onChange(fn) { this.listeners.add(fn); return () => this.listeners.delete(fn); }
  #emit() { for (const fn of this.listeners) fn(); }

  // ---- store interface of syncCycle ------------------------------------------------
  async node() { return this.meta.auth?.node; }
  async cursor() { return this.meta.cursor || 0; }
  async scope() { return this.meta.scope || null; }
  pending(limit) { return this.#read('outbox', (s) => s.getAll(null, limit)); }
  pendingCount() { return this.#read('outbox', (s) => s.count()); }
  /** How many records (not fields) wait to upload: what a volunteer counts. */
  async pendingRecords() {
    const keys = await this.#read('outbox', (s) => s.getAll());
    return new Set(keys.map((c) => `${c.coll}\u0000${c.id}`)).size;
  }
  /**
   * What waits to upload, as a volunteer counts it: doors (households the unsent entries
   * are about) and records (not fields). Changes of other records count as records only.
   * @returns {Promise<{doors: number, records: number}>}
   */
  async pendingSummary() {
    const changes = await this.#read('outbox', (s) => s.getAll());
    const records = new Set();
    const doors = new Set();
    for (const c of changes) {
      records.add(`${c.coll}\u0000${c.id}`);
      const door = doorOf(this.replica, c);
      if (door) doors.add(door);
    }
    return { doors: doors.size, records: records.size };
  }
  rejectedList() { return this.#read('rejected', (s) => s.getAll()); }
  rejectedCount() { return this.#read('rejected', (s) => s.count()); }

  /** Commit one answered page: pulled winners, cursor, settled outbox, rejections — atomically. */
  async commit({ accepted, rejected, pulled, cursor, offset, at, evict = [], scope = null }) {
    const won = [];
    const meta = { ...this.meta, cursor, lastSync: at };
    if (scope) meta.scope = scope;
    if (offset !== null && offset !== undefined) meta.offset = offset;
    const now = Date.now() + (meta.offset || 0);
    await transact(this.db, ALL, 'readwrite', (s) => {
      // The clock is read inside the transaction: another tab may have advanced it.
      const m = s.meta.get('clock');
      m.onsuccess = () => { if (m.result) { meta.clock = observe(m.result, now, pulled); s.meta.put(meta.clock, 'clock'); } };
      for (const hlc of accepted) s.outbox.delete(hlc);
      for (const r of rejected) {
        s.outbox.delete(r.change.hlc);
        s.rejected.put({ hlc: r.change.hlc, change: r.change, error: r.error, message: r.message, at });
      }
      // Records the server says we may no longer hold (access control, #5): gone before
      // the page is applied. The outbox keeps our own unsent entries for them.
      for (const r of evict) s.fields.delete(IDBKeyRange.bound([r.coll, r.id], [r.coll, r.id, []]));
      for (const c of newestPerKey(pulled)) putIfNewer(s.fields, c, (x) => won.push(x));
      for (const k of ['cursor', 'lastSync', 'offset', 'scope']) s.meta.put(meta[k], k);
    });
    this.meta = meta;
    if (evict.length) this.replica.forget(evict);
    this.replica.applyAll(won);
    this.#emit();
  }

  /**
   * After a snapshot's winners are stored (snapshot.js): store its cursor and scope, and
   * fold its stamps into the clock, in one transaction, as commit() does for a page.
   */
  async markSynced({ cursor, scope, offset = null, at, pulled = [] }) {
    const meta = { ...this.meta, cursor, lastSync: at, scope };
    if (offset !== null && offset !== undefined) meta.offset = offset;
    const now = Date.now() + (meta.offset || 0);
    await transact(this.db, ['meta'], 'readwrite', (s) => {
      const m = s.meta.get('clock');
      m.onsuccess = () => { if (m.result) { meta.clock = observe(m.result, now, pulled); s.meta.put(meta.clock, 'clock'); } };
      for (const k of ['cursor', 'lastSync', 'offset', 'scope']) s.meta.put(meta[k], k);
    });
    this.meta = meta;
    this.#emit();
  }

  /** Re-stamp every unsent change (after clock_ahead, or a new node); returns how many. */
  async restampAll(offset = this.meta.offset, node = this.meta.auth?.node) {
    const now = Date.now() + (offset || 0);
    let pairs = [];
    let clock = null;
    await transact(this.db, ALL, 'readwrite', (s) => {
      const r = s.outbox.getAll();
      const m = s.meta.get('clock');
      r.onsuccess = () => {
        const base = m.result && m.result.node === node ? m.result : initial(node);
        ({ clock, pairs } = restamp(base, now, r.result));
        replaceStamps(s, pairs);
        s.meta.put(clock, 'clock');
      };
    });
    this.meta.clock = clock;
    this.replica.replaceStamp(pairs);
    this.#emit();
    return pairs.length;
  }

  /**
   * Record edits `{coll, id, field, value}` made on this device: stamp them (the clock is
   * read and advanced inside the transaction, so two tabs never mint one stamp twice),
   * store the winners and append them to the outbox.
   * @returns {Promise<object[]>} the stamped changes
   */
  async write(edits) {
    const node = this.meta.auth?.node;
    if (!node) throw new Error('device not enrolled');
    const now = this.now();
    let changes = [];
    let pairs = [];
    let clock = null;
    let lastWrite = null;
    await transact(this.db, ['fields', 'outbox', 'meta'], 'readwrite', (s) => {
      const m = s.meta.get('clock');
      m.onsuccess = () => {
        clock = m.result && m.result.node === node ? m.result : initial(node);
        const finish = () => {
          ({ clock, changes } = stampEdits(clock, now, edits));
          // What each field held before, so the entry can be undone until it uploads.
          lastWrite = { hlcs: changes.map((c) => c.hlc), prior: [] };
          for (const c of changes) {
            s.outbox.add(c);
            const r = s.fields.get([c.coll, c.id, c.field]);
            r.onsuccess = () => {
              const cur = r.result;
              lastWrite.prior.push(cur ? toWire(cur) : { coll: c.coll, id: c.id, field: c.field, absent: true });
              if (!cur || c.hlc > cur.hlc) s.fields.put(toWire(c));
              if (lastWrite.prior.length === changes.length) s.meta.put(lastWrite, 'lastWrite');
            };
          }
          s.meta.put(clock, 'clock');
        };
        if (!clockTooFarAhead(clock, now)) { finish(); return; }
        // The clock ran ahead (phone clock was fast before the first sync): bring the
        // unsent changes back with it so their order relative to this edit is kept.
        const r = s.outbox.getAll();
        r.onsuccess = () => { ({ clock, pairs } = restamp(clock, now, r.result)); replaceStamps(s, pairs); finish(); };
      };
    });
    this.meta.clock = clock;
    if (changes.length) this.meta.lastWrite = lastWrite;
    if (pairs.length) this.replica.replaceStamp(pairs);
    this.replica.applyAll(changes);
    this.#emit();
    return changes;
  }

  /** Whether the last entry can still be undone: none of its changes has been answered. */
  async canUndo() {
    const lw = this.meta.lastWrite;
    if (!lw?.hlcs?.length) return false;
    const n = await this.#read('outbox', (s) => s.count(IDBKeyRange.bound(lw.hlcs[0], lw.hlcs[lw.hlcs.length - 1])));
    return n === lw.hlcs.length;
  }

  /**
   * Undo the last entry before it uploads: its changes leave the outbox and each field
   * gets back what it held before (if nothing newer arrived since). Refused (returns
   * false) once any of them was answered by the server. The caller must not undo while
   * a sync request is in flight: the server may already hold what it carries.
   * @returns {Promise<boolean>}
   */
  async undoLast() {
    const lw = this.meta.lastWrite;
    if (!lw?.hlcs?.length) return false;
    let done = false;
    await transact(this.db, ALL, 'readwrite', (s) => {
      const r = s.outbox.getAll(IDBKeyRange.bound(lw.hlcs[0], lw.hlcs[lw.hlcs.length - 1]));
      r.onsuccess = () => {
        const mine = new Set(lw.hlcs);
        if (r.result.filter((c) => mine.has(c.hlc)).length !== lw.hlcs.length) return;
        done = true;
        for (const hlc of lw.hlcs) s.outbox.delete(hlc);
        for (const p of lw.prior) {
          const g = s.fields.get([p.coll, p.id, p.field]);
          g.onsuccess = () => {
            if (!g.result || !mine.has(g.result.hlc)) return; // something newer won since
            if (p.absent) s.fields.delete([p.coll, p.id, p.field]); else s.fields.put(p);
          };
        }
        s.meta.delete('lastWrite');
      };
    });
    if (!done) return false;
    this.meta.lastWrite = null;
    this.replica.clear();
    await this.load();
    this.#emit();
    return true;
  }

  // ---- enrolment -----------------------------------------------------------------------
  async setAuth(auth) {
    const old = this.meta.auth;
    await this.#putMeta('auth', auth);
    if (old && old.node !== auth.node && (await this.pendingCount()) > 0) await this.restampAll(this.meta.offset, auth.node);
    this.#emit();
  }

  async setOffset(offset) { await this.#putMeta('offset', offset); }

  /** Revoked: forget personal data and the session, keep unsent and rejected entries. */
  async wipe() {
    await transact(this.db, ['fields', 'meta'], 'readwrite', (s) => {
      s.fields.clear();
      for (const k of ['auth', 'cursor', 'lastSync', 'scope']) s.meta.delete(k);
    });
    this.meta = { ...this.meta, auth: null, cursor: 0, lastSync: null, scope: null };
    this.replica.clear();
    this.#emit();
  }

  async #putMeta(key, value) {
    await transact(this.db, ['meta'], 'readwrite', (s) => s.meta.put(value, key));
    this.meta[key] = value;
  }

  #read(name, fn) {
    return transact(this.db, [name], 'readonly', (s) => {
      const r = fn(s[name]);
      return { isBox: true, get value() { return r.result; } };
    });
  }
}
