// Who still needs something (a heater, water, a doctor): the list a coordinator acts on.
import { h } from '../shared/dom.js';
import { label, t } from '../shared/i18n.js';
import { ct } from './strings.js';
import { openNeeds } from './model.js';

export function needsList(replica, incident) {
  const rows = openNeeds(replica, incident);
  if (!rows.length) return h('p.muted', null, ct('noNeeds'));
  return h('ul.needs-list', null, rows.map(({ building, household: hh, needs }) =>
    h('li', null,
      h('a', { href: `#/i/${incident.id}/h/${hh.id}` },
        h('strong', null, `${building.label || ''} ${hh.unit ? t('grid.unit', { n: hh.unit }) : ''} ${hh.room || ''}`),
        hh.contact ? h('span.muted', null, ` ${hh.contact}`) : null),
      h('span.needs', null,
        (hh.vulnerable || []).map((v) => h('span.badge.vuln', null, label('vuln', v))),
        needs.map((n) => h('span.badge', null, label('need', n)))))));
}
