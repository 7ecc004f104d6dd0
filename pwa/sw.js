// Doorstep service worker: precache the app shell under a versioned cache, serve it
// offline, drop old caches on activate, wait for the user before switching versions.
// VERSION and SHELL are written by `node pwa/tools/stamp-sw.mjs` (a test checks they
// match the files); change a shell file → new VERSION → browsers install the update.
/* eslint-env serviceworker */
const VERSION = 'a4986cbbd6b2';
const SHELL = [
  "/css/app.css",
  "/icons/icon-192.png",
  "/icons/icon-512.png",
  "/icons/icon.svg",
  "/index.html",
  "/js/app.js",
  "/js/i18n/access.en.js",
  "/js/i18n/access.zh-CN.js",
  "/js/i18n/coord.en.js",
  "/js/i18n/coord.zh-CN.js",
  "/js/i18n/en.js",
  "/js/i18n/zh-CN.js",
  "/js/shared/api.js",
  "/js/shared/context.js",
  "/js/shared/db.js",
  "/js/shared/dom.js",
  "/js/shared/export.js",
  "/js/shared/i18n.js",
  "/js/shared/router.js",
  "/js/shared/status-line.js",
  "/js/shared/sw-client.js",
  "/js/shared/toast.js",
  "/js/shared/uuidv7.js",
  "/js/sync/clock.js",
  "/js/sync/idb-store.js",
  "/js/sync/loop.js",
  "/js/sync/merge.js",
  "/js/sync/nudge.js",
  "/js/sync/outbox.js",
  "/js/sync/replica.js",
  "/js/sync/sent-log.js",
  "/js/sync/sets.js",
  "/js/sync/snapshot.js",
  "/js/volunteer/actions.js",
  "/js/volunteer/delivery-list.js",
  "/js/volunteer/enroll-view.js",
  "/js/volunteer/household-card.js",
  "/js/volunteer/incident-grid.js",
  "/js/volunteer/incident-list.js",
  "/js/volunteer/model.js",
  "/js/volunteer/needs-editor.js",
  "/js/volunteer/repair-log.js",
  "/js/volunteer/report-form.js",
  "/js/volunteer/screen.js",
  "/js/volunteer/settings-view.js",
  "/js/volunteer/undo-button.js",
  "/js/volunteer/visit-panel.js",
  "/js/volunteer/vulnerability-editor.js",
  "/manifest.webmanifest"
];
const PREFIX = 'doorstep-shell-';
const CACHE = PREFIX + VERSION;
// Never served from cache: the API and anything another page of the product owns.
const NETWORK_ONLY = [/^\/api\//, /^\/healthz$/, /^\/r\//];

self.addEventListener('install', (event) => {
  event.waitUntil((async () => {
    const cache = await caches.open(CACHE);
    // cache: 'no-cache' revalidates with the server, so a new version never precaches stale
    // files, yet files the page has just loaded come back as cheap 304s, not a second download.
    await cache.addAll(SHELL.map((url) => new Request(url, { cache: 'no-cache' })));
    // The very first install has nothing to replace: take over at once.
    if (!self.registration.active) await self.skipWaiting();
  })());
});

self.addEventListener('activate', (event) => {
  event.waitUntil((async () => {
    for (const key of await caches.keys()) {
      if (key.startsWith(PREFIX) && key !== CACHE) await caches.delete(key);
    }
    await self.clients.claim();
  })());
});

self.addEventListener('message', (event) => {
  if (event.data && event.data.type === 'skip-waiting') self.skipWaiting();
});

self.addEventListener('fetch', (event) => {
  const req = event.request;
  if (req.method !== 'GET') return;
  const url = new URL(req.url);
  if (url.origin !== self.location.origin) return;
  if (NETWORK_ONLY.some((re) => re.test(url.pathname))) return;
  if (req.mode === 'navigate') {
    if (url.pathname !== '/' && url.pathname !== '/index.html') return;
    event.respondWith(fromCache('/index.html', req));
    return;
  }
  event.respondWith(fromCache(url.pathname, req));
});

async function fromCache(path, req) {
  const cache = await caches.open(CACHE);
  const hit = await cache.match(path);
  if (hit) return hit;
  return fetch(req);
}

// Background Sync: the network is back. Wake any open page so its sync loop runs now.
self.addEventListener('sync', (event) => {
  if (event.tag !== 'doorstep-sync') return;
  event.waitUntil((async () => {
    const clients = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
    for (const c of clients) c.postMessage({ type: 'sync' });
  })());
});
