// The building board: every household a cell, coloured by its state in the incident —
// the picture a coordinator looks at instead of reading lists. One delegated listener.
import { h } from '../shared/dom.js';
import { t, label } from '../shared/i18n.js';
import { go } from '../shared/router.js';
import { ct } from './strings.js';
import { incidentScope, householdView, indexes, isRestored } from './model.js';

// Each its own colour (app.css --s-*); 拒绝 (refused to open the door) is not 不在家, and
// 已搬走 is not 已联系 (#22 D5). The white dot marks a vulnerable household (#22 D22).
const STATES = ['none', 'not_home', 'refused', 'moved', 'reached', 'help', 'heater'];

export function legend() {
  return h('div.legend', { role: 'group', 'aria-label': t('grid.legend') },
    STATES.map((s) => h('span.legend-item', null, h(`i.swatch.t-${s}`), label('hstate', s))),
    h('span.legend-item', null, h('i.swatch.sw-vuln'), t('grid.legendVuln')),
    h('span.legend-item', null, h('i.swatch.sw-restored'), ct('legendRestored')));
}

export function board(replica, incident) {
  const idx = indexes(replica);
  const scope = incidentScope(replica, incident, idx);
  return h('div.board', {
    onclick: (e) => {
      const cell = e.target.closest('.cell');
      if (cell) go(`/i/${incident.id}/h/${cell.dataset.h}`);
    },
  }, scope.map(({ building, units }) => h('section.b-block', { dataset: { building: building.id } },
    h('h3.b-label', null, building.label || building.id),
    units.map(({ unit, households }) => h('div.b-unit', null,
      h('span.b-unit-label', null, unit ? t('grid.unit', { n: unit }) : ''),
      h('div.cells', null, households.map((hh) => {
        const v = householdView(replica, incident.id, hh.id, idx);
        const vuln = Array.isArray(hh.vulnerable) && hh.vulnerable.length > 0;
        const restored = isRestored(replica, incident, hh.id, building.id);
        return h(`button.cell.t-${v.state}${vuln ? '.vuln' : ''}${restored ? '.restored' : ''}`, {
          type: 'button', dataset: { h: hh.id, state: v.state },
          'aria-label': `${building.label || ''} ${hh.room || ''} ${label('hstate', v.state)}${restored ? ` · ${ct('legendRestored')}` : ''}`,
        }, hh.room || '·');
      })))))));
}
