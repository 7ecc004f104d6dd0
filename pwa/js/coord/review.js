// Review screens: rejected changes (the quarantine) and one household's edit history,
// including the writes that lost (who wrote what, when).
import { h, mount } from '../shared/dom.js';
import { label } from '../shared/i18n.js';
import { ctx } from '../shared/context.js';
import { handleError, toast } from '../shared/toast.js';
import { errorWords } from '../shared/api.js';
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
      h('p', null, errorWords(r.error)),
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

/** Who recorded a visit or a delivery: its `by`, else the writer of its first change. */
async function recorders(entries) {
  const names = new Map();
  await Promise.all(entries.filter((e) => !e.rec.by).slice(0, 40).map((e) =>
    getJson(`/api/v1/records/${e.coll}/${encodeURIComponent(e.rec.id)}/history`).then((rows) => {
      const first = [...rows].sort((a, b) => String(a.hlc).localeCompare(String(b.hlc)))[0];
      if (first?.name) names.set(e.rec.id, first.name);
    }, () => {})));
  return (e) => e.rec.by || names.get(e.rec.id) || ct('byNobody');
}

/** Visits and deliveries of one household, newest first, each with who recorded it (D7). */
function doorLog(householdId) {
  const { replica } = ctx.store;
  const mine = (coll) => replica.all(coll).filter((r) => r.household === householdId && r._deleted !== true)
    .map((rec) => ({ coll, rec }));
  return [...mine('visits'), ...mine('deliveries')].sort((a, b) => String(b.rec.at).localeCompare(String(a.rec.at)));
}

function doorLine(e, who) {
  const r = e.rec;
  const at = localTime(r.at);
  if (e.coll === 'deliveries') {
    return h('li', { dataset: { coll: 'deliveries' } }, ct('deliveryLine', {
      at, who: who(e), item: label('item', r.item || 'other'), qty: r.qty || 1, status: label('dstatus', r.status || 'delivered'),
    }));
  }
  return h('li', { dataset: { coll: 'visits' } }, ct('visitLine', { at, who: who(e), what: label('outcome', r.outcome || 'reached') }),
    ' ', (r.needs || []).map((n) => h('span.badge', null, label('need', n))), r.note ? h('p.muted', null, r.note) : null);
}

export function householdHistoryView(incidentId, householdId) {
  knownPeople();
  const hh = ctx.store.replica.get('households', householdId);
  const body = h('div', null, h('p.loading', null, ct('loading')));
  const enc = encodeURIComponent;
  const entries = doorLog(householdId);
  Promise.all([
    getJson(`/api/v1/records/households/${enc(householdId)}/history`),
    getJson(`/api/v1/records/household_status/${enc(`${incidentId}~${householdId}`)}/history`),
    recorders(entries),
  ]).then(([own, status, who]) => {
    const lines = historySentences([...status, ...own]);
    mount(body,
      h('section.panel', null,
        (hh?.vulnerable || []).map((v) => h('span.badge.vuln', null, label('vuln', v))),
        hh?.contact ? h('p', null, `${ct('contact')}：${hh.contact}`) : null,
        hh?.notes ? h('p.muted', null, hh.notes) : null),
      h('section.panel', null, h('h2', null, ct('doorLog')),
        entries.length ? h('ul.history.door-log', null, entries.map((e) => doorLine(e, who)))
          : h('p.muted', null, ct('noDoorLog'))),
      h('section.panel', null, h('h2', null, ct('history')),
        lines.length ? h('ul.history', null, lines.map((l) => h(`li${l.winner ? '.win' : '.lost'}`, null, l.text)))
          : h('p.muted', null, ct('noHistory'))));
  }, (err) => handleError(err, 'history'));
  const el = screen(titleBar(where(hh), { back: `/i/${incidentId}` }), body);
  el.dataset.static = '1';
  return el;
}
