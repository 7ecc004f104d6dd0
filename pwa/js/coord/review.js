// Review screens: rejected changes (the quarantine) and one household's edit history,
// including the writes that lost (who wrote what, when).
import { h, mount, shortTime } from '../shared/dom.js';
import { label } from '../shared/i18n.js';
import { ctx } from '../shared/context.js';
import { handleError, toast } from '../shared/toast.js';
import { titleBar, screen } from '../volunteer/screen.js';
import { ct } from './strings.js';
import { getJson, post } from './http.js';

export function quarantineView() {
  const body = h('div', null, h('p.loading', null, '…'));
  const load = () => getJson('/api/v1/quarantine').then((rows) => mount(body, rows.length
    ? h('ul.review', null, rows.map((r) => h('li.panel', { dataset: { qid: String(r.qid) } },
      h('p', null, h('strong', null, r.error), ' · ', r.name || ct('unknownPerson'), ' · ', shortTime(r.received_at)),
      h('p', null, r.message),
      h('code.raw', null, r.raw),
      h('button.small-btn', {
        type: 'button',
        onclick: () => post(`/api/v1/quarantine/${r.qid}/resolve`).then(() => { toast(ct('resolved'), { kind: 'ok' }); load(); }, (e) => handleError(e, 'resolve')),
      }, ct('resolve')))))
    : h('p.empty', null, ct('nothing'))), (err) => handleError(err, 'quarantine'));
  load();
  const el = screen(titleBar(ct('quarantine'), { back: '/' }), body);
  el.dataset.static = '1';
  return el;
}

function fieldRows(rows) {
  return rows.map((r) => h(`li${r.winner ? '.win' : '.lost'}`, null,
    h('code', null, `${r.field} = ${JSON.stringify(r.value)}`), ' ',
    h(`span.badge${r.winner ? '.pub' : ''}`, null, r.winner ? ct('winner') : ct('overwritten')), ' ',
    h('span.muted', null, ct('by', { who: r.name || r.node, at: shortTime(r.hlc.slice(0, 24)) }))));
}

export function householdHistoryView(incidentId, householdId) {
  const hh = ctx.store.replica.get('households', householdId);
  const body = h('div', null, h('p.loading', null, '…'));
  const enc = encodeURIComponent;
  const visits = ctx.store.replica.all('visits').filter((v) => v.household === householdId)
    .sort((a, b) => String(b.at).localeCompare(String(a.at)));
  Promise.all([
    getJson(`/api/v1/records/households/${enc(householdId)}/history`),
    getJson(`/api/v1/records/household_status/${enc(`${incidentId}~${householdId}`)}/history`),
  ]).then(([own, status]) => mount(body,
    h('h2', null, ct('history')),
    own.length || status.length ? h('ul.history', null, fieldRows([...status, ...own])) : h('p.muted', null, ct('noHistory')),
    h('h2', null, ct('visits')),
    h('ul.history', null, visits.map((v) => h('li', null, shortTime(v.at), ' · ', label('outcome', v.outcome),
      (v.needs || []).map((n) => h('span.badge', null, label('need', n))), v.note ? h('p.muted', null, v.note) : null)))),
  (err) => handleError(err, 'history'));
  const el = screen(titleBar(`${hh?.room || ''} ${hh?.contact || ''}`.trim() || '—', { back: `/i/${incidentId}` }), body);
  el.dataset.static = '1';
  return el;
}
