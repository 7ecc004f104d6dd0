// Loaded `async` by coord.html, ahead of the dashboard's modules: a browser with no synced
// replica (the hint first-load.js keeps in localStorage) asks for the snapshot at once,
// while the rest of the app is still loading and IndexedDB is being created. first-load.js
// takes the answer from `globalThis.doorstepSnapshot`, and sets it to null when it ran
// first (then this asks nothing: one snapshot, not two). No imports, on purpose.
const HINT = 'doorstep.coord.synced';

function synced() {
  try { return localStorage.getItem(HINT) === '1'; } catch { return false; }
}

if (!synced() && !('doorstepSnapshot' in globalThis)) {
  const t0 = Date.now();
  globalThis.doorstepSnapshot = fetch('/api/v1/snapshot', { headers: { accept: 'application/json' }, credentials: 'same-origin', cache: 'no-store' })
    .then(async (res) => {
      if (!res.ok) return { status: res.status };
      return { body: await res.json(), t0, t1: Date.now() };
    }, () => ({ status: 0 }));
}
