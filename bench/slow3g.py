"""First visit of the volunteer PWA on Chrome's "Slow 3G" profile: through Caddy over
HTTP/2 (deploy/, `tls internal`) vs. direct from uvicorn over HTTP/1.1, same run.

A first visit is a fresh browser context (no cache, no service worker) opening `/` until
the enrolment form is ready. Two clocks: the bench's own (from `page.goto` to Playwright
seeing the form, which includes Playwright's round trips) and the page's (when the form
appeared, from navigation start: what a person waits). Rounds alternate direct and
proxied; medians are compared. Target: ≤ 5 s through the proxy, on the bench's clock.

Run: .venv/bin/python bench/slow3g.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

from conftest import CHROMIUM, CHROMIUM_ARGS, LiveServer, run_cli  # noqa: E402
from proxy import Caddy  # noqa: E402

# Chrome DevTools' "Slow 3G" preset as DevTools sends it over CDP: 400 ms RTT scaled by
# DevTools' latency factor 5 (2,000 ms per request) and 500 kbit/s x 0.8 both ways
# (DevTools' NetworkManager: `500 * 1000 / 8 * .8`, i.e. 50,000 bytes/s).
SLOW_3G = {
    "offline": False,
    "latency": 2000,
    "downloadThroughput": 500 * 1000 / 8 * 0.8,
    "uploadThroughput": 500 * 1000 / 8 * 0.8,
}

# Notes when the enrolment form first appears, by the page's own clock.
FORM_SEEN = """(() => {
  new MutationObserver((_, obs) => {
    if (!document.querySelector('form.enroll button')) return;
    window.__formAt = performance.now();
    obs.disconnect();
  }).observe(document, { subtree: true, childList: true });
})()"""


def first_visit(browser, url: str) -> tuple[float, float, str, int, int]:
    """Seconds to a usable enrolment form (bench's clock, page's clock); the protocol
    used; requests made; bytes received (compressed, with headers)."""
    ctx = browser.new_context(viewport={"width": 360, "height": 740}, service_workers="block")
    page = ctx.new_page()
    page.add_init_script(FORM_SEEN)
    received: list[int] = []
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    cdp = ctx.new_cdp_session(page)
    cdp.on("Network.loadingFinished", lambda e: received.append(int(e["encodedDataLength"])))
    cdp.send("Network.enable")
    cdp.send("Network.setCacheDisabled", {"cacheDisabled": True})
    cdp.send("Network.emulateNetworkConditions", SLOW_3G)
    t0 = time.perf_counter()
    page.goto(url + "/")
    page.locator("form.enroll button").wait_for(timeout=120_000)
    elapsed = time.perf_counter() - t0
    in_page = page.wait_for_function("() => window.__formAt").json_value() / 1000
    protocol = page.evaluate("() => performance.getEntriesByType('navigation')[0].nextHopProtocol")
    ctx.close()
    return elapsed, in_page, protocol, len(requests), sum(received)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = str(Path(tmp) / "bench.db")
        run_cli("demo", "--db", db)
        server = LiveServer(db).start()
        caddy = Caddy(f"127.0.0.1:{server.port}", Path(tmp) / "caddy").start()
        try:
            with sync_playwright() as p:
                # The bench's own browser accepts Caddy's local CA (a test-only switch).
                browser = p.chromium.launch(
                    executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, "--ignore-certificate-errors"]
                )
                direct: list[float] = []
                proxied: list[float] = []
                direct_page: list[float] = []
                proxied_page: list[float] = []
                for i in range(args.rounds):
                    d, dpg, dp, dn, db_ = first_visit(browser, server.url)
                    c, cpg, cp, cn, cb = first_visit(browser, caddy.url)
                    direct.append(d)
                    proxied.append(c)
                    direct_page.append(dpg)
                    proxied_page.append(cpg)
                    print(
                        f"round {i + 1}: direct {d:.2f} s (page {dpg:.2f} s; {dp}, {dn} requests, "
                        f"{db_ / 1000:.1f} kB); Caddy {c:.2f} s (page {cpg:.2f} s; {cp}, "
                        f"{cn} requests, {cb / 1000:.1f} kB)"
                    )
                browser.close()
        finally:
            caddy.stop()
            server.stop()
    d, c = statistics.median(direct), statistics.median(proxied)
    dpg, cpg = statistics.median(direct_page), statistics.median(proxied_page)
    print(
        f"first visit on Slow 3G, median of {args.rounds}: direct (uvicorn, HTTP/1.1) {d:.2f} s "
        f"(page {dpg:.2f} s); through Caddy (HTTP/2, TLS) {c:.2f} s (page {cpg:.2f} s; "
        f"target ≤ 5 s: {c / 5:.2f} of budget); ratio proxy/direct x{c / d:.2f}"
    )


if __name__ == "__main__":
    main()
