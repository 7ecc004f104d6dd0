// "Undo" for a short time after a change that reached residents: writing back the values
// that were there is itself a change, so it syncs to every screen and stays in history.
import { toast, handleError } from '../shared/toast.js';
import { ct } from './strings.js';

export const UNDO_MS = 15_000;

/** Show `text` with an undo button that runs `revert` (a promise-returning function). */
export function offerUndo(text, revert) {
  toast(text, {
    kind: 'ok', ms: UNDO_MS,
    action: { label: ct('undo'), run: () => revert().then(() => toast(ct('undone'), { kind: 'ok' }), (e) => handleError(e, 'undo')) },
  });
}
