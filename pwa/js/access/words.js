// One language at a time on the login and devices pages: elements carry data-t (text),
// data-t-label (aria-label); the language button switches every page (shared choice).
import { getLang, setLang, onLangChange } from '../shared/i18n.js';
import zh from '../i18n/access.zh-CN.js';
import en from '../i18n/access.en.js';

export function at(key, params) {
  let s = (getLang() === 'en' ? en : zh)[key] ?? zh[key] ?? key;
  if (params) s = s.replace(/\{(\w+)\}/g, (m, k) => (k in params ? String(params[k]) : m));
  return s;
}

/** Fill the page's words now and whenever the language changes; `extra` redraws the rest. */
export function wordPage(titleKey, extra = () => {}) {
  const apply = () => {
    document.documentElement.lang = getLang();
    document.title = at(titleKey);
    for (const el of document.querySelectorAll('[data-t]')) el.textContent = at(el.dataset.t);
    const btn = document.getElementById('lang');
    if (btn) { btn.textContent = at('lang'); btn.lang = getLang() === 'en' ? 'zh-CN' : 'en'; }
    extra();
  };
  document.getElementById('lang')?.addEventListener('click', () => setLang(getLang() === 'en' ? 'zh-CN' : 'en'));
  onLangChange(apply);
  apply();
}

/** A local time for people ("11-29 22:53"), or the fallback. */
export function local(t, fallback = '') {
  if (!t) return fallback;
  const d = new Date(t);
  if (Number.isNaN(d.getTime())) return String(t);
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}`;
}
