// One household in one incident: who lives there (as far as this role may see), flags,
// the three-tap visit panel, heater loans, open needs and the visit history.
import { h, shortTime } from '../shared/dom.js';
import { t, label } from '../shared/i18n.js';
import { ctx } from '../shared/context.js';
import { householdView } from './model.js';
import { visitPanel } from './visit-panel.js';
import { needsEditor } from './needs-editor.js';
import { vulnerabilityEditor } from './vulnerability-editor.js';
import { deliveryList } from './delivery-list.js';
import { screen, titleBar } from './screen.js';
import { undoButton } from './undo-button.js';

function facts(hh) {
  return h('div.facts', null,
    hh.occupants != null ? h('span.badge', null, t('household.occupants', { n: hh.occupants })) : null,
    hh.contact ? h('p', null, `${t('household.contact')}: `, h('a', { href: `tel:${hh.contact.replace(/[^\d+]/g, '')}` }, hh.contact)) : null,
    hh.notes ? h('p.notes', null, `${t('household.notes')}: ${hh.notes}`) : null);
}

// Visits and deliveries, newest first: a heater handed over at the door is a contact too
// (#22 D12), so it shows here as the tile and the counters count it.
function history(view) {
  const entries = [
    ...view.visits.map((v) => ({ at: v.at, el: () => visitLine(v) })),
    ...view.deliveries.map((d) => ({ at: d.at, el: () => deliveryLine(d) })),
  ].sort((a, b) => String(b.at ?? '').localeCompare(String(a.at ?? '')));
  if (!entries.length) return h('p.muted', null, t('household.noVisits'));
  return h('ul.plain.history', null, entries.map((e) => e.el()));
}

const visitLine = (v) => h('li', null,
  h('strong', null, label('outcome', v.outcome || 'reached')),
  v.by ? ` · ${v.by}` : '',
  Array.isArray(v.needs) && v.needs.length ? ` · ${v.needs.map((n) => label('need', n)).join('、')}` : '',
  h('span.muted', null, ` · ${shortTime(v.at)}`),
  v.note ? h('p.note-text', null, v.note) : null);

const deliveryLine = (d) => h('li.history-delivery', null,
  h('strong', null, t('household.delivered', { item: label('item', d.item || 'other'), n: d.qty || 1 })),
  d.by ? ` · ${d.by}` : '',
  d.status && d.status !== 'delivered' ? ` · ${label('dstatus', d.status)}` : '',
  h('span.muted', null, ` · ${shortTime(d.at)}`));

export function householdCardView(incidentId, householdId) {
  const { replica } = ctx.store;
  const hh = replica.get('households', householdId);
  const back = `/i/${incidentId}`;
  if (!hh) return screen(titleBar('—', { back }), h('p.empty', null, t('grid.noHouseholds')));
  const b = hh.building ? replica.get('buildings', hh.building) : null;
  const view = householdView(replica, incidentId, householdId);
  const title = [b?.label, hh.unit ? t('grid.unit', { n: hh.unit }) : null, hh.room].filter(Boolean).join(' ');
  return screen(
    titleBar(title, { back, actions: [undoButton(householdId, title)] }),
    h(`div.state-banner.t-${view.state}`, { dataset: { testid: 'hstate' } }, label('hstate', view.state),
      view.needsOpen.length ? ` · ${view.needsOpen.map((n) => label('need', n)).join('、')}` : ''),
    facts(hh),
    vulnerabilityEditor(householdId, hh.vulnerable),
    visitPanel(incidentId, householdId),
    deliveryList(incidentId, householdId, view),
    needsEditor(incidentId, householdId, view),
    h('h2.panel-title', null, t('household.history')),
    history(view));
}
