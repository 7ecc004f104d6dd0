// The coordinator's home: the inbox first, then incidents (active first) with their
// live counters.
import { h } from '../shared/dom.js';
import { label } from '../shared/i18n.js';
import { ctx } from '../shared/context.js';
import { titleBar, screen } from '../volunteer/screen.js';
import { incidentList } from '../volunteer/model.js';
import { ct } from './strings.js';
import { inbox } from './inbox.js';
import { lt } from './ledger-strings.js';

export function listView() {
  const { replica } = ctx.store;
  const list = incidentList(replica);
  return screen(
    titleBar(ct('title'), { actions: [h('a.small-btn', { href: '#/quarantine' }, ct('quarantine')), h('a.small-btn', { href: '#/ledger' }, lt('title'))] }),
    h('div.home', null,
      inbox(replica),
      h('section.incidents', { 'aria-labelledby': 'incidents-title' },
        h('h2', { id: 'incidents-title' }, ct('incidents')),
        h('a.big.primary.new-incident', { href: '#/new' }, ct('newIncident')),
        list.length ? list.map((inc) => {
          const p = ctx.progress.get(inc.id);
          return h('a.card', { href: `#/i/${inc.id}`, dataset: { incident: inc.id } },
            h('div.card-row', null,
              h('span.badge', null, label('kind', inc.kind || 'other')),
              h('span.badge.istatus', { dataset: { status: inc.status || 'reported' } }, label('istatus', inc.status || 'reported'))),
            h('h3', null, inc.title || '—'),
            p ? h('p.progress-line', null,
              `${ct('affected')} ${p.affected} · ${ct('reached')} ${p.reached} · ${ct('needsOpen')} ${p.needs_open} · ${ct('heatersOut')} ${p.heaters_out} · ${ct('restored')} ${p.restored}`) : null);
        }) : h('p.empty', null, ct('noIncidents')))));
}
