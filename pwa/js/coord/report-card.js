// One field report in the inbox (#22 D18): what, where, who and when, and what the
// coordinator does with it — 确认收到, 并入 a running incident of its community, or 转为事件
// (a new incident over its building). The reporter's name comes from the report's history.
import { h } from '../shared/dom.js';
import { label } from '../shared/i18n.js';
import { go } from '../shared/router.js';
import { handleError, toast } from '../shared/toast.js';
import { ct } from './strings.js';
import { ackReport, attachReport, reportToIncident } from './record-actions.js';
import { reportDetails } from './report-details.js';
import { localTime } from './time.js';

const RUNNING = new Set(['reported', 'responding', 'repairing']);

/** Where a report was seen, as the coordinator reads it: building, compound, place. */
export function reportWhere(replica, report) {
  const b = report.building ? replica.get('buildings', report.building) : null;
  return [b ? [b.compound, b.label].filter(Boolean).join(' ') : null, b ? null : report.compound, report.place]
    .filter(Boolean).join(' · ');
}

function attachControl(replica, report) {
  const incidents = replica.all('incidents')
    .filter((i) => RUNNING.has(i.status || 'reported') && (!report.community || i.community === report.community))
    .sort((a, b) => String(b.started_at).localeCompare(String(a.started_at)));
  if (!incidents.length) return null;
  const pick = h('select', { name: 'attach', 'aria-label': ct('attachTo') },
    incidents.map((i) => h('option', { value: i.id }, `${i.title || label('kind', i.kind || 'other')} · ${localTime(i.started_at)}`)));
  return h('span.attach', null, pick, h('button.big', {
    type: 'button',
    onclick: () => attachReport(report, pick.value).then(() => toast(ct('attached'), { kind: 'ok' }), (e) => handleError(e, 'attach report')),
  }, ct('attach')));
}

async function convert(replica, report) {
  const b = report.building ? replica.get('buildings', report.building) : null;
  const where = b ? [b.compound, b.label].filter(Boolean).join(' ') : '';
  try {
    const id = await reportToIncident(report, {
      title: `${where} ${label('kind', report.kind || 'other')}`.trim(),
      buildings: b ? [b.id] : [],
      community: report.community || b?.community,
    });
    toast(ct('converted'), { kind: 'ok' });
    go(`/i/${encodeURIComponent(id)}`);
  } catch (e) { handleError(e, 'report to incident'); }
}

export function reportCard(replica, report) {
  const pending = !report.ack_at;
  return h('li.inbox-item.report-card', { dataset: { report: report.id } },
    h('div.card-row', null,
      h('span.badge.istatus', { dataset: { status: 'reported' } }, label('kind', report.kind || 'other')),
      h('span.badge', null, ct(pending ? 'rPending' : 'rAcknowledged')),
      h('span.muted', null, localTime(report.at))),
    h('h3', null, reportWhere(replica, report) || '—'),
    reportDetails({ id: report.id, summary: report.text }, 'reports'),
    h('div.row', null,
      pending ? h('button.big.primary', {
        type: 'button',
        onclick: () => ackReport(report).then(() => toast(ct('acked'), { kind: 'ok' }), (e) => handleError(e, 'acknowledge')),
      }, ct('ack')) : null,
      attachControl(replica, report),
      h('button.big', { type: 'button', onclick: () => convert(replica, report) }, ct('toIncident'))));
}
