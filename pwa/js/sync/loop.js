// The sync loop. Its one job is to never stall: every failure ends in a scheduled retry,
// the delay grows but is capped, and there is no retry limit. The logic takes its storage,
// transport and timers as arguments, so node --test drives it without a browser.
//
// One cycle = pages of POST /api/v1/sync until the server has nothing more (`more` false)
// and the outbox holds nothing that was not answered. Per page:
//   1. read up to `batch` outbox entries and the cursor;
//   2. send {node, cursor, changes, limit};
//   3. in ONE local transaction: apply the pulled winners, store the new cursor, drop the
//      entries the answer accounted for, set aside the rejected ones (store.commit);
//   4. clock_ahead rejections: correct the clock (offset already measured from this
//      answer), re-stamp every unsent entry, warn, and go on.
// No answer (network error, 5xx) → nothing changes locally; the same entries go again.
// A new epoch in the answer (server restored from a backup): the page is committed with
// cursor 0, every change of ours the server had accepted in the last 14 days goes back
// into the outbox (sent-log.js), and the cycle goes on: re-send, re-pull from 0.
import { settle, measureOffset } from './outbox.js';
import { epochChanged } from './sent-log.js';
import { ApiError, NetworkError } from '../shared/api.js';

export const IDLE_MS = 60_000;
export const BASE_MS = 2_000;
export const MAX_MS = 5 * 60_000;
export const BATCH = 500;
export const PAGE = 2000;
/** Re-stamp rounds in one cycle before backing off (a server clock far off must not hot-loop). */
export const MAX_RESTAMPS = 3;

/**
 * Delay before the next attempt: IDLE_MS after success, else exponential from BASE_MS,
 * capped at MAX_MS, with jitter in [d/2, d]. Finite for every input: the loop never gives up.
 */
export function nextDelay(failures, random = Math.random) {
  if (!failures || failures < 0) return IDLE_MS;
  const d = Math.min(MAX_MS, BASE_MS * 2 ** Math.min(failures - 1, 20));
  return Math.round(d / 2 + (random() * d) / 2);
}

/** Thrown when the server refuses the device itself (401); the loop waits for re-enrolment. */
export class AuthLostError extends Error {
  constructor(cause) {
    super('device is not (or no longer) enrolled');
    this.name = 'AuthLostError';
    this.revoked = cause?.code === 'revoked';
    this.cause = cause;
  }
}

/**
 * Run one sync cycle.
 * @param {object} deps
 * @param {object} deps.store   pending(n), cursor(), node(), commit(page), restampAll(offset), pendingCount()
 * @param {object} [deps.sentLog]  epoch(), setEpoch(e), remember(changes, at), resend(store, now)
 * @param {(body: object) => Promise<object>} deps.send  POSTs the sync body, returns the answer
 * @param {() => number} [deps.now]
 * @param {(p: object) => void} [deps.onPage]  progress after each committed page
 * @param {number} [deps.batch]
 * @returns {Promise<{pages: number, pushed: number, pulled: number, rejected: number, restamped: number, offset: number|null}>}
 */
export async function syncCycle({ store, send, sentLog = null, now = Date.now, onPage = () => {}, batch = BATCH, limit = PAGE }) {
  const summary = { pages: 0, pushed: 0, pulled: 0, rejected: 0, restamped: 0, offset: null, resent: 0 };
  let restampRounds = 0;
  let size = batch;
  for (;;) {
    const sent = await store.pending(size);
    const cursor = await store.cursor();
    const body = { node: await store.node(), cursor, changes: sent, limit };
    const scope = store.scope ? await store.scope() : null; // access control (#5): what we hold
    if (scope) body.scope = scope;
    if (store.pendingCount) body.pending = await store.pendingCount(); // the coordinator's roster (#12)
    const t0 = now();
    let answer;
    try {
      answer = await send(body);
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) throw new AuthLostError(err);
      if (err instanceof ApiError && err.status === 413 && size > 1) { size = Math.max(1, size >> 1); continue; }
      throw err;
    }
    const offset = measureOffset(answer.server_time, t0, now());
    const { accepted, rejected, clockAhead } = settle(sent, answer);
    const known = sentLog ? await sentLog.epoch() : null;
    const restored = epochChanged(known, answer.epoch);
    if (sentLog && accepted.length) { const ok = new Set(accepted); await sentLog.remember(sent.filter((c) => ok.has(c.hlc)), now()); }
    await store.commit({ sent, accepted, rejected, pulled: answer.changes || [], cursor: restored ? 0 : answer.cursor, offset, at: now(),
      evict: answer.evict || [], scope: answer.scope ?? null });
    if (restored) { // the epoch is stored last: a crash before it re-sends again, harmlessly
      summary.resent += await sentLog.resend(store, now());
      await sentLog.setEpoch(answer.epoch);
      continue;
    }
    if (sentLog && answer.epoch && !known) await sentLog.setEpoch(answer.epoch);
    summary.pages += 1;
    summary.pushed += accepted.length;
    summary.rejected += rejected.length;
    summary.pulled += (answer.changes || []).length;
    if (offset !== null) summary.offset = offset;
    if (clockAhead.length) {
      restampRounds += 1;
      summary.restamped += await store.restampAll(offset ?? 0);
      if (restampRounds > MAX_RESTAMPS) throw new Error('server keeps refusing re-stamped changes as clock_ahead');
    }
    onPage({ ...summary, more: answer.more });
    if (answer.more && answer.cursor === cursor && !(answer.changes || []).length) {
      throw new Error('server said more but the cursor did not move');
    }
    const left = await store.pendingCount();
    const progressed = accepted.length + rejected.length > 0 || clockAhead.length > 0;
    if (!answer.more && (left === 0 || !progressed)) return summary;
  }
}

/**
 * Schedules cycles: now, on trigger() (online event, a local write, Background Sync, a
 * button), and after a delay — IDLE_MS when healthy, backing off after failures, forever.
 * `deps.timers` = {set(fn, ms) → id, clear(id)}; `deps.onState(state)` for the status line.
 */
export class SyncLoop {
  constructor(deps) {
    this.deps = deps;
    this.failures = 0;
    this.running = null;
    this.again = false;
    this.timer = null;
    this.stopped = true;
    this.state = { phase: 'idle', failures: 0, nextAt: null, lastError: null, authLost: false };
  }

  start() { this.stopped = false; this.trigger('start'); }

  stop() { this.stopped = true; if (this.timer !== null) this.deps.timers.clear(this.timer); this.timer = null; }

  /** Run a cycle as soon as possible; if one is running, run another right after it. */
  trigger(reason = 'manual') {
    if (this.stopped) return this.running || Promise.resolve();
    if (this.running) { this.again = true; return this.running; }
    if (this.timer !== null) { this.deps.timers.clear(this.timer); this.timer = null; }
    this.running = this.#run(reason).finally(() => { this.running = null; });
    return this.running;
  }

  async #run(reason) {
    const { now = Date.now, onState = () => {}, onError = () => {}, onAuthLost = () => {}, onSynced = () => {} } = this.deps;
    this.#set({ phase: 'syncing', reason }, onState);
    do {
      this.again = false;
      try {
        const summary = await syncCycle(this.deps);
        this.failures = 0;
        this.#set({ phase: 'idle', failures: 0, lastError: null, lastSync: now() }, onState);
        onSynced(summary);
      } catch (err) {
        if (err instanceof AuthLostError) {
          this.stop();
          this.#set({ phase: 'auth', authLost: true, lastError: err }, onState);
          onAuthLost(err);
          return;
        }
        this.failures += 1;
        this.#set({ phase: 'error', failures: this.failures, lastError: err }, onState);
        onError(err, this.failures);
        this.again = false;
      }
    } while (this.again && !this.stopped);
    this.#schedule(onState, now);
  }

  #schedule(onState, now) {
    if (this.stopped) return;
    const delay = nextDelay(this.failures, this.deps.random);
    this.timer = this.deps.timers.set(() => { this.timer = null; this.trigger('timer'); }, delay);
    this.#set({ nextAt: now() + delay }, onState);
  }

  #set(patch, onState) { this.state = { ...this.state, ...patch }; onState(this.state); }
}
