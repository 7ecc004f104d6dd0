// The dashboard's first load (#12): a browser that never synced starts from the server's
// snapshot (sync/snapshot.js) — one request, shown at once, stored in small chunks —
// and only then starts the sync loop, which goes on from the snapshot's cursor. Offline
// or refused, nothing is lost: the sync loop pulls page by page as before.
import { ctx } from '../shared/context.js';
import { NetworkError } from '../shared/api.js';
import { adoptSnapshot, snapshotChanges } from '../sync/snapshot.js';
import { measureOffset } from '../sync/outbox.js';
import { h } from '../shared/dom.js';
import { getJson } from './http.js';
import { ct } from './strings.js';

/** A coordinator's browser that holds nothing yet. `ctx.loading` is true until its first
 * snapshot is merged, 'head' once the incidents are (incident-view.js draws its head). */
export function needsSnapshot(store) {
  return !store.meta.cursor && store.meta.auth?.role === 'coordinator';
}

/** What a screen shows while the first snapshot is on its way. */
export function loadingView() {
  return h('section.screen', null, h('p.loading', { role: 'status' }, ct('loading')));
}

let early = null;
let arrived = null;

/** A prefetched answer (prefetch.js) read and parsed, as fetchSnapshot gives it. */
async function parsed(r) {
  if (!r.res) return { err: new Error(`HTTP ${r.status}`) };
  try {
    // The text goes to the worker that stores it (sync/snapshot.js), the parse stays here.
    const text = await r.res.text();
    const snap = JSON.parse(text);
    return { snap, text, offset: measureOffset(snap.server_time, r.t0, r.t1) };
  } catch (err) {
    return { err };
  }
}
let head = null; // the incidents alone, asked for before the snapshot
// Whether this browser holds a synced replica, readable before IndexedDB opens (opening
// it the first time takes a slow phone seconds): the snapshot is asked for meanwhile.
const HINT = 'doorstep.coord.synced';

async function fetchSnapshot() {
  const t0 = Date.now();
  try {
    const snap = await getJson('/api/v1/snapshot');
    return { snap, offset: measureOffset(snap.server_time, t0, Date.now()) };
  } catch (err) {
    return { err };
  }
}

function hint() {
  try { return localStorage.getItem(HINT); } catch { return null; }
}

/**
 * Take the snapshot prefetch.js asked for before the app's modules loaded, unless this
 * browser is known to hold a synced replica. It went with the session cookie alone (a
 * device with a bearer token asks again in firstLoad).
 */
export function prefetchSnapshot() {
  const asked = globalThis.doorstepSnapshot;
  const askedHead = globalThis.doorstepHead;
  globalThis.doorstepSnapshot = null; // taken: prefetch.js, if it runs after us, asks nothing
  globalThis.doorstepHead = null;
  if (hint() === '1') return;
  // `arrived` settles when the whole snapshot's answer begins; `early()` reads and parses
  // it (a long task on a phone: after the head is drawn, not as soon as it lands).
  arrived = asked || fetchSnapshot();
  early = asked ? () => asked.then(parsed) : () => arrived;
  head = askedHead ? askedHead.then((r) => r.body || null) : getJson('/api/v1/snapshot?coll=incidents').catch(() => null);
}

/**
 * The incidents alone, if they come before the whole snapshot: merged into the in-memory
 * replica (never stored: the snapshot brings them again and stores them, and a merge of
 * the same stamps changes nothing), and the screens may draw an incident's head.
 */
async function headFirst(store, whole) {
  const part = await Promise.race([head, whole.then(() => null)]);
  if (!part || !ctx.loading || ctx.loading === 'head') return;
  store.replica.applyAll(snapshotChanges(part));
  ctx.loading = 'head';
  ctx.redraw?.();
}

function setHint(value) {
  try { localStorage.setItem(HINT, value); } catch { /* private mode: always ask */ }
}

/** Remember whether the store holds a synced replica (for the next page load). */
export function noteSynced(store) { setHint(store.meta.cursor ? '1' : '0'); }

/** Fetch (or take the prefetched), show and store the snapshot; then the sync loop may start. */
export async function firstLoad(store) {
  ctx.loading = true;
  if (head) await headFirst(store, arrived || Promise.resolve(null)).catch((err) => console.warn('[doorstep] incidents first', err));
  head = null;
  let got = early ? await early() : null;
  early = arrived = null;
  if (!got?.snap) got = await fetchSnapshot();
  if (!got.snap) {
    ctx.loading = false;
    if (!(got.err instanceof NetworkError)) console.warn('[doorstep] snapshot refused; syncing page by page', got.err);
    ctx.redraw?.();
    return;
  }
  // Before storing: a tab closed midway then asks for the snapshot itself, a little later,
  // rather than prefetching one it might not need on every later load.
  setHint('1');
  // While the snapshot is merged task by task, an incident's screen shows its head (the
  // incidents are merged first: title, report, the server's counters) and 正在加载… for
  // its sections, the home draws whole (it needs the incidents alone); other screens
  // show 正在打开…. Then all renders at once (the redraws the merges queued find nothing
  // new).
  const onHead = () => { if (ctx.loading !== 'head') { ctx.loading = 'head'; ctx.redraw?.(); } };
  const shown = () => { if (ctx.loading) { ctx.loading = false; ctx.redraw?.(); } };
  try {
    await adoptSnapshot(store, got.snap, { text: got.text, offset: got.offset, onHead, onShown: shown });
  } finally {
    shown();
  }
}
