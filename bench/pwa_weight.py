"""Weight and speed of the volunteer PWA in headless Chromium (Debian's), printed, no asserts.

1. First load of the app shell: bytes on the wire, gzipped (target ≤ 150 KB); baseline:
   the same files fetched once each (what a cache-less page alone would cost).
2. Render of a 2,000-household incident grid (target < 200 ms); baseline: 2,000 bare
   <button>s with the same labels, created and laid out the same way.
3. Applying a pull of 20,000 field changes into IndexedDB (IdbStore.commit: LWW check per
   field, cursor and meta in one transaction); baseline: raw bulk put of the same 20,000
   records in one transaction.
4. Time to usable on Chromium's "Slow 3G" profile (CDP Network.emulateNetworkConditions):
   a first visit (enrol form ready) and a repeat visit of an enrolled phone (incident list
   drawn, shell from the service worker); baseline: the same on an unthrottled network.

Run: .venv/bin/python bench/pwa_weight.py
"""

from __future__ import annotations

import gzip
import json
import sys
import tempfile
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

from conftest import LiveServer, run_cli  # noqa: E402

ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
# Chrome DevTools' "Slow 3G": 400 ms RTT (x ~5 for CDP's request latency), 400 kbit/s down.
SLOW_3G = {"offline": False, "latency": 2000, "downloadThroughput": 500 * 1024 / 8 * 0.8,
           "uploadThroughput": 500 * 1024 / 8 * 0.8}
FAST = {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1}

GRID_JS = """async (n) => {
  const { Replica } = await import('/js/sync/replica.js');
  const { gridOf } = await import('/js/volunteer/incident-grid.js');
  const { incidentScope } = await import('/js/volunteer/model.js');
  const r = new Replica();
  const N = '0123456789abcdef';
  let k = 0;
  const hlc = () => `2026-11-22T14:00:00.000Z-${(k++ % 65536).toString(16).padStart(4, '0')}-${N}`;
  const ch = [];
  const buildings = [];
  for (let b = 0; b < Math.ceil(n / 100); b++) {
    buildings.push(`b${b}`);
    ch.push({ coll: 'buildings', id: `b${b}`, field: 'label', value: `55号院${b + 1}号楼`, hlc: hlc() });
  }
  for (let i = 0; i < n; i++) {
    const id = `h${i}`;
    ch.push({ coll: 'households', id, field: 'building', value: `b${Math.floor(i / 100)}`, hlc: hlc() });
    ch.push({ coll: 'households', id, field: 'unit', value: String(1 + Math.floor((i % 100) / 25)), hlc: hlc() });
    ch.push({ coll: 'households', id, field: 'room', value: String(101 + (i % 25)), hlc: hlc() });
    if (i % 3 === 0) {
      ch.push({ coll: 'visits', id: `v${i}`, field: 'household', value: id, hlc: hlc() });
      ch.push({ coll: 'visits', id: `v${i}`, field: 'incident', value: 'inc', hlc: hlc() });
      ch.push({ coll: 'visits', id: `v${i}`, field: 'outcome', value: i % 2 ? 'reached' : 'not_home', hlc: hlc() });
    }
  }
  ch.push({ coll: 'incidents', id: 'inc', field: 'buildings', value: buildings, hlc: hlc() });
  r.applyAll(ch);
  const host = document.getElementById('view');
  const time = (fn) => { const t0 = performance.now(); const el = fn(); host.replaceChildren(el); void host.offsetHeight; return performance.now() - t0; };
  const app = [], base = [];
  for (let rep = 0; rep < 5; rep++) {
    app.push(time(() => gridOf(r, 'inc', incidentScope(r, r.get('incidents', 'inc')))));
    base.push(time(() => {
      const f = document.createElement('div');
      for (let i = 0; i < n; i++) { const b = document.createElement('button'); b.textContent = String(101 + (i % 25)); f.append(b); }
      return f;
    }));
  }
  const med = (a) => a.sort((x, y) => x - y)[Math.floor(a.length / 2)];
  return { app: med(app), base: med(base), tiles: host.querySelectorAll('button').length };
}"""

APPLY_JS = """async (n) => {
  const { IdbStore } = await import('/js/sync/idb-store.js');
  const N = 'fedcba9876543210';
  const changes = [];
  for (let i = 0; i < n; i++) {
    const c = (i % 65536).toString(16).padStart(4, '0');
    const ms = new Date(Date.UTC(2026, 10, 22, 14, 0, 0, Math.floor(i / 65536))).toISOString();
    changes.push({ coll: 'households', id: `h${Math.floor(i / 4)}`, field: ['building', 'unit', 'room', 'occupants'][i % 4], value: `v${i}`, hlc: `${ms}-${c}-${N}` });
  }
  const del = (name) => new Promise((res) => { const r = indexedDB.deleteDatabase(name); r.onsuccess = r.onerror = r.onblocked = () => res(); });
  await del('bench-raw'); await del('bench-app');
  // Baseline: one transaction of raw puts into an object store with the same key path.
  const raw = await new Promise((res, rej) => {
    const r = indexedDB.open('bench-raw', 1);
    r.onupgradeneeded = () => r.result.createObjectStore('fields', { keyPath: ['coll', 'id', 'field'] });
    r.onsuccess = () => res(r.result); r.onerror = () => rej(r.error);
  });
  let t0 = performance.now();
  await new Promise((res, rej) => {
    const tx = raw.transaction('fields', 'readwrite', { durability: 'strict' });
    const s = tx.objectStore('fields');
    for (const c of changes) s.put(c);
    tx.oncomplete = res; tx.onerror = () => rej(tx.error);
  });
  const rawMs = performance.now() - t0;
  raw.close();
  const store = await IdbStore.open('bench-app');
  t0 = performance.now();
  await store.commit({ accepted: [], rejected: [], pulled: changes, cursor: n, offset: null, at: Date.now() });
  const appMs = performance.now() - t0;
  const held = store.replica.all('households').length;
  store.db.close();
  await del('bench-raw'); await del('bench-app');
  return { raw: rawMs, app: appMs, records: held };
}"""


def kb(n: float) -> str:
    return f"{n / 1024:.1f} KB"


def first_load(browser, url: str) -> dict:
    """Every response of a fresh visit (page and service worker), until the SW is active."""
    ctx = browser.new_context(viewport={"width": 360, "height": 740}, service_workers="allow")
    bodies: list[tuple[str, bytes]] = []

    def on_response(resp) -> None:
        if resp.request.method == "GET" and resp.url.startswith(url):
            try:
                bodies.append((resp.url, resp.body()))
            except Exception:  # noqa: BLE001 - a redirect or aborted response has no body
                pass

    ctx.on("response", on_response)
    page = ctx.new_page()
    page.goto(url + "/")
    page.wait_for_function("navigator.serviceWorker.controller !== null", timeout=30_000)
    page.wait_for_timeout(500)
    ctx.close()
    wire = sum(len(gzip.compress(b, 6)) for _, b in bodies)
    unique: dict[str, bytes] = {}
    for u, b in bodies:  # a service-worker fetch can report an empty body; keep the real one
        u = u.split("?")[0]
        if len(b) >= len(unique.get(u, b"")):
            unique[u] = b
    return {"requests": len(bodies), "wire": wire, "raw": sum(len(b) for _, b in bodies),
            "unique": sum(len(gzip.compress(b, 6)) for b in unique.values()), "files": len(unique)}


def time_to_usable(browser, url: str, conditions: dict, invite: dict | None) -> float:
    ctx = browser.new_context(viewport={"width": 360, "height": 740}, service_workers="allow")
    page = ctx.new_page()
    if invite:  # an enrolled phone with its replica, reopening the app
        page.goto(invite["url"])
        page.locator(".incident-card").first.wait_for(timeout=60_000)
        page.wait_for_function("navigator.serviceWorker.controller !== null", timeout=30_000)
        page.wait_for_function("document.getElementById('status').innerText.includes('已同步')", timeout=60_000)
    cdp = ctx.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send("Network.emulateNetworkConditions", conditions)
    t0 = time.perf_counter()
    if invite:
        page.reload()
        page.locator(".incident-card").first.wait_for(timeout=120_000)
    else:
        page.goto(url + "/")
        page.locator("form.enroll button").wait_for(timeout=120_000)
    elapsed = time.perf_counter() - t0
    ctx.close()
    return elapsed


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        db = str(Path(tmp) / "bench.db")
        run_cli("demo", "--db", db)
        server = LiveServer(db).start()
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
                w = first_load(browser, server.url)
                print(f"first load, gzipped on the wire: {kb(w['wire'])} in {w['requests']} responses "
                      f"(target ≤ 150 KB: {w['wire'] / (150 * 1024):.2f} of budget); raw {kb(w['raw'])}")
                print(f"  baseline, each shell file once, gzipped: {kb(w['unique'])} in {w['files']} files; "
                      f"service-worker precache overhead x{w['wire'] / w['unique']:.2f}")

                ctx = browser.new_context(viewport={"width": 360, "height": 740})
                page = ctx.new_page()
                page.goto(server.url + "/")
                page.locator("form.enroll").wait_for()
                g = page.evaluate(GRID_JS, 2000)
                print(f"render 2,000-household grid: {g['app']:.1f} ms median of 5 (target < 200 ms); "
                      f"baseline 2,000 bare buttons {g['base']:.1f} ms; ratio x{g['app'] / g['base']:.2f}")
                a = page.evaluate(APPLY_JS, 20000)
                print(f"apply pull of 20,000 changes into IndexedDB: {a['app']:.0f} ms "
                      f"({20000 / a['app'] * 1000:,.0f} changes/s, {a['records']} records); "
                      f"baseline raw bulk put {a['raw']:.0f} ms; ratio x{a['app'] / a['raw']:.2f}")
                ctx.close()

                for label, invite in (("first visit (enrol form)", None),
                                      ("repeat visit, enrolled (incident list)", server.invite())):
                    fast = time_to_usable(browser, server.url, FAST, invite)
                    slow_invite = server.invite() if invite else None
                    slow = time_to_usable(browser, server.url, SLOW_3G, slow_invite)
                    print(f"time to usable, {label}: slow 3G {slow * 1000:,.0f} ms; "
                          f"baseline unthrottled {fast * 1000:,.0f} ms; ratio x{slow / fast:.1f}")
                browser.close()
        finally:
            server.stop()


if __name__ == "__main__":
    main()
