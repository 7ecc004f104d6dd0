// The in-memory replica: merge state (field winners, via merge.js) folded into records
// that screens read. It mirrors what IndexedDB holds; IdbStore feeds it after each commit.
import { apply, keyOf } from './merge.js';

export class Replica {
  constructor() {
    this.state = new Map();
    /** coll → id → record ({id, ...fields}, `_deleted` included) */
    this.colls = new Map();
    this.version = 0;
    this.listeners = new Set();
  }

  /** Merge changes (LWW); returns how many won. Notifies subscribers once. */
  applyAll(changes) {
    let won = 0;
    for (const c of changes) {
      if (apply(this.state, c)) { this.#set(c); won += 1; }
    }
    if (won) this.#changed();
    return won;
  }

  /** Replace `old` by `fresh` if `old` is still the winner (a re-stamped unsent change). */
  replaceStamp(pairs) {
    let n = 0;
    for (const [old, fresh] of pairs) {
      const cur = this.state.get(keyOf(old));
      if (cur && cur.hlc === old.hlc) { this.state.set(keyOf(fresh), fresh); this.#set(fresh); n += 1; }
    }
    if (n) this.#changed();
  }

  /** The winning change of one field, or undefined. */
  winner(coll, id, field) { return this.state.get(keyOf({ coll, id, field })); }

  /** One live record, or undefined (deleted records are hidden). */
  get(coll, id) {
    const r = this.colls.get(coll)?.get(id);
    return r && r._deleted !== true ? r : undefined;
  }

  /** All live records of a collection. */
  all(coll) {
    const m = this.colls.get(coll);
    if (!m) return [];
    const out = [];
    for (const r of m.values()) if (r._deleted !== true) out.push(r);
    return out;
  }

  clear() { this.state.clear(); this.colls.clear(); this.#changed(); }

  /** Drop whole records `[{coll, id}]` the device may no longer hold (access control, #5). */
  forget(refs) {
    let n = 0;
    for (const { coll, id } of refs) {
      const rec = this.colls.get(coll)?.get(id);
      if (!rec) continue;
      for (const field of Object.keys(rec)) this.state.delete(keyOf({ coll, id, field }));
      this.colls.get(coll).delete(id);
      n += 1;
    }
    if (n) this.#changed();
  }

  subscribe(fn) { this.listeners.add(fn); return () => this.listeners.delete(fn); }

  #set(c) {
    let m = this.colls.get(c.coll);
    if (!m) this.colls.set(c.coll, (m = new Map()));
    let r = m.get(c.id);
    if (!r) m.set(c.id, (r = { id: c.id }));
    if (c.field !== 'id') r[c.field] = c.value;
  }

  #changed() {
    this.version += 1;
    for (const fn of this.listeners) fn(this.version);
  }
}
