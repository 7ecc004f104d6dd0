// The inbox: what demands a coordinator's attention, shown with a visible alert (and a
// sound, if switched on) until someone acknowledges it: field reports from volunteers
// (`reports` nobody acknowledged yet, #22; and incidents volunteers reported before them),
// entries the server rejected (the quarantine), and the 需核实 list when it lands.
// Acknowledged reports not yet attached to an incident stay below, out of the count.
import { h } from '../shared/dom.js';
import { label } from '../shared/i18n.js';
import { ctx } from '../shared/context.js';
import { handleError, toast } from '../shared/toast.js';
import { ct } from './strings.js';
import { getJson } from './http.js';
import { acknowledge } from './actions.js';
import { reportDetails } from './report-details.js';
import { reportCard } from './report-card.js';
import { localTime } from './time.js';
import { chime, soundToggle } from './chime.js';

let rejected = null; // unresolved quarantine rows, refreshed with the inbox
let rejectedAt = 0;
const seen = new Set();

const newest = (a, b) => String(b.at || b.started_at).localeCompare(String(a.at || a.started_at));

/** Field reports nobody has acknowledged: reports without ack_at, and (data from before
 *  reports) a volunteer's incident still `reported` without ack_at. */
export function unacknowledged(replica) {
  return [
    ...replica.all('reports').filter((r) => !r.ack_at && (r.status || 'pending') === 'pending'),
    ...replica.all('incidents').filter((i) => !i.ack_at && (i.status || 'reported') === 'reported'),
  ].sort(newest);
}

/** Reports acknowledged but neither attached to an incident nor turned into one. */
function unlinked(replica) {
  return replica.all('reports').filter((r) => r.ack_at && !r.incident && !['merged', 'converted'].includes(r.status)).sort(newest);
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

function incidentCard(inc) {
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
  const later = unlinked(replica);
  const bad = rejected?.length || 0;
  const total = reports.length + bad;
  return h('section.inbox', { 'aria-labelledby': 'inbox-title' },
    h('div.inbox-head', null, h('h2', { id: 'inbox-title' }, ct('inbox')), soundToggle()),
    total
      ? h('p.inbox-alert', { role: 'alert' }, ct('inboxAlert', { n: total }))
      : h('p.muted', null, ct('inboxEmpty')),
    reports.length ? h('h3.inbox-sub', null, ct('fieldReports')) : null,
    reports.length ? h('ul.inbox-list', null, reports.map((r) => (replica.get('reports', r.id) ? reportCard(replica, r) : incidentCard(r)))) : null,
    later.length ? h('h3.inbox-sub', null, ct('reportsToLink')) : null,
    later.length ? h('ul.inbox-list', null, later.map((r) => reportCard(replica, r))) : null,
    bad ? h('p.inbox-item.rejected', null, ct('rejectedN', { n: bad }), ' ', h('a.small-btn', { href: '#/quarantine' }, ct('review'))) : null,
    // 需核实 (#11): when the server's needs-checking list lands, its entries go here,
    // loaded like the quarantine above and counted in inboxCount().
    h('p.muted.check-placeholder', { dataset: { todo: 'needs-checking' } }, `${ct('checkList')}：${ct('checkPending')}`));
}
