// What was reported: place, description, who reported it and when. The reporter is the
// person who wrote the record's first fields (from its history on the server).
import { h, mount } from '../shared/dom.js';
import { ct } from './strings.js';
import { getJson } from './http.js';
import { localTime } from './time.js';

const reporters = new Map(); // incident id → {name, at} | 'loading'

function loadReporter(id, coll) {
  if (reporters.has(id)) return reporters.get(id);
  reporters.set(id, 'loading');
  getJson(`/api/v1/records/${coll}/${encodeURIComponent(id)}/history`).then((rows) => {
    const first = rows.filter((r) => r.field === 'title' || r.field === 'kind').sort((a, b) => a.seq - b.seq)[0] || rows[0];
    reporters.set(id, first ? { name: first.name || ct('unknownPerson'), at: first.hlc.slice(0, 24) } : null);
    document.querySelectorAll(`[data-reporter="${CSS.escape(id)}"]`).forEach((el) => fill(el, reporters.get(id)));
  }, () => reporters.delete(id));
  return 'loading';
}

function fill(el, r) {
  mount(el, r && r !== 'loading' ? `${ct('reportedBy')}：${r.name} · ${ct('reportedAt')}：${localTime(r.at)}` : '…');
}

/** Place, description and reporter of an incident, or (``coll`` 'reports') of a field report. */
export function reportDetails(inc, coll = 'incidents') {
  const who = h('p.report-who.muted', { dataset: { reporter: inc.id } });
  fill(who, loadReporter(inc.id, coll));
  return h('div.report', null,
    inc.place ? h('p.report-place', null, h('strong', null, `${ct('place')}：`), inc.place) : null,
    h('p.report-desc', null, h('strong', null, `${ct('description')}：`), inc.summary || ct('noDescription')),
    who);
}
