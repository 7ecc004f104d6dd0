// The coordinator's browser session (cookie, set by POST /api/v1/login). Unsafe requests
// carry the CSRF token the server returned; the session cookie itself is HttpOnly.
import { ApiError, NetworkError } from '../shared/api.js';

let csrf = null;

/**
 * JSON request with the session cookie. Throws NetworkError, or ApiError whose `message`
 * words the server's error code in the page's language.
 */
export async function call(method, path, body) {
  const headers = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET' && csrf) headers['x-csrf-token'] = csrf;
  let res;
  try {
    res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: 'same-origin', cache: 'no-store' });
  } catch (err) {
    throw new NetworkError(err);
  }
  let data = null;
  try { data = await res.json(); } catch { /* not JSON */ }
  if (!res.ok) throw new ApiError(res.status, data);
  return data;
}

/** The current session, or null when not logged in. Remembers its CSRF token. */
export async function currentSession() {
  try {
    const s = await call('GET', '/api/v1/session');
    csrf = s.csrf || null;
    return s;
  } catch (err) {
    if (err.status === 401) return null;
    throw err;
  }
}

export async function login(name, password) {
  const s = await call('POST', '/api/v1/login', { login: name, password, device: navigator.userAgent.slice(0, 80) });
  csrf = s.csrf;
  return s;
}
