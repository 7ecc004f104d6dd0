// Web Push for residents: a service worker scoped to /r/ and a subscription per link.
const key = (token) => `doorstep.push.${token}`;

function b64ToBytes(b64) {
  const s = atob(b64.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (b64.length % 4)) % 4));
  return Uint8Array.from(s, (c) => c.charCodeAt(0));
}

export function pushSupported() {
  return 'serviceWorker' in navigator && 'PushManager' in window && 'Notification' in window;
}

export function pushState(token) {
  if (!pushSupported()) return 'unsupported';
  try { return localStorage.getItem(key(token)) === '1' ? 'on' : 'off'; } catch { return 'off'; }
}

async function registration() {
  return navigator.serviceWorker.register('/resident-sw.js', { scope: '/r/' });
}

async function post(url, body) {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  if (!res.ok) throw new Error(`HTTP ${res.status}`);
}

/** Subscribe this browser to the incident behind `token`; returns 'on' or an error code. */
export async function subscribe(token, publicKey) {
  if (Notification.permission === 'denied') return 'denied';
  const permission = await Notification.requestPermission();
  if (permission !== 'granted') return 'denied';
  const reg = await registration();
  await navigator.serviceWorker.ready;
  let sub = await reg.pushManager.getSubscription();
  if (!sub) sub = await reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: b64ToBytes(publicKey) });
  await post(`/api/v1/public/${encodeURIComponent(token)}/push`, sub.toJSON());
  try { localStorage.setItem(key(token), '1'); } catch { /* stays on server-side */ }
  return 'on';
}

export async function unsubscribe(token) {
  const reg = await navigator.serviceWorker.getRegistration('/r/');
  const sub = await reg?.pushManager.getSubscription();
  if (sub) await post(`/api/v1/public/${encodeURIComponent(token)}/push/unsubscribe`, { endpoint: sub.endpoint });
  try { localStorage.removeItem(key(token)); } catch { /* nothing to forget */ }
  return 'off';
}
