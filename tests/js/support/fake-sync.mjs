// Test doubles for the sync loop: an in-memory device store with the same interface as
// pwa/js/sync/idb-store.js, and an in-memory server that follows docs/protocol.md
// (per-change judgement, clock_ahead, paging by sequence with `more`).
import { Replica } from '../../../pwa/js/sync/replica.js';
import { initial, stampMillis, stampNode } from '../../../pwa/js/sync/clock.js';
import { stampEdits, restamp, toWire } from '../../../pwa/js/sync/outbox.js';
import { keyOf } from '../../../pwa/js/sync/merge.js';

export class MemoryStore {
  constructor(node, { now = () => Date.now() } = {}) {
    this.replica = new Replica();
    this.outbox = new Map();
    this.rejected = new Map();
    this.meta = { cursor: 0, clock: initial(node), offset: 0, lastSync: null, auth: { node } };
    this.wallNow = now;
    this.commits = 0;
    this.failCommit = null; // set to a function returning true to make a commit fail
  }
  now() { return this.wallNow() + this.meta.offset; }
  async node() { return this.meta.auth.node; }
  async cursor() { return this.meta.cursor; }
  async pending(n = Infinity) { return [...this.outbox.values()].sort((a, b) => (a.hlc < b.hlc ? -1 : 1)).slice(0, n); }
  async pendingCount() { return this.outbox.size; }
  async write(edits) {
    const { clock, changes } = stampEdits(this.meta.clock, this.now(), edits);
    this.meta.clock = clock;
    for (const c of changes) this.outbox.set(c.hlc, c);
    this.replica.applyAll(changes);
    return changes;
  }
  async commit({ accepted, rejected, pulled, cursor, offset, at }) {
    if (this.failCommit?.()) throw new Error('disk full (simulated)');
    for (const h of accepted) this.outbox.delete(h);
    for (const r of rejected) { this.outbox.delete(r.change.hlc); this.rejected.set(r.change.hlc, { ...r, at }); }
    this.replica.applyAll(pulled);
    this.meta.cursor = cursor;
    if (offset !== null) this.meta.offset = offset;
    this.meta.lastSync = at;
    this.commits += 1;
  }
  async restampAll(offset) {
    const { clock, pairs } = restamp(this.meta.clock, this.wallNow() + (offset || 0), [...this.outbox.values()]);
    this.meta.clock = clock;
    for (const [old, fresh] of pairs) { this.outbox.delete(old.hlc); this.outbox.set(fresh.hlc, fresh); }
    this.replica.replaceStamp(pairs);
    return pairs.length;
  }
}

const COLLS = { visits: ['household', 'incident', 'at', 'outcome', 'needs', 'note', '_deleted'],
  household_status: ['needs_open', 'restored', 'satisfaction', '_deleted'],
  households: ['building', 'unit', 'room', '_deleted'] };

export class FakeServer {
  constructor({ now = () => Date.now() } = {}) {
    this.now = now;
    this.seq = 0;
    this.winners = new Map(); // key → {change, seq}
    this.requests = [];
    this.failNext = 0; // number of requests to fail with a network error
    this.status = null; // e.g. {status: 401, body}
  }
  /** Put a change in as if another device had sent it. */
  seed(change) { this.#accept(change); }
  #accept(c) {
    const k = keyOf(c);
    const cur = this.winners.get(k);
    if (!cur || c.hlc > cur.change.hlc) this.winners.set(k, { change: toWire(c), seq: ++this.seq });
  }
  #judge(c) {
    if (!COLLS[c.coll]) return ['unknown_collection', `unknown collection ${c.coll}`];
    if (!COLLS[c.coll].includes(c.field)) return ['unknown_field', `unknown field ${c.coll}.${c.field}`];
    if (c.coll === 'visits' && c.field === 'outcome' && !['reached', 'not_home', 'refused', 'moved'].includes(c.value)) {
      return ['invalid_value', 'visits.outcome must be one of reached, not_home, refused, moved'];
    }
    if (stampMillis(c.hlc) - this.now() > 5 * 60_000) return ['clock_ahead', 'clock is ahead of the server'];
    return null;
  }
  async sync(body, node) {
    this.requests.push(structuredClone(body));
    if (this.failNext > 0) { this.failNext -= 1; const { NetworkError } = await import('../../../pwa/js/shared/api.js'); throw new NetworkError(new Error('offline')); }
    if (this.status) { const { ApiError } = await import('../../../pwa/js/shared/api.js'); throw new ApiError(this.status.status, this.status.body); }
    const rejected = [];
    body.changes.forEach((c, index) => {
      if (stampNode(c.hlc) !== (node ?? body.node)) { rejected.push({ hlc: c.hlc, index, error: 'wrong_node', message: 'wrong node' }); return; }
      const bad = this.#judge(c);
      if (bad) rejected.push({ hlc: c.hlc, index, error: bad[0], message: bad[1] });
      else this.#accept(c);
    });
    const page = [...this.winners.values()].filter((w) => w.seq > body.cursor).sort((a, b) => a.seq - b.seq);
    const limit = body.limit ?? 1000;
    const out = page.slice(0, limit);
    return {
      accepted: body.changes.length - rejected.length, rejected,
      changes: out.map((w) => w.change), cursor: out.length ? out[out.length - 1].seq : body.cursor,
      more: page.length > limit, server_time: new Date(this.now()).toISOString(),
    };
  }
}
