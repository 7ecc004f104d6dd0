// The repair log of an incident: add a repair (place, what), move it open → working → done.
import { h, shortTime } from '../shared/dom.js';
import { t, label } from '../shared/i18n.js';
import { ctx } from '../shared/context.js';
import { toast, handleError } from '../shared/toast.js';
import { addRepair, setRepairStatus } from './actions.js';
import { repairsOf } from './model.js';
import { screen, titleBar } from './screen.js';

const NEXT = { open: 'working', working: 'done' };

function repairItem(r) {
  const next = NEXT[r.status];
  return h('li.repair', { dataset: { status: r.status || 'open' } },
    h('div.card-row', null,
      h('span.badge.rstatus', { dataset: { status: r.status || 'open' } }, label('rstatus', r.status || 'open')),
      h('span.muted', null, shortTime(r.at))),
    h('strong', null, r.place || ''),
    r.description ? h('p', null, r.description) : null,
    r.done_at ? h('p.muted', null, t('repairs.doneAt', { time: shortTime(r.done_at) })) : null,
    next ? h('button.big', {
      type: 'button',
      onclick: async () => { try { await setRepairStatus(r.id, next); } catch (err) { handleError(err, 'repair status'); } },
    }, next === 'working' ? t('repairs.start') : t('repairs.finish')) : null);
}

export function repairLogView(incidentId) {
  const { replica } = ctx.store;
  const inc = replica.get('incidents', incidentId);
  const place = h('input', { name: 'place', maxLength: 200, placeholder: inc?.place || '' });
  const description = h('textarea', { name: 'description', rows: 3, maxLength: 4000 });
  const hold = () => { el.dataset.static = place.value || description.value ? '1' : ''; };
  place.addEventListener('input', hold);
  description.addEventListener('input', hold);
  const submit = async (e) => {
    e.preventDefault();
    if (!place.value.trim() && !description.value.trim()) { place.focus(); return; }
    try {
      await addRepair({ incident: incidentId, place: place.value.trim(), description: description.value.trim() });
      place.value = ''; description.value = ''; el.dataset.static = '';
      toast(t('visit.saved'), { kind: 'ok', ms: 2000 });
      ctx.redraw?.();
    } catch (err) { handleError(err, 'add repair'); }
  };
  const repairs = repairsOf(replica, incidentId);
  const el = screen(
    titleBar(`${t('repairs.title')} · ${inc?.title || inc?.place || ''}`, { back: `/i/${incidentId}` }),
    h('form.form', { onsubmit: submit },
      h('h2.panel-title', null, t('repairs.add')),
      h('label.field', null, h('span.field-label', null, t('repairs.place')), place),
      h('label.field', null, h('span.field-label', null, t('repairs.description')), description),
      h('button.big.primary', { type: 'submit' }, t('repairs.save'))),
    repairs.length ? h('ul.plain.repairs', null, repairs.map(repairItem)) : h('p.muted', null, t('repairs.empty')));
  return el;
}
