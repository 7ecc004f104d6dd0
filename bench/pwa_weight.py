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

import contextlib
import gzip
import sys
import tempfile
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

from conftest import LiveServer, launch_chromium, run_cli  # noqa: E402
from slow3g import SLOW_3G  # noqa: E402  (DevTools' exact preset, one definition)

FAST = {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1}

GRID_JS = (HERE / "pwa_grid.js").read_text()


APPLY_JS = (HERE / "pwa_apply.js").read_text()


def kb(n: float) -> str:
    return f"{n / 1024:.1f} KB"


def first_load(browser, url: str) -> dict:
    """Every response of a fresh visit (page and service worker), until the SW is active."""
    ctx = browser.new_context(viewport={"width": 360, "height": 740}, service_workers="allow")
    bodies: list[tuple[str, bytes]] = []

    def on_response(resp) -> None:
        if resp.request.method == "GET" and resp.url.startswith(url):
            # A redirect or aborted response has no body.
            with contextlib.suppress(Exception):
                bodies.append((resp.url, resp.body()))

    ctx.on("response", on_response)
    page = ctx.new_page()
    page.goto(url + "/")
    page.wait_for_function("navigator.serviceWorker.controller !== null", timeout=30_000)
    page.wait_for_timeout(500)
    ctx.close()
    unique: dict[str, bytes] = {}
    for u, b in bodies:  # a service-worker fetch can report an empty body; keep the real one
        u = u.split("?")[0]
        if len(b) >= len(unique.get(u, b"")):
            unique[u] = b
    gz = {u: len(gzip.compress(b, 6)) for u, b in unique.items()}
    # A service-worker response's body is not visible here; count it as its file's size
    # (an upper bound: a revalidated file comes back as a 304 with no body).
    wire = sum(gz[u.split("?")[0]] for u, _ in bodies)
    return {
        "requests": len(bodies),
        "wire": wire,
        "raw": sum(len(b) for _, b in bodies),
        "unique": sum(gz.values()),
        "files": len(unique),
    }


def time_to_usable(browser, url: str, conditions: dict, invite: dict | None) -> float:
    ctx = browser.new_context(viewport={"width": 360, "height": 740}, service_workers="allow")
    page = ctx.new_page()
    if invite:  # an enrolled phone with its replica, reopening the app
        page.goto(invite["url"])
        page.locator(".incident-card").first.wait_for(timeout=60_000)
        page.wait_for_function("navigator.serviceWorker.controller !== null", timeout=30_000)
        page.wait_for_function(
            "document.getElementById('status').innerText.includes('已同步')", timeout=60_000
        )
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
                browser = launch_chromium(p)
                w = first_load(browser, server.url)
                print(
                    f"first load, gzipped on the wire: {kb(w['wire'])} in {w['requests']} "
                    f"responses (target ≤ 150 KB: {w['wire'] / (150 * 1024):.2f} of budget); "
                    f"raw {kb(w['raw'])}"
                )
                print(
                    f"  baseline, each shell file once, gzipped: {kb(w['unique'])} "
                    f"in {w['files']} files; "
                    f"service-worker precache overhead x{w['wire'] / w['unique']:.2f}"
                )

                ctx = browser.new_context(viewport={"width": 360, "height": 740})
                page = ctx.new_page()
                page.goto(server.url + "/")
                page.locator("form.enroll").wait_for()
                g = page.evaluate(GRID_JS, 2000)
                print(
                    f"render 2,000-household grid: {g['app']:.1f} ms median of 5 "
                    f"(target < 200 ms); baseline 2,000 bare buttons {g['base']:.1f} ms; "
                    f"ratio x{g['app'] / g['base']:.2f}"
                )
                a = page.evaluate(APPLY_JS, 20000)
                print(
                    f"apply pull of 20,000 changes into IndexedDB: {a['app']:.0f} ms "
                    f"({20000 / a['app'] * 1000:,.0f} changes/s, {a['records']} records); "
                    f"baseline raw bulk put {a['raw']:.0f} ms; ratio x{a['app'] / a['raw']:.2f}"
                )
                ctx.close()

                for label, invite in (
                    ("first visit (enrol form)", None),
                    ("repeat visit, enrolled (incident list)", server.invite()),
                ):
                    fast = time_to_usable(browser, server.url, FAST, invite)
                    slow_invite = server.invite() if invite else None
                    slow = time_to_usable(browser, server.url, SLOW_3G, slow_invite)
                    print(
                        f"time to usable, {label}: slow 3G {slow * 1000:,.0f} ms; "
                        f"baseline unthrottled {fast * 1000:,.0f} ms; ratio x{slow / fast:.1f}"
                    )
                browser.close()
        finally:
            server.stop()


if __name__ == "__main__":
    main()
