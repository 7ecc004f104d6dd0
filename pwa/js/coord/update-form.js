// Posting a progress update: internal by default. Making it public is a deliberate tick,
// and a public post is shown as residents will see it before it goes out. Editing a
// posted one (#22 D10) works the same way: a public edit is previewed before it replaces
// the text on the residents' pages.
import { h } from '../shared/dom.js';
import { ctx } from '../shared/context.js';
import { handleError, toast } from '../shared/toast.js';
import { ct } from './strings.js';
import { postUpdate } from './actions.js';
import { editUpdate } from './record-actions.js';
import { confirmDialog, residentCard } from './confirm-dialog.js';

/** Updates being edited: id → the draft, kept across the dashboard's redraws. */
export const editing = new Map();

function closeEdit(id) {
  editing.delete(id);
  ctx.redraw?.(true);
}

/** The edit form of one posted update, in place of it in the updates list. */
export function editForm(u) {
  const text = h('textarea.update-text', {
    name: 'edit', rows: 3, maxlength: 4000, 'aria-label': ct('editUpdate'),
    oninput: () => editing.set(u.id, text.value),
  }, editing.get(u.id) ?? u.text ?? '');
  const save = async (e) => {
    e.preventDefault();
    const value = text.value.trim();
    if (!value) { text.focus(); return; }
    if (u.public && !(await confirmDialog({ title: ct('confirmEdit'), preview: residentCard([value]), ok: ct('save') }))) return;
    try {
      await editUpdate(u.id, value);
      closeEdit(u.id);
      toast(ct('edited'), { kind: 'ok' });
    } catch (err) { handleError(err, 'edit update'); }
  };
  return h('form.update-edit', { onsubmit: save }, text,
    h('div.row', null,
      h('button.big.primary', { type: 'submit' }, ct('save')),
      h('button.big', { type: 'button', onclick: () => closeEdit(u.id) }, ct('cancel'))));
}

export function updateForm(inc) {
  const text = h('textarea.update-text', { name: 'text', rows: 3, maxlength: 4000, id: 'update-text' });
  const pub = h('input', { type: 'checkbox', name: 'public', id: 'update-public' });
  const preview = h('div.public-preview', { hidden: true, 'aria-live': 'polite' });
  const submit = h('button.big', { type: 'submit' }, ct('postInternal'));
  const refresh = () => {
    preview.hidden = !pub.checked;
    preview.replaceChildren(h('p.dlg-see', null, ct('publicPreview')), residentCard([text.value.trim() || '…']));
    submit.textContent = pub.checked ? ct('postPublic') : ct('postInternal');
    submit.classList.toggle('primary', pub.checked);
  };
  const form = h('form.panel.update-form', {
    oninput: refresh,
    onsubmit: async (e) => {
      e.preventDefault();
      const value = text.value.trim();
      if (!value) { text.focus(); return; }
      const isPublic = pub.checked;
      if (isPublic && !(await confirmDialog({ title: ct('confirmPublic'), preview: residentCard([value]), ok: ct('post') }))) return;
      try {
        await postUpdate(inc.id, value, isPublic);
        text.value = '';
        pub.checked = false;
        refresh();
        toast(ct('posted'), { kind: 'ok' });
      } catch (err) { handleError(err, 'update'); }
    },
  }, h('h2', null, ct('postUpdate')),
  h('label.field-label', { for: 'update-text' }, ct('updateText')), text,
  h('label.check', null, pub, ct('public')),
  h('p.muted.small', null, ct('publicHint')),
  preview, submit);
  form.dataset.static = '1';
  return form;
}
