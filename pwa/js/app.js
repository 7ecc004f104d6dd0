// Entry point of the volunteer app: open the local replica, start the sync loop, register
// the service worker, route. Nothing here needs the network: the app opens in a stairwell.
import { ctx } from './shared/context.js';
import { IdbStore } from './sync/idb-store.js';
import { SentLog } from './sync/sent-log.js';
import { SyncLoop } from './sync/loop.js';
import { NudgeStream } from './sync/nudge.js';
import { sync as syncRequest, NetworkError } from './shared/api.js';
import { handleError, toast } from './shared/toast.js';
import { t, onLangChange, getLang } from './shared/i18n.js';
import { renderStatusLine } from './shared/status-line.js';
import { registerServiceWorker, requestBackgroundSync } from './shared/sw-client.js';
import { startRouter, go } from './shared/router.js';
import { h, mount } from './shared/dom.js';
import { enrollView } from './volunteer/enroll-view.js';
import { incidentListView } from './volunteer/incident-list.js';
import { incidentGridView } from './volunteer/incident-grid.js';
import { householdCardView } from './volunteer/household-card.js';
import { reportFormView } from './volunteer/report-form.js';
import { repairLogView } from './volunteer/repair-log.js';
import { settingsView } from './volunteer/settings-view.js';
import { myTasksView } from './volunteer/my-tasks.js';

const view = document.getElementById('view');
const statusEl = document.getElementById('status');
let rerender = () => {};
let current = null;

async function refreshStatus() {
  const { store } = ctx;
  if (!store) return;
  const [{ doors, records: pending }, rejected] = await Promise.all([store.pendingSummary(), store.rejectedCount()]);
  ctx.counts = { pending, rejected };
  renderStatusLine(statusEl, {
    name: store.meta.auth?.name, doors,
    online: navigator.onLine, phase: ctx.syncState?.phase, pending, rejected, lastSync: store.meta.lastSync,
    pulled: ctx.syncState?.phase === 'syncing' ? ctx.pulled : 0,
  });
  statusEl.onclick = () => go('/settings');
}

function show(render) {
  current = render;
  const el = render();
  mount(view, el);
  window.scrollTo(0, 0);
}

function redraw() {
  // Re-render the current screen in place (data changed), keeping the scroll position.
  // A screen the user is typing into is left alone; it reads fresh data on next visit.
  if (!current || view.firstElementChild?.dataset.static === '1') return;
  const y = window.scrollY;
  mount(view, current());
  window.scrollTo(0, y);
}

function needAuth(fn) {
  return (m) => (ctx.store.meta.auth ? show(() => fn(m)) : go('/enroll'));
}

function startSync() {
  const { store } = ctx;
  ctx.loop?.stop();
  const loop = new SyncLoop({
    store,
    sentLog: ctx.sentLog, // re-sends our accepted changes to a restored server (#13)
    send: (body) => syncRequest(store.meta.auth.token, body),
    timers: { set: (fn, ms) => setTimeout(fn, ms), clear: (id) => clearTimeout(id) },
    onState: (s) => { if (s.phase === 'syncing' && ctx.syncState?.phase !== 'syncing') ctx.pulled = 0; ctx.syncState = s; refreshStatus(); },
    onPage: (p) => { ctx.pulled = p.pulled; },
    onError: (err, failures) => {
      // Offline is normal in a stairwell: the status line says it; no toast storm.
      if (!(err instanceof NetworkError) && failures === 1) handleError(err, 'sync');
    },
    onSynced: (summary) => {
      if (summary.restamped) toast(t('settings.clockWarn', { min: Math.round(Math.abs(summary.offset || 0) / 60000) }), { kind: 'warn', ms: 8000 });
      if (summary.rejected) toast(t('status.rejected', { n: summary.rejected }), { kind: 'error', ms: 6000 });
    },
    onAuthLost: async (err) => {
      ctx.nudges?.stop();
      if (err.revoked) await store.wipe();
      toast(err.revoked ? t('enroll.revoked') : t('error.auth'), { kind: 'error', ms: 10000 });
      go('/enroll');
    },
  });
  ctx.loop = loop;
  loop.start();
  // Live while online: another phone's entry in my buildings triggers a sync at once.
  ctx.nudges?.stop();
  ctx.nudges = new NudgeStream({ token: () => store.meta.auth?.token, onNudge: () => loop.trigger('nudge') });
  ctx.nudgeScope = store.meta.scope;
  if (navigator.onLine) ctx.nudges.restart();
}

async function persistStorage() {
  try {
    ctx.persistent = (await navigator.storage?.persisted?.()) || (await navigator.storage?.persist?.()) || false;
  } catch { ctx.persistent = false; }
  if (!ctx.persistent) console.warn('[doorstep] storage is not persistent');
}

async function main() {
  document.documentElement.lang = getLang();
  try {
    ctx.store = await IdbStore.open();
    ctx.sentLog = await SentLog.open().catch((err) => { console.warn('[doorstep] no sent-log', err); return null; });
  } catch (err) {
    handleError(err, 'open local database');
    mount(view, h('p.error-box', null, t('error.unknown', { msg: err.message })));
    return;
  }
  const { store } = ctx;
  let pendingRedraw = false;
  store.replica.subscribe(() => {
    if (pendingRedraw) return;
    pendingRedraw = true;
    requestAnimationFrame(() => { pendingRedraw = false; redraw(); });
  });
  ctx.redraw = redraw;
  store.onChange(() => {
    refreshStatus();
    if (location.hash === '#/settings') redraw();
    // The server scopes the stream when it opens: a new scope (an assignment) reconnects it.
    if (ctx.nudges && store.meta.scope !== ctx.nudgeScope) { ctx.nudgeScope = store.meta.scope; if (navigator.onLine) ctx.nudges.restart(); }
  });
  let nudge = null;
  ctx.afterWrite = () => {
    clearTimeout(nudge);
    nudge = setTimeout(() => ctx.loop?.trigger('write'), 800);
    requestBackgroundSync();
  };
  ctx.onEnrolled = () => { startSync(); go('/'); };
  window.addEventListener('online', () => { refreshStatus(); ctx.loop?.trigger('online'); ctx.nudges?.restart(); });
  window.addEventListener('offline', () => { refreshStatus(); ctx.nudges?.stop(); });
  document.addEventListener('visibilitychange', () => { if (document.visibilityState === 'visible') ctx.loop?.trigger('visible'); });
  onLangChange(() => { document.title = t('app.name'); refreshStatus(); redraw(); });
  document.title = t('app.name');

  rerender = startRouter([
    [/^\/enroll(?:\/([^/]+))?$/, (m) => show(() => enrollView(m[1]))],
    [/^\/settings$/, () => show(() => settingsView())],
    [/^\/report$/, needAuth(() => reportFormView())],
    [/^\/tasks$/, needAuth(() => myTasksView())],
    [/^\/i\/([^/]+)\/repairs$/, needAuth((m) => repairLogView(m[1]))],
    [/^\/i\/([^/]+)\/h\/([^/]+)$/, needAuth((m) => householdCardView(m[1], m[2]))],
    [/^\/i\/([^/]+)$/, needAuth((m) => incidentGridView(m[1]))],
    [/^\/?$/, needAuth(() => incidentListView())],
  ], () => go('/'));
  refreshStatus();
  if (store.meta.auth) startSync();
  persistStorage().then(refreshStatus);
  registerServiceWorker({
    onState: (s) => { ctx.swState = s; },
    onSyncRequest: () => ctx.loop?.trigger('background-sync'),
  });
}

window.addEventListener('unhandledrejection', (e) => handleError(e.reason, 'unhandled'));
main();
export { rerender };
