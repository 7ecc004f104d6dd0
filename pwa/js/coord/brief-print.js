// The printable daily brief: the same figures as the XLSX, laid out for paper.
import { h, mount } from '../shared/dom.js';
import { label } from '../shared/i18n.js';
import { handleError } from '../shared/toast.js';
import { titleBar, screen } from '../volunteer/screen.js';
import { ct } from './strings.js';
import { getJson } from './http.js';
import { briefUrl } from './brief.js';
import { localTime } from './time.js';

const COUNTS = [
  ['affected', 'affected'], ['visited', 'visited'], ['reached', 'reached'], ['vulnerable', 'vulnerable'],
  ['vulnerable_reached', 'vulnReached'], ['needs_open', 'needsOpen'], ['heaters_out', 'heatersOut'], ['restored', 'restored'],
];

function table(head, rows) {
  return h('table.brief-table', null, h('thead', null, h('tr', null, head.map((x) => h('th', { scope: 'col' }, x)))),
    h('tbody', null, rows.map((r) => h('tr', null, r.map((c) => h('td', null, c))))));
}

/** One timeline entry in the coordinator's language (the server's `text` is Chinese). */
export function timelineText(x) {
  switch (x.kind) {
    case 'status': return ct('tlStatus', { s: x.value ? label('istatus', x.value) : ct('tlCleared') });
    case 'eta': return ct('tlEta', { t: x.value ? localTime(x.value) : ct('tlCleared') });
    case 'buildings': return ct('tlBuildings', { n: x.names.length, names: x.names.join(ct('tlSep')) || ct('tlNone') });
    case 'building': return ct(x.restored ? 'tlBuilding' : 'tlBuildingOff', { b: x.name });
    case 'repair': return ct('tlRepair', { what: x.what, s: x.status ? label('rstatus', x.status) : '' });
    case 'repair_done': return ct('tlRepairDone', { what: x.what });
    default: return x.text;
  }
}

function render(b) {
  const c = b.counts;
  return [
    h('p.muted', null, `${label('kind', b.incident.kind || 'other')} · ${label('istatus', b.incident.status || 'reported')} · ${b.day} · ${ct('briefMade')} ${localTime(b.made_at)}`),
    h('p.muted.brief-span', null, ct('briefSpan', { from: localTime(b.day_start), to: localTime(b.day_end) })),
    h('h2', null, ct('briefCounts'), ' ', h('span.muted', null, ct('briefAsOf', { t: localTime(b.counts_at) }))),
    h('dl.brief-counts', null, COUNTS.map(([k, w]) => h('div', null, h('dt', null, ct(w)), h('dd', null, String(c[k] ?? 0))))),
    h('p', null, ct('buildingsRestored', { n: c.buildings_restored, m: c.buildings })),
    h('h2', null, ct('briefHeaters')),
    table([ct('delivered'), ct('returned'), ct('lost'), ct('heatersOut')], [[b.heaters.delivered, b.heaters.returned, b.heaters.lost, c.heaters_out].map(String)]),
    h('h2', null, ct('briefRepairs')),
    b.timeline.length ? table([ct('time'), ct('description')], b.timeline.map((x) => [localTime(x.at), timelineText(x)])) : h('p.muted', null, ct('briefNone')),
    h('h2', null, ct('briefUpdates')),
    b.updates.length ? table([ct('time'), ct('updateText')], b.updates.map((x) => [localTime(x.at), x.text])) : h('p.muted', null, ct('briefNone')),
  ];
}

export function briefPrintView(id, day) {
  const body = h('div.print-area.brief-print', null, h('p.loading', null, ct('loading')));
  let title = h('span', null, ct('briefTitle'));
  getJson(briefUrl(id, day, 'json')).then((b) => {
    title.textContent = `${b.incident.title || ''} ${ct('briefTitle')}`;
    mount(body, render(b));
  }, (err) => { handleError(err, 'brief'); mount(body, h('p.error-box', null, String(err.message || err))); });
  const el = screen(titleBar('', { back: `/i/${id}/brief`, actions: [h('button.small-btn.no-print', { type: 'button', onclick: () => window.print() }, ct('print'))] }), body);
  el.querySelector('h1').append(title);
  el.dataset.static = '1';
  return el;
}
