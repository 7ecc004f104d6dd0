// Undo the last entry while it has not uploaded yet (a wrong tap in a dark stairwell).
// Shown only while every change of that entry still waits in the outbox; once the server
// has answered for one of them the entry is shared and is corrected by a new entry instead.
import { h } from '../shared/dom.js';
import { t } from '../shared/i18n.js';
import { ctx } from '../shared/context.js';
import { toast, handleError } from '../shared/toast.js';

export function undoButton() {
  const btn = h('button.small-btn.undo', { type: 'button', hidden: true, onclick: async () => {
    try {
      // A request in flight may already carry the entry to the server: do not pretend.
      const ok = ctx.syncState?.phase !== 'syncing' && (await ctx.store.undoLast());
      toast(ok ? t('undo.done') : t('undo.gone'), { kind: ok ? 'ok' : 'warn', ms: 3000 });
      if (ok) btn.hidden = true;
    } catch (err) { handleError(err, 'undo'); }
  } }, `↶ ${t('undo.button')}`);
  ctx.store.canUndo().then((yes) => { btn.hidden = !yes; }, () => {});
  return btn;
}
