// The dashboard's identity when it came through login.html: the browser's password
// session (HttpOnly cookie) is a device with its own HLC node, adopted as `meta.auth`
// with no token; requests then go with the cookie and the CSRF token (http.js).
import { ctx } from '../shared/context.js';
import { NetworkError } from '../shared/api.js';
import { handleError } from '../shared/toast.js';
import { cookieSession, setCsrf } from './http.js';

export const LOGIN = '/login.html?next=/coord.html';

/** The login page, coming back to the screen asked for (`#/i/…`) once logged in. */
export function loginUrl(hash = location.hash) {
  return `/login.html?next=${encodeURIComponent(`/coord.html${hash || ''}`)}`;
}

/**
 * Adopt the browser's password session (if any) as this device's identity: its node
 * stamps the outbox, its person is the writer. A device enrolled with an invite keeps its
 * bearer token. Offline, the last known session is kept and the app works from IndexedDB.
 */
export async function adoptSession() {
  const { store } = ctx;
  const auth = store.meta.auth;
  if (auth?.token) return;
  let s;
  try {
    s = await cookieSession();
  } catch (err) {
    if (!(err instanceof NetworkError)) handleError(err, 'session');
    return;
  }
  if (!s || s.role !== 'coordinator') {
    if (auth?.session) location.assign(LOGIN);
    return;
  }
  setCsrf(s.csrf);
  if (auth?.node !== s.node || auth?.person !== s.person) {
    await store.setAuth({ token: null, session: true, node: s.node, role: s.role, person: s.person, name: s.name, at: new Date().toISOString() });
  }
}
