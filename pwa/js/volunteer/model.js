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

/**
 * What a household looks like in one incident.
 * @returns {{state: 'none'|'not_home'|'refused'|'reached'|'help'|'heater', visits: object[],
 *   deliveries: object[], lastVisit: object|undefined, needsOpen: string[], heatersOut: number,
 *   status: object|undefined}}
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
  let state = 'none';
  if (needsOpen.length) state = 'help';
  else if (heatersOut) state = 'heater';
  else if (lastVisit?.outcome === 'not_home') state = 'not_home';
  else if (lastVisit?.outcome === 'refused') state = 'refused';
  else if (lastVisit) state = 'reached';
  return { state, visits, deliveries, lastVisit, needsOpen, heatersOut, status };
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
        if (v.visits.length) p.visited += 1;
        const reached = v.visits.some((x) => x.outcome === 'reached');
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
