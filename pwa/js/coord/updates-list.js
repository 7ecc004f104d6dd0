// The incident's updates, newest first, marked public or internal, each with 修改 and (a
// public one) 撤回 (#22 D10): a mistaken public update can leave a resident's details on
// the residents' page, so it can be taken back; their pages drop or replace it live.
import { h } from '../shared/dom.js';
import { ctx } from '../shared/context.js';
import { handleError, toast } from '../shared/toast.js';
import { ct } from './strings.js';
import { localTime } from './time.js';
import { retractUpdate } from './record-actions.js';
import { confirmDialog, residentCard } from './confirm-dialog.js';
import { editForm, editing } from './update-form.js';

async function retract(u) {
  const ok = await confirmDialog({ title: ct('retractTitle'), preview: residentCard([ct('retractGone')]), ok: ct('retract') });
  if (!ok) return;
  try {
    await retractUpdate(u.id);
    toast(ct('retracted'), { kind: 'ok' });
  } catch (err) { handleError(err, 'retract update'); }
}

function item(u) {
  if (editing.has(u.id)) return h('li', { dataset: { update: u.id } }, editForm(u));
  return h('li', { dataset: { update: u.id } },
    h('span.muted', null, localTime(u.at), ' '),
    h(`span.badge${u.public ? '.pub' : ''}`, null, u.public ? ct('publicTag') : ct('internal')),
    h('p', null, u.text),
    h('div.row.update-actions', null,
      h('button.small-btn', { type: 'button', onclick: () => { editing.set(u.id, u.text || ''); ctx.redraw?.(true); } }, ct('editUpdate')),
      u.public ? h('button.small-btn.danger', { type: 'button', onclick: () => retract(u) }, ct('retract')) : null));
}

export function updatesList(replica, inc) {
  const list = replica.all('updates').filter((u) => u.incident === inc.id && u._deleted !== true)
    .sort((a, b) => String(b.at).localeCompare(String(a.at)));
  return h('ol.updates', null, list.map(item));
}
