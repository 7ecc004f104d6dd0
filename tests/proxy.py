"""Caddy in front of a real server, as deploy/ installs it, for tests and benches.

The site's directives are deploy/doorstep.caddy, imported unchanged; only the global
options differ from deploy/Caddyfile: free ports, `tls internal` for localhost, no admin
endpoint, no attempt to install Caddy's root certificate into the system trust store, and
Caddy's data (its local CA) in a directory of the test's own.
"""

from __future__ import annotations

import os
import shutil
import socket
import ssl
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
CADDY = shutil.which("caddy") or "/usr/bin/caddy"

GLOBALS = """{{
	admin off
	skip_install_trust
	http_port {http_port}
	https_port {https_port}
	servers {{
		protocols h1 h2 h3
		timeouts {{
			read_header 15s
			idle 5m
		}}
	}}
}}

https://localhost:{https_port} {{
	tls internal
	import {snippet}
}}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Caddy:
    """Debian's caddy serving https://localhost:<port> in front of ``upstream``.

    ``upstream`` is one address, or several separated by spaces with ``snippet`` set to
    deploy/doorstep-multi.caddy (several app servers, docs/scaling.md).
    """

    upstream: str
    workdir: Path
    snippet: Path = DEPLOY / "doorstep.caddy"
    https_port: int = field(default_factory=free_port)
    http_port: int = field(default_factory=free_port)
    proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"https://localhost:{self.https_port}"

    @property
    def root_cert(self) -> Path:
        return self.workdir / "data/caddy/pki/authorities/local/root.crt"

    @property
    def tls(self) -> ssl.SSLContext:
        """A client TLS context that trusts this Caddy's local CA (and nothing else)."""
        return ssl.create_default_context(cafile=str(self.root_cert))

    def start(self) -> Caddy:
        self.workdir.mkdir(parents=True, exist_ok=True)
        config = self.workdir / "Caddyfile"
        config.write_text(
            GLOBALS.format(
                http_port=self.http_port,
                https_port=self.https_port,
                snippet=self.snippet,
            )
        )
        env = {
            **os.environ,
            "DOORSTEP_UPSTREAM": self.upstream,
            "DOORSTEP_UPSTREAMS": self.upstream,
            "XDG_DATA_HOME": str(self.workdir / "data"),
            "XDG_CONFIG_HOME": str(self.workdir / "config"),
            "HOME": str(self.workdir),
        }
        log = open(self.workdir / "caddy.log", "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [CADDY, "run", "--config", str(config), "--adapter", "caddyfile"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"caddy exited with {self.proc.returncode}: see {log.name}")
            if self.root_cert.exists():
                try:
                    r = httpx.get(f"{self.url}/healthz", verify=self.tls, timeout=2)
                    if r.status_code == 200:
                        return self
                except httpx.HTTPError:
                    pass
            time.sleep(0.1)
        raise RuntimeError("caddy did not serve in 30 s")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
