// Status and expected time: both reach residents, so each asks first, shows what the
// residents' page will say, and can be undone for a short time.
import { h } from '../shared/dom.js';
import { label } from '../shared/i18n.js';
import { ctx } from '../shared/context.js';
import { handleError } from '../shared/toast.js';
import { ct } from './strings.js';
import { setIncidentFields } from './actions.js';
import { confirmDialog, residentCard } from './confirm-dialog.js';
import { offerUndo } from './undo.js';
import { localInput, localTime } from './time.js';

const STATUSES = ['reported', 'responding', 'repairing', 'restored', 'closed'];
const DONE = new Set(['restored', 'closed']);

/**
 * The incident's fields a change will touch, as they are now (for undo). An element field
 * of a set (`restored_buildings.<id>`) is whether the element is in the folded set.
 */
function before(inc, fields) {
  return Object.fromEntries(Object.keys(fields).map((k) => {
    const i = k.indexOf('.');
    if (i < 0) return [k, inc[k] ?? null];
    const set = inc[k.slice(0, i)];
    return [k, Array.isArray(set) && set.includes(k.slice(i + 1))];
  }));
}

/** Change incident fields after a confirmation with a preview; offer undo after. */
export async function carefully(inc, fields, { title, preview, note, done }) {
  if (!(await confirmDialog({ title, preview, note }))) return false;
  const old = before(inc, fields);
  try {
    await setIncidentFields(inc.id, fields);
  } catch (err) { handleError(err, 'status'); return false; }
  offerUndo(done, () => setIncidentFields(inc.id, old));
  return true;
}

function restoredLine(inc, status) {
  const p = ctx.progress.get(inc.id);
  if (!p) return null;
  const n = DONE.has(status) ? p.affected : p.restored;
  return ct('restoredHh', { n, m: p.affected });
}

function changeStatus(inc, s) {
  const fields = { status: s };
  if (s === 'restored') fields.restored_at = new Date(ctx.store.now()).toISOString();
  const sl = label('istatus', s);
  const eta = inc.eta && !DONE.has(s) ? `${ct('eta')} ${localTime(inc.eta)}` : null;
  return carefully(inc, fields, {
    title: ct('confirmStatus', { s: sl }),
    preview: residentCard([`${ct('status')}：${sl}`, restoredLine(inc, s), eta]),
    done: ct('statusChanged', { s: sl }),
  });
}

export function statusControls(inc) {
  const eta = h('input.eta-input', { type: 'datetime-local', name: 'eta', value: localInput(inc.eta), id: `eta-${inc.id}` });
  return h('section.panel.controls', null,
    h('h2', null, ct('status')),
    h('div.status-steps', { role: 'group', 'aria-label': ct('status') }, STATUSES.map((s) => h(`button.step${inc.status === s ? '.on' : ''}`, {
      type: 'button', dataset: { status: s }, 'aria-pressed': String(inc.status === s),
      onclick: () => { if (inc.status !== s) changeStatus(inc, s); },
    }, label('istatus', s)))),
    h('form.eta-form', {
      onsubmit: (e) => {
        e.preventDefault();
        if (!eta.value) return;
        const at = new Date(eta.value).toISOString();
        carefully(inc, { eta: at }, {
          title: ct('confirmEta'),
          preview: residentCard([`${ct('eta')} ${localTime(at)}`]),
          done: ct('etaChanged'),
        });
      },
    }, h('label', { for: `eta-${inc.id}` }, ct('eta')), eta, h('button.small-btn', { type: 'submit' }, ct('setEta'))));
}
