"""Lighthouse (mobile config) scores of every page, coordinator pages included (#12).

Starts a server on a fresh demo database, makes a password coordinator, logs in over HTTP
and hands Lighthouse the session cookie so the coordinator pages are measured as a
logged-in duty officer sees them (each run starts from an empty browser profile: the
dashboard's first load is the snapshot of the demo community, GET /api/v1/snapshot).
The volunteer app and the residents' page are measured in the same run as the baseline.
Prints a table; no asserts (not a CI test).
PAGES=3,5 measures only those rows.

Needs Lighthouse from npm (not a project dependency):
    npm install --prefix /tmp/lh lighthouse
    LIGHTHOUSE=/tmp/lh/node_modules/.bin/lighthouse .venv/bin/python bench/lighthouse.py
Uses Debian's Chromium (CHROME_PATH, default /usr/bin/chromium), headless, no sandbox.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

from conftest import LiveServer, run_cli  # noqa: E402

from server.ops.demo import HEATING  # noqa: E402

PASSWORD = "bench-password-12345"


def lighthouse(url: str, cookie: str | None, out: Path) -> dict[str, float]:
    cmd = [
        os.environ.get("LIGHTHOUSE", "lighthouse"),
        url,
        "--quiet",
        "--output=json",
        f"--output-path={out}",
        "--only-categories=performance,accessibility",
        "--chrome-flags=--headless=new --no-sandbox",
    ]
    if cookie:
        cmd.append(f"--extra-headers={json.dumps({'Cookie': cookie})}")
    env = {**os.environ, "CHROME_PATH": os.environ.get("CHROME_PATH", "/usr/bin/chromium")}
    subprocess.run(cmd, check=True, env=env, timeout=600)
    report = json.loads(out.read_text())
    cats = report["categories"]
    failing = [
        a["id"]
        for a in report["audits"].values()
        if a.get("score") is not None and a["score"] < 1 and a.get("scoreDisplayMode") == "binary"
    ]
    metrics = {
        k: report["audits"][k].get("displayValue", "")
        for k in (
            "first-contentful-paint",
            "largest-contentful-paint",
            "total-blocking-time",
            "cumulative-layout-shift",
        )
    }
    return {
        "metrics": " ".join(metrics.values()),  # type: ignore[dict-item]
        "performance": cats["performance"]["score"],
        "accessibility": cats["accessibility"]["score"],
        "failing": failing,  # type: ignore[dict-item]
    }


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="doorstep-lh-"))
    db = str(tmp / "lh.db")
    run_cli("demo", "--db", db)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "server.ops.cli",
            "coordinator",
            "add",
            "--db",
            db,
            "--login",
            "office",
            "--name",
            "社区办公室",
            "--password-stdin",
        ],
        input=PASSWORD + "\n",
        text=True,
        check=True,
        cwd=ROOT,
        capture_output=True,
    )
    server = LiveServer(db).start()
    try:
        r = httpx.post(
            f"{server.url}/api/v1/login",
            json={"login": "office", "password": PASSWORD, "device": "lighthouse"},
        )
        r.raise_for_status()
        cookie = "; ".join(f"{k}={v}" for k, v in r.cookies.items())
        share = httpx.post(
            f"{server.url}/api/v1/incidents/{HEATING}/share",
            headers={"x-csrf-token": r.json()["csrf"]},
            cookies=r.cookies,
        )
        share.raise_for_status()
        pages = [
            ("volunteer app (baseline)", "/", None),
            ("residents' page (baseline)", f"/r/{share.json()['token']}", None),
            ("login", "/login.html", None),
            ("console: inbox + incidents", "/coord.html", cookie),
            ("console: incident overview", f"/coord.html#/i/{HEATING}", cookie),
            ("console: vulnerable list", f"/coord.html#/i/{HEATING}/vulnerable", cookie),
            ("console: needs", f"/coord.html#/i/{HEATING}/needs", cookie),
            ("devices", "/devices.html", cookie),
        ]
        only = os.environ.get("PAGES")
        print(f"{'page':30} {'perf':>5} {'a11y':>5}  FCP LCP TBT CLS; failing audits")
        for n, (name, path, ck) in enumerate(pages):
            if only and str(n) not in only.split(","):
                continue
            try:
                s = lighthouse(server.url + path, ck, tmp / f"report-{n}.json")
            except subprocess.CalledProcessError as exc:
                print(f"{name:30} lighthouse failed ({exc.returncode})", flush=True)
                continue
            print(
                f"{name:30} {s['performance']:5.2f} {s['accessibility']:5.2f}  "
                f"{s['metrics']}; {', '.join(s['failing']) or '-'}",
                flush=True,
            )
        print(f"reports: {tmp}")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
