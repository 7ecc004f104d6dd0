// Report an emergency from the field, offline: a new incident in status `reported`
// that coordinators see the moment it syncs.
import { h } from '../shared/dom.js';
import { t, label } from '../shared/i18n.js';
import { ctx } from '../shared/context.js';
import { go } from '../shared/router.js';
import { toast, handleError } from '../shared/toast.js';
import { reportIncident } from './actions.js';
import { byText } from './model.js';
import { screen, titleBar } from './screen.js';

const KINDS = ['pipe_burst', 'leak', 'water_outage', 'heating_outage', 'power_outage', 'other'];

export function reportFormView() {
  const communities = ctx.store.replica.all('communities').sort((a, b) => byText(a.name, b.name));
  let kind = 'pipe_burst';
  const kindBtns = KINDS.map((k) => h(`button.chip${k === kind ? '.on' : ''}`, {
    type: 'button', dataset: { kind: k },
    onclick: () => { kind = k; kindBtns.forEach((b) => b.classList.toggle('on', b.dataset.kind === k)); },
  }, label('kind', k)));
  const place = h('input', { name: 'place', maxLength: 200, placeholder: t('report.placeholderPlace') });
  const title = h('input', { name: 'title', maxLength: 200 });
  const summary = h('textarea', { name: 'summary', rows: 4, maxLength: 4000 });
  const community = communities.length
    ? h('select', { name: 'community' }, communities.map((c) => h('option', { value: c.id }, c.name || c.id)))
    : null;
  const submit = async (e) => {
    e.preventDefault();
    if (!place.value.trim() && !title.value.trim()) { toast(t('report.need'), { kind: 'warn' }); place.focus(); return; }
    try {
      await reportIncident({
        community: community?.value, kind, place: place.value.trim(),
        title: title.value.trim() || `${place.value.trim()} ${label('kind', kind)}`.trim(), summary: summary.value.trim(),
      });
      toast(t('report.saved'), { kind: 'ok' });
      go('/');
    } catch (err) { handleError(err, 'report incident'); }
  };
  const el = screen(
    titleBar(t('report.title'), { back: '/' }),
    h('form.form', { onsubmit: submit },
      h('div.field', null, h('span.field-label', null, t('report.kind')), h('div.chips', null, kindBtns)),
      h('label.field', null, h('span.field-label', null, t('report.place')), place),
      h('label.field', null, h('span.field-label', null, t('report.titleField')), title),
      h('label.field', null, h('span.field-label', null, t('report.summary')), summary),
      community ? h('label.field', null, h('span.field-label', null, t('report.community')), community) : null,
      h('button.big.danger', { type: 'submit' }, t('report.submit'))));
  el.dataset.static = '1';
  return el;
}
