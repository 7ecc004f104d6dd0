// A modal question before a change that reaches residents: what changes, and what the
// residents' page will show. Resolves true on confirm, false on cancel or Escape.
import { h } from '../shared/dom.js';
import { ct } from './strings.js';

/**
 * @param {{title: string, preview?: Node|string|null, note?: string, ok?: string}} opts
 * @returns {Promise<boolean>}
 */
export function confirmDialog({ title, preview = null, note = '', ok = ct('confirm') }) {
  return new Promise((resolve) => {
    const heading = h('h2.dlg-title', { id: 'dlg-title' }, title);
    const dlg = h('dialog.dlg', { 'aria-labelledby': 'dlg-title' },
      heading,
      preview ? h('div.dlg-preview', null, h('p.dlg-see', null, ct('residentsSee')), preview) : null,
      note ? h('p.dlg-note', null, note) : null,
      h('div.dlg-actions', null,
        h('button.big', { type: 'button', value: 'no', onclick: () => dlg.close('no') }, ct('cancel')),
        h('button.big.primary', { type: 'button', value: 'yes', onclick: () => dlg.close('yes') }, ok)));
    dlg.addEventListener('close', () => { dlg.remove(); resolve(dlg.returnValue === 'yes'); });
    document.body.append(dlg);
    dlg.showModal();
  });
}

/** What a resident's status line shows, for a preview. */
export function residentCard(lines) {
  return h('div.resident-preview', null, lines.filter(Boolean).map((l) => h('p', null, l)));
}
