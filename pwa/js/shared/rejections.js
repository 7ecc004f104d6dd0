// Why the server refused one change, in the user's language (docs/protocol.md, "Rejection
// codes"): the words of its code (i18n `reject.<code>`); the server's English message is
// only a detail (a tooltip), never the text a volunteer reads.
import { t } from './i18n.js';

/** The words for a rejection `{error, message}`; a code this app does not know is "other". */
export function rejectionText(r) {
  const key = `reject.${r.error}`;
  const words = t(key);
  return words === key ? t('reject.other') : words;
}
