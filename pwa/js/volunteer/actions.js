// Every write the volunteer screens make. Each action turns one user intent into field
// edits, hands them to the store (stamp + local replica + outbox in one transaction) and
// nudges the sync loop. New event records get UUIDv7 ids; shared state uses the
// deterministic household_status id so two phones update one record. Set fields (open
// needs, vulnerabilities) are written per element (`needs_open.water: true`), never as a
// whole list, so two phones adding different needs both keep theirs (docs/protocol.md).
import { uuidv7 } from '../shared/uuidv7.js';
import { elementField } from '../sync/sets.js';
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
  if (ctx.store.meta.auth?.name) visit.by = ctx.store.meta.auth.name;
  const records = [['visits', id, visit]];
  if (needs.length) {
    records.push(['household_status', statusId(incident, household), elements('needs_open', needs, true)]);
  }
  await writeMany(records);
  return id;
}

/** Hand over a heater: a delivery, and the household's heater need is met. */
export async function deliverHeater({ incident, household, qty = 1 }) {
  const now = ctx.store.now();
  const id = uuidv7(now);
  const delivery = { household, incident, item: 'heater', qty, at: iso(now), status: 'delivered' };
  if (ctx.store.meta.auth?.name) delivery.by = ctx.store.meta.auth.name;
  const records = [['deliveries', id, delivery]];
  const view = householdView(ctx.store.replica, incident, household);
  if (view.needsOpen.includes('heater')) {
    records.push(['household_status', statusId(incident, household), elements('needs_open', ['heater'], false)]);
  }
  await writeMany(records);
  return id;
}

/** A delivered item comes back (or is lost). */
export function setDeliveryStatus(id, status) {
  return writeRecord('deliveries', id, { status });
}

/** `{"F.e": on}` for each element: the per-element writes of a set field. */
function elements(field, items, on) {
  return Object.fromEntries(items.map((e) => [elementField(field, e), on]));
}

/**
 * Edit the household's shared status in an incident: the needs this person turned on and
 * off (only those: a removal removes only what its author saw), restored, satisfaction.
 */
export function saveHouseholdStatus(incident, household, { added = [], removed = [], ...fields }) {
  return writeRecord('household_status', statusId(incident, household),
    { ...elements('needs_open', added, true), ...elements('needs_open', removed, false), ...fields });
}

/** Mark or unmark one vulnerability of a household (独居老人, 空巢, …): one element write. */
export function setVulnerable(household, kind, on) {
  return writeRecord('households', household, { [elementField('vulnerable', kind)]: on });
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
