// The HTTP client for the server's JSON API. Every failure becomes one of two error
// classes so callers (and handleError) can decide: retry later, or act on a refusal.
// An error's `message` is worded by the page in its language from the server's `error`
// code (js/i18n/errors.*.js); the server's English `message` is kept for the log only.
import { getLang } from './i18n.js';
import zhErrors from '../i18n/errors.zh-CN.js';
import enErrors from '../i18n/errors.en.js';

const ERROR_WORDS = { 'zh-CN': zhErrors, en: enErrors };

/** The words for an error code in the page's language; an unknown code gets the generic sentence. */
export function errorWords(code) {
  const words = ERROR_WORDS[getLang()] || zhErrors;
  return words[code] ?? words.generic;
}

/** The request never got an answer (offline, DNS, connection reset). Retry later. */
export class NetworkError extends Error {
  constructor(cause) {
    super(errorWords('network'));
    this.name = 'NetworkError';
    this.cause = cause;
  }
}

/** The server answered with an error body `{error, message, details}`. */
export class ApiError extends Error {
  constructor(status, body) {
    const code = body?.error || `http_${status}`;
    super(errorWords(code));
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.serverMessage = body?.message || '';
    this.details = body?.details ?? null;
  }
  get retryable() { return this.status >= 500 || this.status === 429 || this.status === 408; }
}

/**
 * POST JSON and return the decoded answer.
 * @param {string} path
 * @param {object} body
 * @param {{token?: string, fetch?: typeof fetch, base?: string}} [opts]
 */
export async function postJson(path, body, { token, fetch: f = globalThis.fetch, base = '' } = {}) {
  const headers = { 'content-type': 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  let res;
  try {
    res = await f(base + path, { method: 'POST', headers, body: JSON.stringify(body), cache: 'no-store' });
  } catch (err) {
    throw new NetworkError(err);
  }
  let data = null;
  try { data = await res.json(); } catch { /* non-JSON (proxy page): handled below */ }
  if (!res.ok) throw new ApiError(res.status, data);
  if (data === null) throw new ApiError(res.status, { error: 'bad_answer', message: 'answer was not JSON' });
  return { data, date: res.headers.get('date') };
}

/** `POST /api/v1/enroll` → `{token, node, role, person}` plus the server's Date header. */
export async function enroll(code, device, opts) {
  const { data, date } = await postJson('/api/v1/enroll', { code, device }, opts);
  return { ...data, serverDate: date };
}

/** `POST /api/v1/sync` → the sync answer (docs/protocol.md). */
export async function sync(token, body, opts) {
  const { data } = await postJson('/api/v1/sync', body, { ...opts, token });
  return data;
}
