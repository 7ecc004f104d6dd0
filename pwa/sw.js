// Doorstep service worker: precache the app shell under a versioned cache, serve it
// offline, drop old caches on activate, wait for the user before switching versions.
// VERSION and SHELL are written by `node pwa/tools/stamp-sw.mjs` (a test checks they
// match the files); change a shell file → new VERSION → browsers install the update.
/* eslint-env serviceworker */
const VERSION = '854b73064982';
const SHELL = [
  "/icons/icon-192.png",
  "/icons/icon-512.png",
  "/icons/icon.svg",
  "/index.html",
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
