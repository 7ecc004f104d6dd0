// Words of the ledger upload page: the tables live in ../i18n/ledger.*.js, zh-CN first.
import { getLang } from '../shared/i18n.js';
import zh from '../i18n/ledger.zh-CN.js';
import en from '../i18n/ledger.en.js';

export function lt(key, params) {
  let s = (getLang() === 'en' ? en : zh)[key] ?? zh[key] ?? key;
  if (params) s = s.replace(/\{(\w+)\}/g, (m, k) => (k in params ? String(params[k]) : m));
  return s;
}

/** Every field a column can be imported as (server/ledger/columns.py FIELDS). */
export const FIELDS = [
  'address', 'compound', 'building', 'unit', 'room', 'name', 'phone', 'occupants', 'vulnerable', 'notes',
  'vulnerable:lone_elderly', 'vulnerable:empty_nest', 'vulnerable:disabled', 'vulnerable:infant',
  'vulnerable:medical_device', 'ignore',
];

/** An error of the upload in the page's words (codes from server/ledger). */
export function ledgerError(err) {
  const key = `e.${err?.code}`;
  const s = lt(key);
  return s === key ? lt('e.other', { msg: err?.message || String(err) }) : s;
}

/** Why a row was rejected, in the page's words (its code and params from the server). */
export function rowWhy(r) {
  const key = `r.${r.code}`;
  const params = { ...(r.params || {}) };
  if (params.what) params.what = lt(`w.${params.what}`);
  const s = lt(key, params);
  return s === key ? r.why : s;
}
