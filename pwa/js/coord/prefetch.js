// Loaded `async` by coord.html, ahead of the dashboard's modules: a browser with no synced
// replica (the hint first-load.js keeps in localStorage) asks for the snapshot at once,
// while the rest of the app is still loading and IndexedDB is being created. first-load.js
// takes the answers from `globalThis.doorstepSnapshot` (and `doorstepHead`, the incidents
// alone), and sets it to null when it ran first (then this asks nothing: one snapshot,
// not two). No imports, on purpose.
const HINT = 'doorstep.coord.synced';

function synced() {
  try { return localStorage.getItem(HINT) === '1'; } catch { return false; }
}

/** `{body}` parsed, or `{res}` with the body still to read; `{status}` if refused. */
function ask(url, parse) {
  const t0 = Date.now();
  return fetch(url, { headers: { accept: 'application/json' }, credentials: 'same-origin', cache: 'no-store' })
    .then(async (res) => {
      if (!res.ok) return { status: res.status };
      const t1 = Date.now();
      return parse ? { body: await res.json(), t0, t1 } : { res, t0, t1 };
    }, () => ({ status: 0 }));
}

// Who this browser is (its password session, if any): the app asks for it first thing,
// after IndexedDB has opened; asked here, its answer is there by then.
if (!('doorstepSession' in globalThis)) {
  globalThis.doorstepSession = fetch('/api/v1/session', { headers: { accept: 'application/json' }, credentials: 'same-origin', cache: 'no-store' })
    .catch(() => null);
}

if (!synced() && !('doorstepSnapshot' in globalThis)) {
  // The incidents alone (a few kB), then the whole (hundreds of kB): an incident's screen
  // draws its head from the first while the second is on its way. The whole is asked for
  // once the head's answer is in, so on a slow link it does not share the bandwidth with
  // the app's bundle and the head (the first screen waits for those two, not for it), and
  // it is parsed when first-load.js is ready for it, after the head is on screen.
  const head = ask('/api/v1/snapshot?coll=incidents', true);
  globalThis.doorstepHead = head;
  globalThis.doorstepSnapshot = head.then(() => ask('/api/v1/snapshot', false));
}
