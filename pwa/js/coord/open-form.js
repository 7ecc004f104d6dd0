// Open an incident: kind, title, summary and scope — buildings chosen from the replica,
// households affected counted as the coordinator ticks them.
import { h } from '../shared/dom.js';
import { label } from '../shared/i18n.js';
import { ctx } from '../shared/context.js';
import { go } from '../shared/router.js';
import { handleError, toast } from '../shared/toast.js';
import { titleBar, screen } from '../volunteer/screen.js';
import { ct } from './strings.js';
import { openIncident } from './actions.js';
import { indexes, byText } from './model.js';

const KINDS = ['heating_outage', 'water_outage', 'pipe_burst', 'leak', 'power_outage', 'other'];

// What the coordinator has entered so far. Until a building is ticked the form redraws as
// buildings arrive (a ledger just imported, a first load on its way) and keeps it; from the
// first tick it holds still, as every form does. Cleared once the incident is opened.
let draft = { kind: KINDS[0], title: '', summary: '', chosen: new Set() };

export function openForm() {
  const { replica } = ctx.store;
  const idx = indexes(replica);
  const buildings = replica.all('buildings').sort((a, b) => byText(a.label, b.label));
  const kind = h('select', { name: 'kind' }, KINDS.map((k) => h('option', { value: k, selected: k === draft.kind }, label('kind', k))));
  const title = h('input', { name: 'title', maxlength: 200, required: true, value: draft.title });
  const summary = h('textarea', { name: 'summary', rows: 3, maxlength: 4000 });
  summary.value = draft.summary;
  const count = h('strong.affected-count', null, ct('affectedN', { n: 0 }));
  const boxes = buildings.map((b) => h('input', { type: 'checkbox', name: 'building', value: b.id, checked: draft.chosen.has(b.id) }));
  const recount = () => {
    let n = 0;
    boxes.forEach((box) => { if (box.checked) n += (idx.households.get(box.value) || []).length; });
    count.textContent = ct('affectedN', { n });
  };
  const scope = h('fieldset.scope', { onchange: recount },
    h('legend', null, ct('scope')),
    buildings.map((b, i) => {
      const n = (idx.households.get(b.id) || []).length;
      const units = new Set((idx.households.get(b.id) || []).map((x) => x.unit)).size;
      return h('label.scope-row', null, boxes[i], h('span', null, b.label || b.id),
        h('span.muted', null, ` ${ct('units', { n: units })} · ${n} ${ct('households')}`));
    }));
  const keep = () => {
    draft = { kind: kind.value, title: title.value, summary: summary.value,
      chosen: new Set(boxes.filter((b) => b.checked).map((b) => b.value)) };
    el.dataset.static = draft.chosen.size ? '1' : '';
  };
  const form = h('form.panel.open-form', {
    oninput: keep, onchange: keep,
    onsubmit: async (e) => {
      e.preventDefault();
      const chosen = boxes.filter((b) => b.checked).map((b) => b.value);
      if (!chosen.length) { toast(ct('chooseBuildings'), { kind: 'warn' }); return; }
      try {
        const community = replica.get('buildings', chosen[0])?.community;
        const id = await openIncident({ kind: kind.value, title: title.value.trim(), summary: summary.value.trim(), buildings: chosen, community });
        draft = { kind: KINDS[0], title: '', summary: '', chosen: new Set() };
        toast(ct('opened'), { kind: 'ok' });
        go(`/i/${id}`);
      } catch (err) { handleError(err, 'open incident'); }
    },
  },
  h('label', null, ct('kind'), kind), h('label', null, ct('name'), title),
  h('label', null, ct('summary'), summary), scope, count,
  h('button.big.primary', { type: 'submit' }, ct('open')));
  recount();
  const el = screen(titleBar(ct('newIncident'), { back: '/' }), form);
  el.dataset.static = draft.chosen.size ? '1' : '';
  return el;
}
