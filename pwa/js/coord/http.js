// The dashboard's requests. Two ways in: a device enrolled with a coordinator invite sends
// its bearer token (in a header, never a URL); a browser that logged in with a password
// (login.html) is authenticated by its HttpOnly session cookie and sends the session's
// CSRF token on every unsafe request.
import { ApiError, NetworkError } from '../shared/api.js';
import { ctx } from '../shared/context.js';

let csrf = '';

/** Remember the CSRF token of the cookie session (from GET /api/v1/session). */
export function setCsrf(token) { csrf = token || ''; }

function headers(method, json) {
  const out = { accept: 'application/json' };
  if (json) out['content-type'] = 'application/json';
  const token = ctx.store?.meta.auth?.token;
  if (token) out.authorization = `Bearer ${token}`;
  else if (method !== 'GET' && csrf) out['x-csrf-token'] = csrf;
  return out;
}

async function request(method, path, body) {
  let res;
  try {
    res = await fetch(path, {
      method, headers: headers(method, body !== undefined), credentials: 'same-origin', cache: 'no-store',
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (err) {
    throw new NetworkError(err);
  }
  let data = null;
  try { data = await res.json(); } catch { /* handled below */ }
  if (!res.ok) throw new ApiError(res.status, data);
  if (data === null) throw new ApiError(res.status, { error: 'bad_answer', message: 'answer was not JSON' });
  return data;
}

export const getJson = (path) => request('GET', path);

/** GET a file (XLSX, CSV) with the same credentials; resolves to {blob, name}. */
export async function getFile(path) {
  let res;
  try {
    res = await fetch(path, { headers: headers('GET', false), credentials: 'same-origin', cache: 'no-store' });
  } catch (err) {
    throw new NetworkError(err);
  }
  if (!res.ok) {
    let data = null;
    try { data = await res.json(); } catch { /* not JSON */ }
    throw new ApiError(res.status, data);
  }
  const cd = res.headers.get('content-disposition') || '';
  const m = /filename\*=UTF-8''([^;]+)/i.exec(cd) || /filename="?([^";]+)"?/i.exec(cd);
  return { blob: await res.blob(), name: m ? decodeURIComponent(m[1]) : 'download' };
}

/** Hand a blob to the browser as a download. */
export function saveBlob(blob, name) {
  const a = document.createElement('a');
  a.href = URL.createObjectURL(blob);
  a.download = name;
  document.body.append(a);
  a.click();
  setTimeout(() => { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
}
export const post = (path, body = {}) => request('POST', path, body);
/** `POST /api/v1/sync` for the sync loop (docs/protocol.md). */
export const sync = (body) => request('POST', '/api/v1/sync', body);

/**
 * The password session of this browser (cookie only, no bearer), or null when there is
 * none. Throws NetworkError when offline: the caller keeps what it has.
 */
export async function cookieSession() {
  // The answer prefetch.js asked for at page load, once; later calls ask afresh.
  const early = globalThis.doorstepSession;
  globalThis.doorstepSession = null;
  let res = early ? await early : null;
  if (!res) {
    try {
      res = await fetch('/api/v1/session', { headers: { accept: 'application/json' }, credentials: 'same-origin', cache: 'no-store' });
    } catch (err) {
      throw new NetworkError(err);
    }
  }
  if (res.status === 401) return null;
  let data = null;
  try { data = await res.json(); } catch { /* handled below */ }
  if (!res.ok || !data) throw new ApiError(res.status, data);
  return data;
}
