// "My incidents": every incident this phone can see, active first, with its progress.
import { h } from '../shared/dom.js';
import { t, label } from '../shared/i18n.js';
import { ctx } from '../shared/context.js';
import { incidentList, progress } from './model.js';
import { screen, titleBar } from './screen.js';
import { myTasksLink } from './my-tasks.js';

function incidentCard(replica, inc) {
  const p = progress(replica, inc);
  const community = inc.community ? replica.get('communities', inc.community) : null;
  return h('a.card.incident-card', { href: `#/i/${inc.id}`, dataset: { status: inc.status || 'reported' } },
    h('div.card-row', null,
      h('span.badge.kind', null, label('kind', inc.kind || 'other')),
      h('span.badge.istatus', { dataset: { status: inc.status || '' } }, label('istatus', inc.status || 'reported'))),
    h('h2', null, inc.title || inc.place || label('kind', inc.kind || 'other')),
    community ? h('p.muted', null, community.name) : null,
    p.affected ? h('p', null, t('incidents.affected', { n: p.affected })) : null,
    p.affected ? h('p.progress-line', null, t('incidents.progress', { v: p.visited, r: p.reached, x: p.refused, n: p.help, h: p.heaters })) : null,
    p.affected ? h('div.bar', null, h('span', { style: { width: `${Math.round((100 * p.visited) / p.affected)}%` } })) : null);
}

export function incidentListView() {
  const { replica } = ctx.store;
  const list = incidentList(replica);
  return screen(
    titleBar(t('incidents.title'), {
      actions: [h('a.icon-btn', { href: '#/settings', 'aria-label': t('nav.settings') }, '⚙')],
    }),
    myTasksLink(),
    list.length ? h('div.list', null, list.map((inc) => incidentCard(replica, inc))) : h('p.empty', null, t('incidents.empty')),
    h('a.big.danger.report-btn', { href: '#/report' }, `⚠ ${t('nav.report')}`));
}
