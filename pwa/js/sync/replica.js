// The in-memory replica: merge state (field winners, via merge.js) folded into records
// that screens read. It mirrors what IndexedDB holds; IdbStore feeds it after each commit.
// Set fields (sets.js) are folded here as in merge.records(): records hold the members,
// never the element fields they are written through.
import { apply, keyOf } from './merge.js';
import { split, isSetField, members } from './sets.js';

export class Replica {
  constructor() {
    this.state = new Map();
    /** coll → id → record ({id, ...fields}, `_deleted` included) */
    this.colls = new Map();
    /** coll\0id\0setField → Set of elements written through element fields */
    this.elements = new Map();
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

  clear() { this.state.clear(); this.colls.clear(); this.elements.clear(); this.#changed(); }

  /** Drop whole records `[{coll, id}]` the device may no longer hold (access control, #5). */
  forget(refs) {
    let n = 0;
    for (const { coll, id } of refs) {
      const rec = this.colls.get(coll)?.get(id);
      if (!rec) continue;
      for (const field of Object.keys(rec)) {
        this.state.delete(keyOf({ coll, id, field }));
        const elems = this.elements.get(keyOf({ coll, id, field }));
        for (const e of elems || []) this.state.delete(keyOf({ coll, id, field: `${field}.${e}` }));
        this.elements.delete(keyOf({ coll, id, field }));
      }
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
    const parts = split(c.coll, c.field);
    if (parts !== null) {
      const k = keyOf({ coll: c.coll, id: c.id, field: parts[0] });
      let elems = this.elements.get(k);
      if (!elems) this.elements.set(k, (elems = new Set()));
      elems.add(parts[1]);
      this.#fold(r, c.coll, c.id, parts[0]);
    } else if (isSetField(c.coll, c.field)) {
      this.#fold(r, c.coll, c.id, c.field);
    } else if (c.field !== 'id') r[c.field] = c.value;
  }

  #fold(r, coll, id, field) {
    const listed = this.state.get(keyOf({ coll, id, field }));
    const elems = this.elements.get(keyOf({ coll, id, field }));
    if (!elems) { r[field] = listed.value; return; }
    const winners = new Map();
    for (const e of elems) {
      const w = this.state.get(keyOf({ coll, id, field: `${field}.${e}` }));
      if (w) winners.set(e, [w.hlc, w.value]);
    }
    r[field] = members(listed ? [listed.hlc, listed.value] : undefined, winners);
  }

  #changed() {
    this.version += 1;
    for (const fn of this.listeners) fn(this.version);
  }
}
