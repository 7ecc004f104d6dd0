// Residents' service worker, scoped to /r/: shows progress notifications. Nothing is
// cached: the page is only useful live. The payload is worded here, in the language
// the phone prefers, from the structured fields the server sends.
/* eslint-env serviceworker */
const ZH = {
  update: '新进展', status: '状态更新：', eta: '预计恢复时间：',
  s: { reported: '已上报', responding: '已响应', repairing: '抢修中', restored: '已恢复', closed: '已结束' },
};
const EN = {
  update: 'New update', status: 'Status: ', eta: 'Expected back: ',
  s: { reported: 'reported', responding: 'responding', repairing: 'repairing', restored: 'restored', closed: 'closed' },
};

function words() {
  return (self.navigator.language || 'zh-CN').toLowerCase().startsWith('zh') ? ZH : EN;
}

function body(p) {
  const w = words();
  if (p.kind === 'update' && p.text) return p.text;
  if (p.kind === 'status') return w.status + (w.s[p.status] || p.status || '');
  if (p.kind === 'eta' && p.eta) {
    const t = new Date(p.eta);
    const fmt = new Intl.DateTimeFormat(self.navigator.language || 'zh-CN', { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', hour12: false });
    return w.eta + (Number.isNaN(t.getTime()) ? p.eta : fmt.format(t));
  }
  return w.update;
}

self.addEventListener('install', () => self.skipWaiting());
self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()));

self.addEventListener('push', (event) => {
  let p = {};
  try { p = event.data ? event.data.json() : {}; } catch { p = {}; }
  event.waitUntil(self.registration.showNotification(p.title || 'Doorstep', {
    body: body(p), tag: p.tag || 'doorstep', renotify: true, data: { url: p.url || '/' },
    icon: '/icons/icon-192.png',
  }));
});

self.addEventListener('notificationclick', (event) => {
  event.notification.close();
  const url = event.notification.data?.url || '/';
  event.waitUntil((async () => {
    for (const c of await self.clients.matchAll({ type: 'window' })) {
      if (c.url === url && 'focus' in c) return c.focus();
    }
    return self.clients.openWindow(url);
  })());
});
