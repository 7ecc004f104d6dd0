// Review screens: rejected changes (the quarantine) and one household's edit history,
// including the writes that lost (who wrote what, when).
import { h, mount } from '../shared/dom.js';
import { label } from '../shared/i18n.js';
import { ctx } from '../shared/context.js';
import { handleError, toast } from '../shared/toast.js';
import { rejectionText } from '../shared/rejections.js';
import { titleBar, screen } from '../volunteer/screen.js';
import { ct } from './strings.js';
import { getJson, post } from './http.js';
import { historySentences } from './history-words.js';
import { localTime } from './time.js';
import { knownPeople } from './people.js';

export function quarantineView() {
  const body = h('div', null, h('p.loading', null, '…'));
  const load = () => getJson('/api/v1/quarantine').then((rows) => mount(body, rows.length
    ? h('ul.review', null, rows.map((r) => h('li.panel', { dataset: { qid: String(r.qid) } },
      h('p', null, h('strong', null, r.field ? ct(`f_${r.field}`) : (r.coll || '')), ' · ', r.name || ct('unknownPerson'), ' · ', localTime(r.received_at)),
      h('p', { title: r.message || '' }, rejectionText(r)),
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

function where(hh) {
  const b = hh && ctx.store.replica.get('buildings', hh.building);
  return [b?.label, hh?.unit ? ct('unitN', { n: hh.unit }) : '', hh?.room].filter(Boolean).join(' ') || '—';
}

export function householdHistoryView(incidentId, householdId) {
  knownPeople();
  const hh = ctx.store.replica.get('households', householdId);
  const body = h('div', null, h('p.loading', null, ct('loading')));
  const enc = encodeURIComponent;
  const visits = ctx.store.replica.all('visits').filter((v) => v.household === householdId)
    .sort((a, b) => String(b.at).localeCompare(String(a.at)));
  Promise.all([
    getJson(`/api/v1/records/households/${enc(householdId)}/history`),
    getJson(`/api/v1/records/household_status/${enc(`${incidentId}~${householdId}`)}/history`),
  ]).then(([own, status]) => {
    const lines = historySentences([...status, ...own]);
    mount(body,
      h('section.panel', null,
        (hh?.vulnerable || []).map((v) => h('span.badge.vuln', null, label('vuln', v))),
        hh?.contact ? h('p', null, `${ct('contact')}：${hh.contact}`) : null,
        hh?.notes ? h('p.muted', null, hh.notes) : null),
      h('section.panel', null, h('h2', null, ct('visits')),
        visits.length ? h('ul.history', null, visits.map((v) => h('li', null, localTime(v.at), ' · ', label('outcome', v.outcome),
          ' ', (v.needs || []).map((n) => h('span.badge', null, label('need', n))), v.note ? h('p.muted', null, v.note) : null)))
          : h('p.muted', null, ct('noHistory'))),
      h('section.panel', null, h('h2', null, ct('history')),
        lines.length ? h('ul.history', null, lines.map((l) => h(`li${l.winner ? '.win' : '.lost'}`, null, l.text)))
          : h('p.muted', null, ct('noHistory'))));
  }, (err) => handleError(err, 'history'));
  const el = screen(titleBar(where(hh), { back: `/i/${incidentId}` }), body);
  el.dataset.static = '1';
  return el;
}
