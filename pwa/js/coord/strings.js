// Words of the coordinator's console: the tables live in ../i18n/coord.*.js, zh-CN first.
import { getLang } from '../shared/i18n.js';
import zh from '../i18n/coord.zh-CN.js';
import en from '../i18n/coord.en.js';

export function ct(key, params) {
  let s = (getLang() === 'en' ? en : zh)[key] ?? zh[key] ?? key;
  if (params) s = s.replace(/\{(\w+)\}/g, (m, k) => (k in params ? String(params[k]) : m));
  return s;
}
