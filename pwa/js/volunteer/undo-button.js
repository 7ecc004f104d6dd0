// Undo the last entry while it has not uploaded yet (a wrong tap in a dark stairwell).
// Shown only on the page of the household that entry was about, and only while every
// change of it still waits in the outbox; once the server has answered for one of them the
// entry is shared and is corrected by a new entry instead. The toast names the household
// (#22 D6: on another door's page it silently undid the wrong one).
import { h } from '../shared/dom.js';
import { t } from '../shared/i18n.js';
import { ctx } from '../shared/context.js';
import { toast, handleError } from '../shared/toast.js';
import { entryHousehold, entryKind } from './model.js';

/**
 * @param {string} household the household in view
 * @param {string} where its address, as the title shows it ("3号楼 2 单元 401")
 */
export function undoButton(household, where) {
  const { store } = ctx;
  const ours = () => entryHousehold(store.replica, store.meta.lastWrite) === household;
  const btn = h('button.small-btn.undo', { type: 'button', hidden: true, onclick: async () => {
    try {
      // The last entry may have changed since this page was drawn (another tab).
      const entry = store.meta.lastWrite;
      if (!ours()) { btn.hidden = true; toast(t('undo.gone'), { kind: 'warn', ms: 3000 }); return; }
      // A request in flight may already carry the entry to the server: do not pretend.
      const ok = ctx.syncState?.phase !== 'syncing' && (await store.undoLast());
      const what = t(`undo.what.${entryKind(entry) || 'visits'}`);
      toast(ok ? t('undo.done', { where, what }) : t('undo.gone'), { kind: ok ? 'ok' : 'warn', ms: 4000 });
      if (ok) btn.hidden = true;
    } catch (err) { handleError(err, 'undo'); }
  } }, `↶ ${t('undo.button')}`);
  if (ours()) store.canUndo().then((yes) => { btn.hidden = !yes; }, () => {});
  return btn;
}
