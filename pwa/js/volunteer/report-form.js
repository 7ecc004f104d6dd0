// Report what was seen in the field, offline: a field report (`reports`, #22), not an
// incident. Only the coordinators of its community and the reporter read it; residents see
// nothing of it until a coordinator writes a public update (the form says so).
import { h } from '../shared/dom.js';
import { t, label } from '../shared/i18n.js';
import { ctx } from '../shared/context.js';
import { go } from '../shared/router.js';
import { toast, handleError } from '../shared/toast.js';
import { uuidv7 } from '../shared/uuidv7.js';
import { writeRecord } from './actions.js';
import { byText } from './model.js';
import { screen, titleBar } from './screen.js';

const KINDS = ['pipe_burst', 'leak', 'water_outage', 'heating_outage', 'power_outage', 'other'];

/** The buildings this volunteer works in: assigned ones, and those of incidents assigned as a
 *  whole (their phone holds only their own assignments). */
function myBuildings(replica) {
  const ids = new Set();
  for (const a of replica.all('assignments')) {
    if (a.active !== true) continue;
    if (a.building) ids.add(a.building);
    const inc = a.incident ? replica.get('incidents', a.incident) : null;
    for (const b of Array.isArray(inc?.buildings) ? inc.buildings : []) ids.add(b);
  }
  return [...ids].map((id) => replica.get('buildings', id)).filter(Boolean)
    .sort((a, b) => byText(`${a.compound || ''}${a.label || ''}`, `${b.compound || ''}${b.label || ''}`));
}

/** Save one field report: what, where, who, when; status 待处理 (pending). */
export async function sendReport({ community, kind, text, building, compound, place }) {
  const now = ctx.store.now();
  const id = uuidv7(now);
  const fields = { kind, status: 'pending', at: new Date(now).toISOString() };
  const person = ctx.store.meta.auth?.person;
  if (person) fields.reporter = person;
  for (const [k, v] of Object.entries({ community, text, building, compound, place })) if (v) fields[k] = v;
  await writeRecord('reports', id, fields);
  return id;
}

export function reportFormView() {
  const { replica } = ctx.store;
  const communities = replica.all('communities').sort((a, b) => byText(a.name, b.name));
  const buildings = myBuildings(replica);
  let kind = 'pipe_burst';
  const kindBtns = KINDS.map((k) => h(`button.chip${k === kind ? '.on' : ''}`, {
    type: 'button', dataset: { kind: k },
    onclick: () => { kind = k; kindBtns.forEach((b) => b.classList.toggle('on', b.dataset.kind === k)); },
  }, label('kind', k)));
  const building = buildings.length
    ? h('select', { name: 'building' }, h('option', { value: '' }, t('report.noBuilding')),
      buildings.map((b) => h('option', { value: b.id }, [b.compound, b.label].filter(Boolean).join(' '))))
    : null;
  const compound = h('input', { name: 'compound', maxLength: 200, placeholder: t('report.placeholderCompound') });
  const place = h('input', { name: 'place', maxLength: 200, placeholder: t('report.placeholderPlace') });
  const text = h('textarea', { name: 'summary', rows: 4, maxLength: 4000, 'aria-describedby': 'report-internal' });
  const mine = buildings[0]?.community;
  const community = communities.length
    ? h('select', { name: 'community' },
      communities.map((c) => h('option', { value: c.id, selected: c.id === mine }, c.name || '')))
    : null;
  const submit = async (e) => {
    e.preventDefault();
    const b = building?.value ? replica.get('buildings', building.value) : null;
    if (!b && !place.value.trim() && !compound.value.trim()) {
      toast(t('report.need'), { kind: 'warn' }); place.focus(); return;
    }
    try {
      await sendReport({
        community: b?.community || community?.value, kind, text: text.value.trim(),
        building: b?.id, compound: compound.value.trim() || b?.compound, place: place.value.trim(),
      });
      toast(t('report.saved'), { kind: 'ok' });
      go('/');
    } catch (err) { handleError(err, 'send report'); }
  };
  const el = screen(
    titleBar(t('report.title'), { back: '/' }),
    h('form.form', { onsubmit: submit },
      h('div.field', null, h('span.field-label', null, t('report.kind')), h('div.chips', null, kindBtns)),
      building ? h('label.field', null, h('span.field-label', null, t('report.building')), building) : null,
      h('label.field', null, h('span.field-label', null, t('report.compound')), compound),
      h('label.field', null, h('span.field-label', null, t('report.place')), place),
      h('label.field', null, h('span.field-label', null, t('report.summary')), text,
        h('small.muted.internal-note', { id: 'report-internal' }, t('report.internal'))),
      community ? h('label.field', null, h('span.field-label', null, t('report.community')), community) : null,
      h('button.big.danger', { type: 'submit' }, t('report.submit'))));
  el.dataset.static = '1';
  return el;
}
