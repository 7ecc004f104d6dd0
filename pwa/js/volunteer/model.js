// Derived views over the replica: what each household's tile shows, incident progress,
// buildings → units → households. Counts are derived, never synced (DESIGN.md). Indexes
// are rebuilt at most once per replica version.

// A zh-CN collator loads ICU's pinyin tables (~11 ms, ~45 ms on a slow phone). Built while
// the modules load, before the first paint: built later (an idle callback), it was one
// more long task after it, which a phone's user feels and Lighthouse counts.
const collator = new Intl.Collator('zh-CN', { numeric: true });
export const byText = (a, b) => collator.compare(String(a ?? ''), String(b ?? ''));
const ACTIVE = { reported: 0, responding: 1, repairing: 2, restored: 3, closed: 4 };

let cache = { replica: null, version: -1, idx: null };

/** Per-household lists of visits and deliveries, and households per building. */
export function indexes(replica) {
  if (cache.replica === replica && cache.version === replica.version) return cache.idx;
  const visits = new Map();
  const deliveries = new Map();
  const households = new Map();
  const push = (m, k, v) => { const a = m.get(k); if (a) a.push(v); else m.set(k, [v]); };
  for (const v of replica.all('visits')) if (v.household) push(visits, v.household, v);
  for (const d of replica.all('deliveries')) if (d.household) push(deliveries, d.household, d);
  for (const h of replica.all('households')) if (h.building) push(households, h.building, h);
  const newestFirst = (a, b) => byText(b.at, a.at);
  for (const a of visits.values()) a.sort(newestFirst);
  for (const a of deliveries.values()) a.sort(newestFirst);
  for (const a of households.values()) a.sort((x, y) => byText(x.unit, y.unit) || byText(x.room, y.room));
  const idx = { visits, deliveries, households };
  cache = { replica, version: replica.version, idx };
  return idx;
}

export const statusId = (incident, household) => `${incident}~${household}`;
// Outcomes of a visit that did not reach anyone, each a state of its own.
const AWAY = new Set(['not_home', 'refused', 'moved']);

/**
 * What a household looks like in one incident. The state follows server/progress.py's
 * counters: `reached` when some visit reached the household or something was delivered at
 * its door (#22 D12: a delivery is a contact), else the latest visit's outcome — 不在家,
 * 拒绝, or 已搬走 (`moved`: visited, not reached, its own colour, #22 D5).
 * @returns {{state: 'none'|'not_home'|'refused'|'moved'|'reached'|'help'|'heater',
 *   visits: object[], deliveries: object[], lastVisit: object|undefined, needsOpen: string[],
 *   heatersOut: number, status: object|undefined, visited: boolean, reached: boolean}}
 */
export function householdView(replica, incident, household, idx = indexes(replica)) {
  const visits = (idx.visits.get(household) || []).filter((v) => !v.incident || v.incident === incident);
  const deliveries = (idx.deliveries.get(household) || []).filter((d) => !d.incident || d.incident === incident);
  const status = replica.get('household_status', statusId(incident, household));
  const lastVisit = visits[0];
  let heatersOut = 0;
  for (const d of deliveries) if (d.item === 'heater' && d.status === 'delivered') heatersOut += d.qty || 1;
  let needsOpen = Array.isArray(status?.needs_open) ? status.needs_open : lastVisit?.needs || [];
  if (!Array.isArray(status?.needs_open) && heatersOut) needsOpen = needsOpen.filter((n) => n !== 'heater');
  const reached = deliveries.length > 0 || visits.some((v) => v.outcome === 'reached');
  const visited = reached || visits.length > 0;
  let state = 'none';
  if (needsOpen.length) state = 'help';
  else if (heatersOut) state = 'heater';
  else if (reached) state = 'reached';
  else if (AWAY.has(lastVisit?.outcome)) state = lastVisit.outcome;
  else if (lastVisit) state = 'reached';
  return { state, visits, deliveries, lastVisit, needsOpen, heatersOut, status, visited, reached };
}

/** Incidents, active first, newest first. */
export function incidentList(replica) {
  return replica.all('incidents').sort((a, b) =>
    (ACTIVE[a.status] ?? 9) - (ACTIVE[b.status] ?? 9) || byText(b.started_at, a.started_at));
}

/** Buildings in an incident's scope, each with its units and their households. */
export function incidentScope(replica, incident, idx = indexes(replica)) {
  const ids = Array.isArray(incident.buildings) ? incident.buildings : [];
  const buildings = ids.map((id) => replica.get('buildings', id)).filter(Boolean).sort((a, b) => byText(a.label, b.label));
  return buildings.map((b) => {
    const units = new Map();
    for (const h of idx.households.get(b.id) || []) {
      const u = h.unit ?? '';
      if (!units.has(u)) units.set(u, []);
      units.get(u).push(h);
    }
    return { building: b, units: [...units].map(([unit, households]) => ({ unit, households })) };
  });
}

/** Progress of an incident as this phone knows it. */
export function progress(replica, incident, idx = indexes(replica)) {
  const p = { affected: 0, visited: 0, reached: 0, refused: 0, help: 0, heaters: 0, vulnerable: 0, vulnerableReached: 0 };
  for (const { units } of incidentScope(replica, incident, idx)) {
    for (const { households } of units) {
      for (const h of households) {
        const v = householdView(replica, incident.id, h.id, idx);
        p.affected += 1;
        if (v.visited) p.visited += 1;
        const { reached } = v;
        const vulnerable = Array.isArray(h.vulnerable) && h.vulnerable.length > 0;
        if (reached) p.reached += 1;
        else if (v.lastVisit?.outcome === 'refused') p.refused += 1;
        if (vulnerable) { p.vulnerable += 1; if (reached) p.vulnerableReached += 1; }
        if (v.state === 'help') p.help += 1;
        p.heaters += v.heatersOut;
      }
    }
  }
  return p;
}

/** Repairs of an incident, newest first. */
export function repairsOf(replica, incidentId) {
  return replica.all('repairs').filter((r) => r.incident === incidentId).sort((a, b) => byText(b.at, a.at));
}

/**
 * The buildings a volunteer works in, as the server scopes them (server/access.py): the
 * targets of their active assignments `<person>~<building>`, every building of an incident
 * they are assigned to whole, and any building whose households the phone holds.
 * @returns {Set<string>}
 */
export function myBuildings(replica, person, idx = indexes(replica)) {
  const mine = new Set(idx.households.keys());
  const prefix = `${person}~`;
  for (const a of replica.all('assignments')) {
    if (!a.id.startsWith(prefix) || a.active !== true) continue;
    const target = a.id.slice(prefix.length);
    if (a.incident !== target) { mine.add(target); continue; }
    const inc = replica.get('incidents', target);
    for (const b of Array.isArray(inc?.buildings) ? inc.buildings : []) mine.add(b);
  }
  return mine;
}

/** The household an entry (the store's `lastWrite`) was about, or null (a report, a repair). */
export function entryHousehold(replica, lastWrite) {
  for (const p of lastWrite?.prior || []) {
    if (p.coll === 'households') return p.id;
    if (p.coll === 'household_status') return p.id.slice(p.id.indexOf('~') + 1);
    if (p.coll === 'visits' || p.coll === 'deliveries') {
      const hh = replica.get(p.coll, p.id)?.household;
      if (hh) return hh;
    }
  }
  return null;
}

/** What an entry was, for the undo toast: a visit, a delivery, a vulnerability mark, needs. */
export function entryKind(lastWrite) {
  const colls = new Set((lastWrite?.prior || []).map((p) => p.coll));
  return ['visits', 'deliveries', 'households', 'household_status'].find((c) => colls.has(c)) || null;
}
