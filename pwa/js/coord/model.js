// Derived views for the dashboard (from the device's replica; the counters themselves come
// from the server's progress events). Reuses the volunteer app's household states.
import { incidentScope, householdView, indexes, byText } from '../volunteer/model.js';

const DONE = new Set(['restored', 'closed']);
const stampTime = (hlc) => (typeof hlc === 'string' ? hlc.slice(0, 24) : '');

/** Households with open needs in an incident, vulnerable first. */
export function openNeeds(replica, incident) {
  const idx = indexes(replica);
  const out = [];
  for (const { building, units } of incidentScope(replica, incident, idx)) {
    for (const { households } of units) {
      for (const hh of households) {
        const v = householdView(replica, incident.id, hh.id, idx);
        if (v.needsOpen.length) out.push({ building, household: hh, needs: v.needsOpen, status: v.status });
      }
    }
  }
  const vuln = (x) => (Array.isArray(x.household.vulnerable) && x.household.vulnerable.length ? 0 : 1);
  return out.sort((a, b) => vuln(a) - vuln(b) || byText(a.building.label, b.building.label) || byText(a.household.room, b.household.room));
}

/** Households whose needs a volunteer closed from their phone (done_at set, none open),
 * newest first. */
export function doneByVolunteers(replica, incident) {
  const idx = indexes(replica);
  const out = [];
  for (const { building, units } of incidentScope(replica, incident, idx)) {
    for (const { households } of units) {
      for (const hh of households) {
        const v = householdView(replica, incident.id, hh.id, idx);
        if (v.status?.done_at && !v.needsOpen.length) out.push({ building, household: hh, status: v.status });
      }
    }
  }
  return out.sort((a, b) => byText(b.status.done_at, a.status.done_at));
}

/** Buildings of the incident whose supply is back (a subset of its scope). */
export function restoredBuildings(incident) {
  const scope = new Set(Array.isArray(incident.buildings) ? incident.buildings : []);
  return new Set((Array.isArray(incident.restored_buildings) ? incident.restored_buildings : []).filter((b) => scope.has(b)));
}

/** Is this household restored (its flag, its building's, or the whole incident's)? */
export function isRestored(replica, incident, householdId, buildingId) {
  if (DONE.has(incident.status)) return true;
  if (buildingId && restoredBuildings(incident).has(buildingId)) return true;
  return replica.get('household_status', `${incident.id}~${householdId}`)?.restored === true;
}

/**
 * Cumulative households reached and restored over time, for the chart: the reached line
 * ends at the counters' `reached` (a reached visit or any delivery).
 * @returns {{reached: Array<[number, number]>, restored: Array<[number, number]>, affected: number}}
 */
export function series(replica, incident) {
  const idx = indexes(replica);
  const firstReached = [];
  const restoredAt = [];
  let affected = 0;
  const incRestored = DONE.has(incident.status) ? Date.parse(incident.restored_at || '') : NaN;
  const byBuilding = restoredBuildings(incident);
  // When each building came back: the stamp of whichever wrote its membership last, its
  // element field `restored_buildings.<id>` or a whole-list write (sync/sets.js).
  const list = replica.winner('incidents', incident.id, 'restored_buildings');
  const buildingAt = (b) => {
    const el = replica.winner('incidents', incident.id, `restored_buildings.${b}`);
    return Date.parse(stampTime((el && (!list || el.hlc > list.hlc) ? el : list)?.hlc));
  };
  for (const { building, units } of incidentScope(replica, incident, idx)) {
    for (const { households } of units) {
      for (const hh of households) {
        affected += 1;
        const v = householdView(replica, incident.id, hh.id, idx);
        // Reached as the counters say (householdView): at its first reached visit or its
        // first delivery, whichever came first (#22 D12).
        const contacts = v.reached ? [...v.visits.filter((x) => x.outcome === 'reached'), ...v.deliveries] : [];
        const times = contacts.map((x) => Date.parse(x.at)).filter(Number.isFinite);
        if (times.length) firstReached.push(Math.min(...times));
        const flag = replica.winner('household_status', `${incident.id}~${hh.id}`, 'restored');
        const own = flag?.value === true ? Date.parse(stampTime(flag.hlc)) : NaN;
        const t = [own, incRestored, byBuilding.has(building.id) ? buildingAt(building.id) : NaN].filter(Number.isFinite);
        if (t.length) restoredAt.push(Math.min(...t));
      }
    }
  }
  const cumulative = (times) => times.sort((a, b) => a - b).map((t, i) => [t, i + 1]);
  return { reached: cumulative(firstReached), restored: cumulative(restoredAt), affected };
}

export { incidentScope, householdView, indexes, byText };
