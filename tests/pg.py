"""A throwaway PostgreSQL cluster for tests and benchmarks (issue 14).

``Cluster.start()`` runs Debian's ``initdb`` and ``pg_ctl`` in a temporary directory; the
server listens only on a unix socket in that directory (no port to collide with), trusts
local connections and, unless ``durable``, skips fsync. ``stop()`` removes everything.

PostgreSQL refuses to run as root, and CI runs as root: then the cluster runs as the
``postgres`` system user Debian's package creates (``runuser``), in a directory it owns.
"""

import contextlib
import os
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path
from typing import Any

__all__ = ["Cluster", "find_bindir", "required"]


def find_bindir() -> Path | None:
    """Where ``initdb`` and ``pg_ctl`` are: $DOORSTEP_PG_BIN, Debian's
    /usr/lib/postgresql/<newest>/bin (not on PATH), or PATH."""
    env = os.environ.get("DOORSTEP_PG_BIN")
    if env:
        return Path(env) if (Path(env) / "initdb").exists() else None
    debian = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    if debian:
        return debian[-1].parent
    found = shutil.which("pg_ctl")
    return Path(found).parent if found and shutil.which("initdb") else None


def required() -> bool:
    """True when a missing PostgreSQL must fail the tests rather than skip them: in CI
    (which installs it with ``.ci/setup --test``) or with DOORSTEP_REQUIRE_PG set."""
    flags = (os.environ.get("CI", ""), os.environ.get("DOORSTEP_REQUIRE_PG", ""))
    return any(f.strip().lower() not in ("", "0", "false", "no") for f in flags)


class Cluster:
    """One PostgreSQL server in a temporary directory."""

    def __init__(self, bindir: Path, *, durable: bool = False) -> None:
        self.bindir = bindir
        self.durable = durable
        self.dir = Path(tempfile.mkdtemp(prefix="doorstep-pg-"))
        self.data = self.dir / "data"
        self.log = self.dir / "server.log"
        self._as: list[str] = []
        self._admin: Any = None
        if os.geteuid() == 0:
            # PostgreSQL will not run as root: hand the directory to Debian's postgres user.
            shutil.chown(self.dir, "postgres", "postgres")
            self._as = ["runuser", "-u", "postgres", "--"]

    def _run(self, *cmd: str) -> None:
        out = subprocess.run(
            [*self._as, *cmd], capture_output=True, text=True, timeout=120, check=False
        )
        if out.returncode != 0:
            log = self.log.read_text() if self.log.exists() else ""
            raise RuntimeError(f"{cmd[0]} failed ({out.returncode}): {out.stderr}{log}")

    def start(self) -> "Cluster":
        self._run(
            str(self.bindir / "initdb"),
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
        )
        opts = [
            "-k",
            str(self.dir),
            "-c",
            "listen_addresses=",
            "-c",
            "max_connections=100",
        ]
        if not self.durable:
            opts += ["-c", "fsync=off", "-c", "full_page_writes=off"]
        self._run(
            str(self.bindir / "pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.log),
            "-w",
            "-t",
            "60",
            "-o",
            " ".join(opts),
            "start",
        )
        return self

    def url(self, dbname: str = "postgres") -> str:
        """A ``postgresql://`` URL of a database on this cluster (over the unix socket)."""
        return f"postgresql://postgres@/{dbname}?host={self.dir}"

    def create_database(self, options: str = "") -> str:
        """A new empty database (``options``: of CREATE DATABASE); its URL."""
        name = "t_" + uuid.uuid4().hex[:12]
        self.psql(f"CREATE DATABASE {name} {options}")
        return self.url(name)

    def drop_database(self, url: str) -> None:
        name = url.split("/")[3].split("?")[0]
        self.psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def psql(self, sql: str) -> None:
        """Run one statement as the superuser, on one connection kept for the cluster's
        life: a suite makes and drops hundreds of databases, and a ``psql`` process
        (through ``runuser`` when root) for each cost a noticeable part of a second."""
        if self._admin is None:
            import psycopg

            self._admin = psycopg.connect(self.url(), autocommit=True)
        self._admin.execute(sql)

    def stop(self) -> None:
        if self._admin is not None:
            with contextlib.suppress(Exception):
                self._admin.close()
            self._admin = None
        with contextlib.suppress(Exception):
            if (self.data / "postmaster.pid").exists():
                self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "fast", "stop")
        shutil.rmtree(self.dir, ignore_errors=True)
