// 重点人群名单: every vulnerable household of the incident — visited, reached, heater,
// open needs. Filter, sort, print (the page's print style keeps only the list) and export
// as CSV (BOM for Excel; cells a spreadsheet would run as formulas are quoted with ').
// A community's list runs to hundreds of rows: the first screenful is built with the view,
// the rest a batch per task after it (a phone paints the list at once and stays
// responsive); printing first adds whatever is still waiting.
import { h } from '../shared/dom.js';
import { label } from '../shared/i18n.js';
import { ctx } from '../shared/context.js';
import { ct } from './strings.js';
import { incidentScope, householdView, indexes, byText } from './model.js';
import { place, telLink } from './needs-queue.js';
import { saveBlob } from './http.js';

const FILTERS = {
  all: () => true, notVisited: (r) => !r.visited, notReached: (r) => !r.reached,
  needs: (r) => r.needs.length > 0, noHeater: (r) => !r.heaters,
};
const FILTER_WORDS = { all: 'fAll', notVisited: 'fNotVisited', notReached: 'fNotReached', needs: 'fNeeds', noHeater: 'fNoHeater' };
const view = { filter: 'all', sort: 'building' };
/** Rows built with the view (a laptop's screenful; a phone shows four); the rest follow
 * ROWS_BATCH at a time, one short task each. */
export const ROWS_FIRST = 12;
const ROWS_BATCH = 12;
let finishRows = null; // adds the rows still waiting (for print)
globalThis.addEventListener?.('beforeprint', () => finishRows?.());

export function vulnerableRows(replica, inc) {
  const idx = indexes(replica);
  const out = [];
  for (const { building, units } of incidentScope(replica, inc, idx)) {
    for (const { households } of units) {
      for (const hh of households) {
        if (!Array.isArray(hh.vulnerable) || !hh.vulnerable.length) continue;
        const v = householdView(replica, inc.id, hh.id, idx);
        out.push({
          id: hh.id, where: place(building, hh), building: building.label || '', hh,
          who: hh.vulnerable.map((x) => label('vuln', x)).join('、'), contact: hh.contact || '',
          visited: v.visited, reached: v.reached, // the counters' rule (householdView, #22 D12)
          heaters: v.heatersOut, needs: v.needsOpen.map((n) => label('need', n)),
        });
      }
    }
  }
  return out;
}

const yn = (b) => ct(b ? 'yes' : 'no');
const cells = (r) => [r.where, r.who, r.contact, yn(r.visited), yn(r.reached), String(r.heaters || 0), r.needs.join('、')];
const HEAD = ['room', 'who', 'contact', 'visitedQ', 'reachedQ', 'heaterQ', 'needsQ'];

function safe(s) {
  const v = /^[=+\-@\t\r]/.test(s) ? `'${s}` : s;
  return /[",\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v;
}

function download(inc, rows) {
  const lines = [HEAD.map((k) => ct(k)), ...rows.map(cells)].map((r) => r.map(safe).join(','));
  saveBlob(new Blob(['\ufeff', lines.join('\r\n')], { type: 'text/csv;charset=utf-8' }), `${ct('vulnTitle')}-${inc.title || inc.id}.csv`);
}

export function vulnerableList(replica, inc) {
  let rows = vulnerableRows(replica, inc).filter(FILTERS[view.filter]);
  rows = rows.sort((a, b) => (view.sort === 'state' ? Number(a.reached) - Number(b.reached) || b.needs.length - a.needs.length : 0)
    || byText(a.building, b.building) || byText(a.hh.unit, b.hh.unit) || byText(a.hh.room, b.hh.room));
  const redraw = () => ctx.redraw?.(true);
  const pick = (name, value, options, onchange) => h('label.pick', null, ct(name),
    h('select', { name, onchange: (e) => { onchange(e.target.value); redraw(); } },
      options.map(([v, w]) => h('option', { value: v, selected: v === value }, ct(w)))));
  return h('section.panel.vulnerable.print-area', null,
    h('h2', null, ct('vulnTitle'), ' ', h('span.muted', null, `${inc.title || ''} · ${ct('rowsN', { n: rows.length })}`)),
    h('div.v-tools.no-print', null,
      pick('filter', view.filter, Object.entries(FILTER_WORDS), (v) => { view.filter = v; }),
      pick('sort', view.sort, [['building', 'sBuilding'], ['state', 'sState']], (v) => { view.sort = v; }),
      h('button.small-btn', { type: 'button', onclick: () => { finishRows?.(); window.print(); } }, ct('print')),
      h('button.small-btn', { type: 'button', onclick: () => download(inc, rows) }, ct('exportCsv'))),
    rows.length ? h('div.table-wrap', null, h('table.v-table', null,
      h('thead', null, h('tr', null, HEAD.map((k) => h('th', { scope: 'col' }, ct(k))))),
      tableBody(rows)))
      : h('p.muted', null, ct('noVulnerable')));
}

const CONTACT = HEAD.indexOf('contact');
const tr = (r) => h(`tr${r.reached ? '' : '.todo'}`, { dataset: { h: r.id } },
  cells(r).map((c, i) => h('td', { dataset: { label: ct(HEAD[i]) } }, i === CONTACT && c ? telLink(c) : c)));

/** The first ROWS_FIRST rows now, the others in batches after; a redraw drops the rest. */
function tableBody(rows) {
  const body = h('tbody', null, rows.slice(0, ROWS_FIRST).map(tr));
  let next = ROWS_FIRST;
  const more = (n) => {
    const end = Math.min(rows.length, next + n);
    body.append(...rows.slice(next, end).map(tr));
    next = end;
  };
  const finish = () => { if (finishRows === finish) finishRows = null; more(rows.length); };
  const step = () => {
    if (finishRows !== finish) return; // a newer render took over
    if (!body.isConnected) { finishRows = null; return; } // the screen changed
    more(ROWS_BATCH);
    if (next < rows.length) setTimeout(step, 0);
    else finishRows = null;
  };
  if (rows.length > ROWS_FIRST) { finishRows = finish; setTimeout(step, 0); }
  return body;
}
