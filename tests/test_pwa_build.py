"""The PWA's release build (tools/build-pwa.mjs) is current, and its inline app runs
under the Content-Security-Policy.

index.html carries the volunteer app inline; the other pages load one minified module each
from pwa/dist/. esbuild (pinned in tools/package-lock.json) builds both from the plain ES
modules in pwa/js/. A change to pwa/ without a rebuild would ship the old code: the test
rebuilds in memory and compares.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from server.guards.security import CSP

ROOT = Path(__file__).resolve().parent.parent
COMMAND = "node tools/build-pwa.mjs"


def _check() -> subprocess.CompletedProcess[str]:
    node = shutil.which("node")
    if node is None:
        if os.environ.get("CI"):
            pytest.fail("node is not installed; CI must check that pwa/dist is current")
        pytest.skip("node is not installed")
    return subprocess.run(
        [node, "tools/build-pwa.mjs", "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_pwa_dist_is_what_the_sources_build() -> None:
    result = _check()
    assert result.returncode != 2, (
        "esbuild is not installed: run `bash .ci/setup --test` (npm ci --prefix tools)\n"
        + result.stderr
    )
    assert result.returncode == 0, f"the PWA build is stale; run: {COMMAND}\n{result.stderr}"


def test_the_check_fails_on_a_stale_bundle_and_names_the_command(tmp_path: Path) -> None:
    """A source change without a rebuild is caught: the check runs on a copy whose
    js/app.js differs from what the inline module of index.html was built from."""
    copy = tmp_path / "repo"
    shutil.copytree(ROOT / "pwa", copy / "pwa", ignore=shutil.ignore_patterns("node_modules"))
    (copy / "tools").mkdir()
    shutil.copy(ROOT / "tools/build-pwa.mjs", copy / "tools/build-pwa.mjs")
    modules = ROOT / "tools/node_modules"
    if modules.exists():
        (copy / "tools/node_modules").symlink_to(modules)
    app = copy / "pwa/js/app.js"
    app.write_text(app.read_text() + "\nconsole.info('changed');\n")
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    result = subprocess.run(
        [node, "tools/build-pwa.mjs", "--check"],
        cwd=copy,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if result.returncode == 2:
        pytest.fail("esbuild is not installed: run `bash .ci/setup --test`\n" + result.stderr)
    assert result.returncode == 1
    assert f"run: {COMMAND}" in result.stderr
    assert "pwa/index.html" in result.stderr
    assert "pwa/sw.js" in result.stderr


def test_index_html_policy_allows_exactly_its_two_inline_blocks(live_server: Any) -> None:
    """The app is inline in index.html; the server's CSP for that page names the SHA-256
    of its <style> and <script> (never 'unsafe-inline'), every other answer allows 'self'
    only. A wrong hash would stop the app in the browser tests; this names the cause."""
    html = (ROOT / "pwa/index.html").read_bytes()
    style = re.search(rb"<style>(.*?)</style>", html, re.S).group(1)  # type: ignore[union-attr]
    script = re.search(rb'<script type="module">(.*?)</script>', html, re.S).group(1)  # type: ignore[union-attr]

    def sha(body: bytes) -> str:
        return "'sha256-" + base64.b64encode(hashlib.sha256(body).digest()).decode() + "'"

    for path in ("/", "/index.html"):
        answer = httpx.get(live_server.url + path)
        assert answer.status_code == 200
        assert answer.content == html
        csp = answer.headers["content-security-policy"]
        assert f"script-src 'self' {sha(script)};" in csp, csp
        assert f"style-src 'self' {sha(style)};" in csp, csp
        assert "unsafe-inline" not in csp
    for path in ("/coord.html", "/dist/coord.js", "/healthz"):
        csp = httpx.get(live_server.url + path).headers["content-security-policy"]
        assert csp == CSP, path
