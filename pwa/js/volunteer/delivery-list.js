// Heater loans: hand one over with one tap; mark it returned (or lost) later. When a
// heater is already out with this household the card says who brought it and when
// ("王五 22:53 已送电暖气"), and a second one takes a confirming tap.
import { h, mount, shortTime } from '../shared/dom.js';
import { t, label } from '../shared/i18n.js';
import { toast, handleError } from '../shared/toast.js';
import { deliverHeater, setDeliveryStatus } from './actions.js';

export function deliveryList(incident, household, view) {
  const act = (fn, msg) => async () => {
    try { await fn(); if (msg) toast(msg, { kind: 'ok', ms: 2000 }); } catch (err) { handleError(err, 'delivery'); }
  };
  const out = view.deliveries.filter((d) => d.item === 'heater' && d.status === 'delivered');
  const give = act(() => deliverHeater({ incident, household }), t('delivery.saved'));
  const slot = h('div.heater-slot');
  const ask = () => {
    const s = slot.closest('.screen');
    if (s) s.dataset.static = '1';
    mount(slot,
      h('p.warn-box', null, t('delivery.confirmSecond', { n: out.length })),
      h('div.row', null,
        h('button.big.primary', { type: 'button', onclick: () => { if (s) s.dataset.static = ''; give(); } }, t('delivery.giveAnother')),
        h('button.big', { type: 'button', onclick: () => { if (s) s.dataset.static = ''; mount(slot, button()); } }, t('nav.back'))));
  };
  const button = () => h('button.big.heater-btn', { type: 'button', onclick: out.length ? ask : give },
    out.length ? t('delivery.another') : t('delivery.heater'));
  mount(slot, button());
  return h('div.deliveries', null,
    h('h2.panel-title', null, t('household.deliveries')),
    out.length ? h(`div.warn-box${out.length > 1 ? '.check' : ''}`, { role: 'note', dataset: { testid: 'heater-out' } },
      out.map((d) => h('p', null, t('delivery.outBy', { who: d.by || t('delivery.someone'), time: shortTime(d.at) }))),
      out.length > 1 ? h('p', null, h('strong', null, t('delivery.twoOut', { n: out.length }))) : null) : null,
    slot,
    h('ul.plain', null, view.deliveries.map((d) => h('li.delivery', { dataset: { status: d.status || '' } },
      h('span', null, `${label('item', d.item || 'other')} ×${d.qty || 1} · ${label('dstatus', d.status || 'delivered')} · ${shortTime(d.at)}${d.by ? ` · ${d.by}` : ''}`),
      d.status === 'delivered' ? h('span.row', null,
        h('button.small-btn', { type: 'button', onclick: act(() => setDeliveryStatus(d.id, 'returned')) }, t('delivery.return')),
        h('button.small-btn', { type: 'button', onclick: act(() => setDeliveryStatus(d.id, 'lost')) }, t('delivery.lost'))) : null))));
}
