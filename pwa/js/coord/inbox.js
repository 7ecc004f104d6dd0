// The inbox: what demands a coordinator's attention, shown with a visible alert (and a
// sound, if switched on) until someone acknowledges it: field reports from volunteers
// (incidents nobody acknowledged yet), entries the server rejected (the quarantine), and
// the 需核实 list when it lands.
import { h } from '../shared/dom.js';
import { label } from '../shared/i18n.js';
import { ctx } from '../shared/context.js';
import { handleError, toast } from '../shared/toast.js';
import { ct } from './strings.js';
import { getJson } from './http.js';
import { acknowledge } from './actions.js';
import { reportDetails } from './report-details.js';
import { localTime } from './time.js';
import { chime, soundToggle } from './chime.js';

let rejected = null; // unresolved quarantine rows, refreshed with the inbox
let rejectedAt = 0;
const seen = new Set();

/** Field reports nobody has acknowledged: a volunteer's incident still without ack_at. */
export function unacknowledged(replica) {
  return replica.all('incidents').filter((i) => !i.ack_at && (i.status || 'reported') === 'reported')
    .sort((a, b) => String(b.started_at).localeCompare(String(a.started_at)));
}

function loadRejected() {
  rejectedAt = Date.now();
  getJson('/api/v1/quarantine').then((rows) => { rejected = rows; ctx.redraw?.(); }, (err) => handleError(err, 'quarantine'));
}

/** How many items wait (for the badge in the top bar); rings once per new report. */
export function inboxCount(replica) {
  const reports = unacknowledged(replica);
  let fresh = false;
  for (const r of reports) if (!seen.has(r.id)) { seen.add(r.id); fresh = true; }
  if (fresh && ctx.inboxPrimed) chime();
  ctx.inboxPrimed = true;
  return reports.length + (rejected?.length || 0);
}

function reportCard(inc) {
  return h('li.inbox-item.report-card', { dataset: { incident: inc.id } },
    h('div.card-row', null,
      h('span.badge.istatus', { dataset: { status: 'reported' } }, label('kind', inc.kind || 'other')),
      h('span.muted', null, localTime(inc.started_at))),
    h('h3', null, inc.title || inc.place || '—'),
    reportDetails(inc),
    h('div.row', null,
      h('button.big.primary', {
        type: 'button',
        onclick: () => acknowledge(inc.id).then(() => toast(ct('acked'), { kind: 'ok' }), (e) => handleError(e, 'acknowledge')),
      }, ct('ack')),
      h('a.big', { href: `#/i/${encodeURIComponent(inc.id)}` }, ct('openIt'))));
}

export function inbox(replica) {
  if (!rejected || Date.now() - rejectedAt > 30_000) loadRejected();
  const reports = unacknowledged(replica);
  const bad = rejected?.length || 0;
  const total = reports.length + bad;
  return h('section.inbox', { 'aria-labelledby': 'inbox-title' },
    h('div.inbox-head', null, h('h2', { id: 'inbox-title' }, ct('inbox')), soundToggle()),
    total
      ? h('p.inbox-alert', { role: 'alert' }, ct('inboxAlert', { n: total }))
      : h('p.muted', null, ct('inboxEmpty')),
    reports.length ? h('h3.inbox-sub', null, ct('fieldReports')) : null,
    reports.length ? h('ul.inbox-list', null, reports.map(reportCard)) : null,
    bad ? h('p.inbox-item.rejected', null, ct('rejectedN', { n: bad }), ' ', h('a.small-btn', { href: '#/quarantine' }, ct('review'))) : null,
    // 需核实 (#11): when the server's needs-checking list lands, its entries go here,
    // loaded like the quarantine above and counted in inboxCount().
    h('p.muted.check-placeholder', { dataset: { todo: 'needs-checking' } }, `${ct('checkList')}：${ct('checkPending')}`));
}
