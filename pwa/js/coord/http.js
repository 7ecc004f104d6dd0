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
export const post = (path, body = {}) => request('POST', path, body);
/** `POST /api/v1/sync` for the sync loop (docs/protocol.md). */
export const sync = (body) => request('POST', '/api/v1/sync', body);

/**
 * The password session of this browser (cookie only, no bearer), or null when there is
 * none. Throws NetworkError when offline: the caller keeps what it has.
 */
export async function cookieSession() {
  let res;
  try {
    res = await fetch('/api/v1/session', { headers: { accept: 'application/json' }, credentials: 'same-origin', cache: 'no-store' });
  } catch (err) {
    throw new NetworkError(err);
  }
  if (res.status === 401) return null;
  let data = null;
  try { data = await res.json(); } catch { /* handled below */ }
  if (!res.ok || !data) throw new ApiError(res.status, data);
  return data;
}
