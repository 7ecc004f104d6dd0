// Entry of the coordinator's dashboard (coord.html). Same device model as the volunteer
// app: the IndexedDB replica, the HLC-stamped outbox and the sync loop; on top of it the
// live stream (GET /api/v1/events over fetch) applies changes as they sync and carries
// the server's progress counters. The device is either enrolled with a coordinator invite
// (bearer token) or a browser that logged in with a password on login.html (session
// cookie + CSRF; the login made it a device with its own HLC node).
import { ctx } from '../shared/context.js';
import { IdbStore } from '../sync/idb-store.js';
import { SentLog } from '../sync/sent-log.js';
import { SyncLoop } from '../sync/loop.js';
import { NetworkError } from '../shared/api.js';
import { handleError, toast } from '../shared/toast.js';
import { getLang, setLang, onLangChange } from '../shared/i18n.js';
import { renderStatusLine } from '../shared/status-line.js';
import { startRouter, go } from '../shared/router.js';
import { h, mount } from '../shared/dom.js';
import { enrollView } from '../volunteer/enroll-view.js';
import { LiveStream } from './sse.js';
import { getJson, sync as syncRequest } from './http.js';
import { adoptSession, LOGIN, loginUrl } from './session.js';
import { ct } from './strings.js';
import { listView } from './list-view.js';
import { incidentView, patchProgress, completeHead } from './incident-view.js';
import { briefPrintView } from './brief-print.js';
import { inboxCount, unacknowledged } from './inbox.js';
import { openForm } from './open-form.js';
import { quarantineView, householdHistoryView } from './review.js';
import { assignmentsView } from './assignments.js';
import { ledgerView } from './ledger-upload.js';
import { peopleView } from './invite-page.js';
import { needsSnapshot, firstLoad, loadingView, prefetchSnapshot, noteSynced } from './first-load.js';

const view = document.getElementById('view');
const statusEl = document.getElementById('status');
const liveEl = document.getElementById('live');
const langBtn = document.getElementById('lang');
const devicesLink = document.getElementById('devices-link');
const peopleLink = document.getElementById('people-link');
const inboxLink = document.getElementById('inbox-link');
let current = null;
let stale = false;
let drawn = -1; // the replica version the screen last rendered
ctx.progress = new Map();

function show(render) {
  current = render;
  mount(view, render());
  window.scrollTo(0, 0);
}

/** Re-render the current screen; `force` when the coordinator's own pick asked for it. */
function redraw(force = false) {
  refreshInbox();
  if (!current || view.firstElementChild?.dataset.static === '1') return;
  // Never re-render under a coordinator's fingers: wait until they leave the field.
  const typing = document.activeElement?.closest?.('#view input, #view textarea, #view select, dialog');
  if (typing && force !== true) { stale = true; return; }
  const y = window.scrollY;
  drawn = ctx.store?.replica.version ?? -1;
  const fresh = current();
  if (!completeHead(view, fresh)) mount(view, fresh);
  window.scrollTo(0, y);
}

// At most two full redraws a second: a first sync of a whole community applies thousands
// of changes page by page, and the live stream can deliver a burst.
// A redraw asked for by progress counters alone patches them in place (incident-view.js).
const REDRAW_MS = 500;
let pending = false;
let lastDraw = 0;
let countersOnly = true;
function schedule(kind) {
  // A background tab runs no animation frames: its title and chime must not wait for one (D27).
  if (document.hidden && kind !== 'progress') setTimeout(refreshInbox, 0);
  // The first load draws its own stages (first-load.js: the head, then all of it). Its
  // merges, a few records a task, would otherwise redraw the head twice a second.
  if (ctx.loading && kind !== 'progress') return;
  if (kind !== 'progress') countersOnly = false;
  if (pending) return;
  pending = true;
  const wait = Math.max(0, lastDraw + REDRAW_MS - performance.now());
  setTimeout(() => requestAnimationFrame(() => {
    pending = false;
    lastDraw = performance.now();
    const patch = countersOnly;
    countersOnly = true;
    if (patch && current && patchProgress(view)) return;
    // Changes already on screen (a redraw came first) need no second one.
    if (!patch && drawn === ctx.store?.replica.version) { refreshInbox(); return; }
    redraw();
  }), wait);
}

function refreshInbox() {
  if (!ctx.store || ctx.store.meta.auth?.role !== 'coordinator') return;
  const n = inboxCount(ctx.store.replica);
  inboxLink.dataset.count = String(n);
  inboxLink.textContent = n ? `${ct('inbox')} ${n}` : ct('inbox');
  retitle();
}

/** The tab's title counts unacknowledged field reports: "(1) 新上报 · 应急指挥" (D27). */
function retitle() {
  const n = ctx.store?.meta.auth?.role === 'coordinator' ? unacknowledged(ctx.store.replica).length : 0;
  document.title = n ? ct('titleNew', { n }) : ct('title');
}

async function refreshStatus() {
  const { store } = ctx;
  const [count, rejected] = await Promise.all([store.pendingCount(), store.rejectedCount()]);
  renderStatusLine(statusEl, { online: navigator.onLine, phase: ctx.syncState?.phase, pending: count, rejected, lastSync: store.meta.lastSync });
}

function setLive(state) {
  liveEl.dataset.state = state;
  liveEl.textContent = ct(state === 'live' ? 'live' : state === 'reconnecting' ? 'reconnecting' : 'liveOff');
}

ctx.fetchProgress = (id) => {
  getJson(`/api/v1/incidents/${encodeURIComponent(id)}/progress`)
    .then((p) => { if (!ctx.progress.has(id)) { ctx.progress.set(id, p); schedule('progress'); } }, () => {});
};

function startLive() {
  ctx.live?.stop();
  let persist = null;
  const live = new LiveStream({
    url: '/api/v1/events',
    token: () => ctx.store.meta.auth?.token,
    // First connection resumes from the sync cursor: everything after what the replica holds.
    lastId: () => ctx.store.meta.cursor || null,
    onState: (s, status) => { setLive(s); if (status === 401) ctx.loop?.trigger('auth'); },
    onEvent: (ev) => {
      const data = JSON.parse(ev.data);
      if (data.type === 'change') {
        ctx.store.replica.applyAll(data.changes);
        // Persist through the normal pull, batched: the stream is for seeing, sync for keeping.
        clearTimeout(persist);
        persist = setTimeout(() => ctx.loop?.trigger('live'), 1500);
      } else if (data.type === 'progress') {
        ctx.progress.set(data.progress.incident, data.progress);
        schedule('progress');
      } else if (data.type === 'warning' && data.code === 'low_disk') {
        toast(ct('lowDisk', { mb: data.free_mb }), { kind: 'error', ms: 15000 }); // (#13)
      }
    },
  });
  ctx.live = live;
  live.start();
}

function startSync() {
  const { store } = ctx;
  ctx.loop?.stop();
  let first = true;
  const loop = new SyncLoop({
    store,
    sentLog: ctx.sentLog, // re-sends our accepted changes to a restored server (#13)
    send: (body) => syncRequest(body),
    timers: { set: (fn, ms) => setTimeout(fn, ms), clear: (id) => clearTimeout(id) },
    onState: (s) => { ctx.syncState = s; refreshStatus(); },
    onError: (err, failures) => { if (!(err instanceof NetworkError) && failures === 1) handleError(err, 'sync'); },
    onSynced: () => { if (first) { first = false; startLive(); } },
    onAuthLost: async (err) => {
      ctx.live?.stop();
      const session = store.meta.auth?.session;
      if (err.revoked) await store.wipe();
      if (session) location.assign(LOGIN);
      else go('/enroll');
    },
  });
  ctx.loop = loop;
  loop.start();
}

/** A coordinator's screen; `head`: it can draw with the incidents alone (first load). */
function needCoordinator(fn, { head = false } = {}) {
  return (m) => {
    const auth = ctx.store.meta.auth;
    // No session and no invite: the coordinator's way in is the password login (D15).
    if (!auth) { location.replace(loginUrl()); return; }
    if (auth.role !== 'coordinator') { show(() => h('p.error-box', null, ct('notCoordinator'))); return; }
    show(() => (ctx.loading === true || (ctx.loading && !head) ? loadingView() : fn(m)));
  };
}

async function main() {
  document.documentElement.lang = getLang();
  prefetchSnapshot();
  try {
    ctx.store = await IdbStore.open();
    ctx.sentLog = await SentLog.open().catch((err) => { console.warn('[doorstep] no sent-log', err); return null; });
  } catch (err) {
    handleError(err, 'open local database');
    return;
  }
  const { store } = ctx;
  store.replica.subscribe(schedule);
  store.onChange(refreshStatus);
  let nudge = null;
  ctx.afterWrite = () => { clearTimeout(nudge); nudge = setTimeout(() => ctx.loop?.trigger('write'), 300); };
  ctx.redraw = redraw;
  ctx.onEnrolled = () => { begin(); go('/'); };
  view.addEventListener('focusout', () => { if (stale) { stale = false; setTimeout(redraw, 0); } });
  window.addEventListener('online', () => { refreshStatus(); ctx.loop?.trigger('online'); });
  window.addEventListener('offline', refreshStatus);
  langBtn.addEventListener('click', () => setLang(getLang() === 'en' ? 'zh-CN' : 'en'));
  const relabel = () => {
    retitle();
    langBtn.textContent = ct('lang');
    langBtn.lang = getLang() === 'en' ? 'zh-CN' : 'en';
    devicesLink.textContent = ct('devices');
    if (peopleLink) peopleLink.textContent = ct('peopleLink');
    refreshInbox();
  };
  onLangChange(() => { relabel(); redraw(); refreshStatus(); });
  relabel();
  setLive('off');
  await adoptSession();
  ctx.loading = Boolean(store.meta.auth) && needsSnapshot(store);
  startRouter([
    [/^\/enroll(?:\/([^/]+))?$/, (m) => show(() => {
      const el = enrollView(m[1]);
      el.append(h('p.login-link', null, h('a', { href: LOGIN }, ct('loginLink'))));
      return el;
    })],
    [/^\/new$/, needCoordinator(() => openForm())],
    [/^\/ledger$/, needCoordinator(() => ledgerView())],
    [/^\/quarantine$/, needCoordinator(() => quarantineView())],
    [/^\/people$/, needCoordinator(() => peopleView())],
    [/^\/i\/([^/]+)\/h\/([^/]+)$/, needCoordinator((m) => householdHistoryView(m[1], m[2]))],
    [/^\/i\/([^/]+)\/assign(?:\/([^/]+))?$/, needCoordinator((m) => assignmentsView(m[1], m[2] && decodeURIComponent(m[2])))],
    [/^\/i\/([^/]+)\/brief\/print\/(\d{4}-\d{2}-\d{2})$/, needCoordinator((m) => briefPrintView(m[1], m[2]))],
    [/^\/i\/([^/]+)(?:\/(needs|vulnerable|buildings|roster|brief))?$/, needCoordinator((m) => incidentView(m[1], m[2] || ''), { head: true })],
    // The home needs the incidents alone (its counters come from the server).
    [/^\/?$/, needCoordinator(() => listView(), { head: true })],
  ], () => go('/'));
  refreshStatus();
  if (store.meta.auth) begin();
}

/** Sync, after a first load from the snapshot when this browser holds nothing yet. */
function begin() {
  noteSynced(ctx.store);
  const first = needsSnapshot(ctx.store) ? firstLoad(ctx.store) : Promise.resolve();
  first.catch((err) => handleError(err, 'first load')).then(startSync);
}

window.addEventListener('unhandledrejection', (e) => handleError(e.reason, 'unhandled'));
main().catch((err) => { handleError(err, 'start'); mount(view, h('p.error-box', null, String(err))); toast(String(err), { kind: 'error' }); });
