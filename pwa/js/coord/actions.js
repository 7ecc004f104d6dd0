// A coordinator's writes. Like a volunteer's, each is a set of field changes stamped with
// the device's HLC, stored locally and pushed by the sync loop (POST /api/v1/sync).
import { uuidv7 } from '../shared/uuidv7.js';
import { ctx } from '../shared/context.js';

export const iso = (ms) => new Date(ms).toISOString();

/** Stamp and store field changes `[coll, id, {field: value}]`; the sync loop pushes them. */
export async function write(records) {
  const edits = records.flatMap(([coll, id, fields]) =>
    Object.entries(fields).map(([field, value]) => ({ coll, id, field, value })));
  const changes = await ctx.store.write(edits);
  ctx.afterWrite?.();
  return changes;
}

/** Open an incident over whole buildings; returns its id. */
export async function openIncident({ kind, title, summary, buildings, community }) {
  const now = ctx.store.now();
  const id = uuidv7(now);
  // The coordinator's own incident needs no acknowledging in the inbox.
  const fields = { kind, title, status: 'reported', buildings, started_at: iso(now), ack_at: iso(now) };
  if (ctx.store.meta.auth?.person) fields.ack_by = ctx.store.meta.auth.person;
  if (summary) fields.summary = summary;
  if (community) fields.community = community;
  await write([['incidents', id, fields]]);
  return id;
}

/** Move the status; `restored` also stamps restored_at. */
export function setStatus(id, status) {
  const fields = { status };
  if (status === 'restored') fields.restored_at = iso(ctx.store.now());
  return write([['incidents', id, fields]]);
}

/** Write these incident fields as they are (an undo puts back what was there). */
export function setIncidentFields(id, fields) {
  return write([['incidents', id, fields]]);
}

/** A coordinator saw a field report: it leaves the inbox on every dashboard. */
export function acknowledge(id) {
  const fields = { ack_at: iso(ctx.store.now()) };
  if (ctx.store.meta.auth?.person) fields.ack_by = ctx.store.meta.auth.person;
  return write([['incidents', id, fields]]);
}

/**
 * Give a household's open needs to a volunteer (person id), or to nobody (null), with a
 * note for them. The household assignment `<person>~<household>` puts that household on
 * the volunteer's phone (docs/security.md); the previous assignee's is taken back.
 */
export function assignNeeds(incident, household, person, { previous = null, note = '' } = {}) {
  const records = [['household_status', `${incident}~${household}`,
    { assignee: person || null, assigned_at: person ? iso(ctx.store.now()) : null, task_note: person ? note || null : null }]];
  if (previous && previous !== person) records.push(['assignments', `${previous}~${household}`, { household: null }]);
  if (person) records.push(['assignments', `${person}~${household}`, { person, household }]);
  return write(records);
}

/** Set a household's open needs (an empty list: done). */
export function setNeeds(incident, household, needs) {
  return write([['household_status', `${incident}~${household}`, { needs_open: needs }]]);
}

export function setEta(id, eta) {
  return write([['incidents', id, { eta }]]);
}

export function setScope(id, buildings) {
  return write([['incidents', id, { buildings }]]);
}

/** A progress update, public (residents see it) or internal. */
export async function postUpdate(incident, text, isPublic) {
  const now = ctx.store.now();
  const id = uuidv7(now);
  await write([['updates', id, { incident, at: iso(now), text, public: Boolean(isPublic) }]]);
  return id;
}

/**
 * Give a volunteer a building or a whole incident, or take it back (active=false: their
 * phone deletes what it no longer may hold at its next sync). Id `<person>~<target>`.
 * @param {'building'|'incident'} kind
 */
export function setAssignment(person, kind, target, active) {
  return write([['assignments', `${person}~${target}`, { person, [kind]: target, active: Boolean(active) }]]);
}
