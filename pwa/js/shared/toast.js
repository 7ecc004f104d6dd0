// Toasts and the one handleError(): a message a volunteer understands, in their language,
// with the technical detail logged for whoever debugs it later.
import { h } from './dom.js';
import { t } from './i18n.js';
import { ApiError, NetworkError } from './api.js';

let host = null;

function region() {
  if (!host) {
    host = h('div.toasts', { role: 'status', 'aria-live': 'polite' });
    document.body.append(host);
  }
  return host;
}

/**
 * Show a short message at the bottom of the screen.
 * @param {string} text
 * @param {{kind?: 'info'|'ok'|'warn'|'error', ms?: number, action?: {label: string, run: Function}}} [opts]
 */
export function toast(text, { kind = 'info', ms = 3500, action } = {}) {
  const el = h(`div.toast.toast-${kind}`, null, h('span', null, text));
  if (action) {
    el.append(h('button.toast-action', { type: 'button', onclick: () => { el.remove(); action.run(); } }, action.label));
  }
  const r = region();
  // At most two toasts on a phone screen: a new one pushes the oldest out, and the same
  // message twice is shown once.
  for (const old of r.children) if (old.textContent === el.textContent) old.remove();
  r.append(el);
  while (r.children.length > 2) r.firstElementChild.remove();
  if (ms > 0) setTimeout(() => el.remove(), ms);
  return el;
}

/** Human message for any error the app can meet. Exported for tests and the settings page. */
export function describeError(err) {
  if (err instanceof NetworkError) return t('error.network');
  if (err instanceof ApiError) {
    if (err.status === 401) return t('error.auth');
    if (err.retryable) return t('error.server');
    return t('error.request', { msg: err.message });
  }
  const name = err?.name || '';
  if (name === 'QuotaExceededError') return t('error.storage');
  if (name === 'ClockDriftError' || name === 'CounterOverflowError') return t('error.clock');
  return t('error.unknown', { msg: err?.message || String(err) });
}

/**
 * The one error sink of the app: never throws, never fails silently.
 * @param {unknown} err
 * @param {string} [context] what the app was doing, for the log
 */
export function handleError(err, context = '') {
  console.error(`[doorstep] ${context}`, err);
  try {
    const kind = err instanceof NetworkError ? 'warn' : 'error';
    toast(describeError(err), { kind, ms: 6000 });
  } catch (e) {
    console.error('[doorstep] could not show error', e);
  }
}
