// zh-CN first, English second. The choice lives in localStorage so the very first paint
// (before IndexedDB opens) is already in the right language.
import zh from '../i18n/zh-CN.js';
import en from '../i18n/en.js';

const DICTS = { 'zh-CN': zh, en };
const KEY = 'doorstep.lang';
let lang = readLang();
const listeners = new Set();

function readLang() {
  try {
    const saved = localStorage.getItem(KEY);
    if (saved && DICTS[saved]) return saved;
  } catch { /* storage blocked (private mode): fall back to zh-CN */ }
  return 'zh-CN';
}

export function getLang() { return lang; }

export function setLang(next) {
  if (!DICTS[next] || next === lang) return;
  lang = next;
  try { localStorage.setItem(KEY, next); } catch { /* keep in memory only */ }
  document.documentElement.lang = next;
  for (const fn of listeners) fn(next);
}

export function onLangChange(fn) { listeners.add(fn); return () => listeners.delete(fn); }

/**
 * Translate `key`, filling `{name}` placeholders from `params`.
 * Missing keys fall back to zh-CN, then to the key itself (visible, never blank).
 */
export function t(key, params) {
  let s = DICTS[lang][key] ?? zh[key] ?? key;
  if (params) s = s.replace(/\{(\w+)\}/g, (m, k) => (k in params ? String(params[k]) : m));
  return s;
}

/** Label of an enumerated value, e.g. label('outcome', 'reached') → 已联系. */
export function label(group, value) {
  return t(`${group}.${value}`);
}
