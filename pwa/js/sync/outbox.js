// Pure outbox logic: stamping local edits, re-stamping unsent ones, and reading a sync
// answer into "what leaves the outbox". No I/O here, so node --test covers all of it.
//
// Rules (docs/protocol.md):
// * every edit of one field is one change, stamped with clock.send(state, now);
// * an outbox entry leaves only when an answer accounts for it: accepted (not listed in
//   `rejected`) or rejected; `clock_ahead` rejections are re-stamped and sent again,
//   every other rejection is set aside with its reason, never dropped;
// * a clock that ran more than MAX_DRIFT_MS ahead of the corrected wall time (a phone whose
//   clock was fast before the first sync measured the offset) is pulled back to `now`, and
//   the unsent changes are re-stamped in their original order: nobody has seen them, and
//   the server would refuse them anyway.
import { send, formatStamp, parse, receive, MAX_DRIFT_MS, ClockDriftError } from './clock.js';

export const WIRE_FIELDS = ['coll', 'id', 'field', 'value', 'hlc'];

/** Only the five wire fields: the server forbids unknown fields in a change. */
export function toWire(change) {
  return { coll: change.coll, id: change.id, field: change.field, value: change.value, hlc: change.hlc };
}

/** True when `clock` is so far ahead of `now` that send() would refuse to stamp. */
export function clockTooFarAhead(clock, now) {
  return clock.millis - now > MAX_DRIFT_MS;
}

/** Pull a runaway clock back to `now` (keeps the node). */
export function clampClock(clock, now) {
  return clockTooFarAhead(clock, now) ? { millis: Math.floor(now), counter: 0, node: clock.node } : clock;
}

/**
 * Stamp edits `{coll, id, field, value}` in order.
 * @returns {{clock: object, changes: object[]}}
 */
export function stampEdits(clock, now, edits) {
  let c = clampClock(clock, now);
  const changes = edits.map((e) => {
    c = send(c, Math.floor(now));
    return { coll: e.coll, id: e.id, field: e.field, value: e.value, hlc: formatStamp(c) };
  });
  return { clock: c, changes };
}

/**
 * Give unsent changes fresh stamps, keeping their relative order.
 * @returns {{clock: object, pairs: Array<[object, object]>}} [old, new] per change
 */
export function restamp(clock, now, changes) {
  const sorted = [...changes].sort((a, b) => (a.hlc < b.hlc ? -1 : a.hlc > b.hlc ? 1 : 0));
  const { clock: next, changes: fresh } = stampEdits({ ...clock, millis: Math.min(clock.millis, Math.floor(now)) }, now, sorted);
  return { clock: next, pairs: sorted.map((old, i) => [old, fresh[i]]) };
}

/**
 * Read a sync answer against the changes that were sent.
 * A rejection names its change by `index` (position in the request) and `hlc`; index is
 * trusted when it points at a change with that hlc, otherwise hlc is used.
 * @returns {{accepted: string[], rejected: object[], clockAhead: object[], unknown: object[]}}
 */
export function settle(sent, answer) {
  const byHlc = new Map(sent.map((c) => [c.hlc, c]));
  const rejectedHlcs = new Set();
  const rejected = [];
  const clockAhead = [];
  const unknown = [];
  for (const r of answer.rejected || []) {
    let change = Number.isInteger(r.index) ? sent[r.index] : undefined;
    if (!change || (r.hlc && change.hlc !== r.hlc)) change = r.hlc ? byHlc.get(r.hlc) : change;
    if (!change) { unknown.push(r); continue; }
    if (rejectedHlcs.has(change.hlc)) continue;
    rejectedHlcs.add(change.hlc);
    if (r.error === 'clock_ahead') clockAhead.push(change);
    else rejected.push({ change: toWire(change), error: r.error, message: r.message || r.error });
  }
  const accepted = sent.filter((c) => !rejectedHlcs.has(c.hlc)).map((c) => c.hlc);
  return { accepted, rejected, clockAhead, unknown };
}

/**
 * The offset to add to Date.now() to get server time, from one round trip:
 * the server stamped `serverTime` somewhere between `sentAt` and `receivedAt`.
 */
export function measureOffset(serverTime, sentAt, receivedAt) {
  const server = Date.parse(serverTime);
  if (Number.isNaN(server)) return null;
  return Math.round(server - (sentAt + receivedAt) / 2);
}

/**
 * Fold the greatest remote stamp of a pull into the clock, so the next local stamp sorts
 * after everything this device has seen. Own-node stamps (our changes echoed back) and
 * stamps too far ahead are skipped: the merge still applies them, only the clock ignores them.
 */
export function observe(clock, now, changes) {
  let best = null;
  for (const c of changes) {
    if (c.hlc && c.hlc.slice(-16) !== clock.node && (!best || c.hlc > best)) best = c.hlc;
  }
  if (!best) return clock;
  try {
    return receive(clock, parse(best), Math.floor(now));
  } catch (err) {
    // A remote stamp far ahead of our corrected clock must not drag our clock with it;
    // any other clock error (overflow, our own node) is a real fault and is raised.
    if (err instanceof ClockDriftError) return clock;
    throw err;
  }
}

/** The rescue file: everything the server has not accepted, as plain JSON. */
export function exportBundle({ outbox, rejected, node, person, at }) {
  return {
    format: 'doorstep-unsent/1',
    exported_at: at,
    node,
    person,
    changes: outbox.map(toWire),
    rejected: rejected.map((r) => ({ ...toWire(r.change), error: r.error, message: r.message, rejected_at: r.at })),
  };
}
