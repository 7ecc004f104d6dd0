// Heater loans: hand one over with one tap; mark it returned (or lost) later.
import { h, shortTime } from '../shared/dom.js';
import { t, label } from '../shared/i18n.js';
import { toast, handleError } from '../shared/toast.js';
import { deliverHeater, setDeliveryStatus } from './actions.js';

export function deliveryList(incident, household, view) {
  const act = (fn, msg) => async () => {
    try { await fn(); if (msg) toast(msg, { kind: 'ok', ms: 2000 }); } catch (err) { handleError(err, 'delivery'); }
  };
  return h('div.deliveries', null,
    h('h2.panel-title', null, t('household.deliveries')),
    h('button.big.heater-btn', { type: 'button', onclick: act(() => deliverHeater({ incident, household }), t('delivery.saved')) }, t('delivery.heater')),
    h('ul.plain', null, view.deliveries.map((d) => h('li.delivery', { dataset: { status: d.status || '' } },
      h('span', null, `${label('item', d.item || 'other')} ×${d.qty || 1} · ${label('dstatus', d.status || 'delivered')} · ${shortTime(d.at)}`),
      d.status === 'delivered' ? h('span.row', null,
        h('button.small-btn', { type: 'button', onclick: act(() => setDeliveryStatus(d.id, 'returned')) }, t('delivery.return')),
        h('button.small-btn', { type: 'button', onclick: act(() => setDeliveryStatus(d.id, 'lost')) }, t('delivery.lost'))) : null))));
}
