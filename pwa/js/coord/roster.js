// The volunteer roster of an incident: who, which buildings, when their phone last
// synced, and how many entries it reported waiting to upload (sent on every sync).
import { h, mount } from '../shared/dom.js';
import { ctx } from '../shared/context.js';
import { handleError } from '../shared/toast.js';
import { ct } from './strings.js';
import { getJson } from './http.js';
import { localTime } from './time.js';
import { byText } from './model.js';

let entries = null; // GET /api/v1/roster: volunteers of the community, last sync, pending
let loadedAt = 0;

function load() {
  loadedAt = Date.now();
  getJson('/api/v1/roster').then((rows) => { entries = rows; ctx.redraw?.(); }, (err) => handleError(err, 'roster'));
}

/** Buildings (labels) of the incident a person is assigned, or all of them for the whole incident. */
function buildingsOf(replica, inc, person) {
  const scope = Array.isArray(inc.buildings) ? inc.buildings : [];
  const whole = replica.get('assignments', `${person}~${inc.id}`)?.active === true;
  const ids = whole ? scope : scope.filter((b) => replica.get('assignments', `${person}~${b}`)?.active === true);
  return ids.map((b) => replica.get('buildings', b)?.label || b).sort(byText);
}

export function roster(replica, inc) {
  if (!entries || Date.now() - loadedAt > 20_000) load();
  const rows = (entries || []).map((e) => ({
    id: e.person, name: e.name || ct('unknownPerson'), last: e.last_seen, pending: e.pending, buildings: buildingsOf(replica, inc, e.person),
  }))
    .sort((a, b) => Number(!a.buildings.length) - Number(!b.buildings.length) || byText(a.name, b.name));
  const body = h('div.table-wrap');
  mount(body, !entries ? h('p.loading', null, ct('loading')) : h('table.roster-table', null,
    h('thead', null, h('tr', null, ['volunteer', 'tabBuildings', 'lastSync', 'pendingUp'].map((k) => h('th', { scope: 'col' }, ct(k))))),
    h('tbody', null, rows.map((p) => h('tr', { dataset: { person: p.id } },
      h('td', { dataset: { label: ct('volunteer') } }, p.name),
      h('td', { dataset: { label: ct('tabBuildings') } }, p.buildings.join('、') || ct('noneAssigned')),
      h('td', { dataset: { label: ct('lastSync') } }, p.last ? localTime(p.last) : ct('neverSynced')),
      h(`td${p.pending ? '.warn-cell' : ''}`, { dataset: { label: ct('pendingUp') } },
        p.pending === null ? ct('pendingUnknown') : p.pending ? ct('pendingN', { n: p.pending }) : ct('allUp')))))));
  return h('section.panel.roster', null, h('h2', null, ct('rosterTitle')), body,
    h('p', null, h('a.small-btn', { href: `#/i/${encodeURIComponent(inc.id)}/assign` }, ct('assign'))));
}
