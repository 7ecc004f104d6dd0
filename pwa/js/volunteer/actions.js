// Every write the volunteer screens make. Each action turns one user intent into field
// edits, hands them to the store (stamp + local replica + outbox in one transaction) and
// nudges the sync loop. New event records get UUIDv7 ids; shared state uses the
// deterministic household_status id so two phones update one record.
import { uuidv7 } from '../shared/uuidv7.js';
import { ctx } from '../shared/context.js';
import { householdView, statusId } from './model.js';

const iso = (ms) => new Date(ms).toISOString();

/** Record edits of one record: `fields` {name: value} → one change per field. */
export async function writeRecord(coll, id, fields) {
  const edits = Object.entries(fields).map(([field, value]) => ({ coll, id, field, value }));
  const changes = await ctx.store.write(edits);
  ctx.afterWrite?.();
  return changes;
}

/** Write several records in one transaction: [[coll, id, fields], ...]. */
async function writeMany(records) {
  const edits = records.flatMap(([coll, id, fields]) =>
    Object.entries(fields).map(([field, value]) => ({ coll, id, field, value })));
  const changes = await ctx.store.write(edits);
  ctx.afterWrite?.();
  return changes;
}

/**
 * A door knocked: the visit record, and the household's open needs when the visit found some.
 * @returns {Promise<string>} the visit id
 */
export async function recordVisit({ incident, household, outcome, needs = [], note = '' }) {
  const now = ctx.store.now();
  const id = uuidv7(now);
  const visit = { household, incident, at: iso(now), outcome, needs };
  if (note) visit.note = note;
  const records = [['visits', id, visit]];
  if (needs.length) {
    const open = householdView(ctx.store.replica, incident, household).needsOpen;
    records.push(['household_status', statusId(incident, household), { needs_open: [...new Set([...open, ...needs])] }]);
  }
  await writeMany(records);
  return id;
}

/** Hand over a heater: a delivery, and the household's heater need is met. */
export async function deliverHeater({ incident, household, qty = 1 }) {
  const now = ctx.store.now();
  const id = uuidv7(now);
  const records = [['deliveries', id, { household, incident, item: 'heater', qty, at: iso(now), status: 'delivered' }]];
  const view = householdView(ctx.store.replica, incident, household);
  if (view.needsOpen.includes('heater')) {
    records.push(['household_status', statusId(incident, household), { needs_open: view.needsOpen.filter((n) => n !== 'heater') }]);
  }
  await writeMany(records);
  return id;
}

/** A delivered item comes back (or is lost). */
export function setDeliveryStatus(id, status) {
  return writeRecord('deliveries', id, { status });
}

/** Edit the household's shared status in an incident (needs_open, restored, satisfaction). */
export function saveHouseholdStatus(incident, household, fields) {
  return writeRecord('household_status', statusId(incident, household), fields);
}

/**
 * A volunteer reports a new emergency from the field: status `reported`. Scope (buildings),
 * eta and restoration are the coordinator's to set, so they are not written here.
 */
export async function reportIncident({ community, kind, title, place, summary }) {
  const now = ctx.store.now();
  const id = uuidv7(now);
  const fields = { kind, status: 'reported', started_at: iso(now) };
  if (community) fields.community = community;
  if (title) fields.title = title;
  if (place) fields.place = place;
  if (summary) fields.summary = summary;
  await writeRecord('incidents', id, fields);
  return id;
}

/** A repair against an incident, starting `open`. */
export async function addRepair({ incident, place, description }) {
  const now = ctx.store.now();
  const id = uuidv7(now);
  await writeRecord('repairs', id, { incident, place, description, status: 'open', at: iso(now) });
  return id;
}

/** Move a repair along open → working → done (done stamps done_at). */
export function setRepairStatus(id, status) {
  const fields = { status };
  if (status === 'done') fields.done_at = iso(ctx.store.now());
  return writeRecord('repairs', id, fields);
}
