"""Shared fixtures: a fresh database, the app in-process, and a real server process."""

import atexit
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar.testing import TestClient

from server.app import create_app

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def fresh_db(tmp_path: Path) -> str:
    """Path of a database file that does not exist yet."""
    return str(tmp_path / "doorstep.db")


class Stamper:
    """A device's clock, for tests: one strictly increasing stamp per call."""

    def __init__(self, node: str, offset_ms: int = 0) -> None:
        self.node, self.offset, self.counter = node, offset_ms, 0

    def __call__(self) -> str:
        from sync.clock import Timestamp, format_stamp

        self.counter += 1
        return format_stamp(
            Timestamp(int(time.time() * 1000) + self.offset, self.counter, self.node)
        )


def put_record(
    phone: "Phone", stamp: Stamper, coll: str, rid: str | None = None, **fields: Any
) -> str:
    """Write a whole record as field changes through the sync API; returns its id."""
    from sync.ids import uuid7

    rid = rid or uuid7()
    changes = [
        {"coll": coll, "id": rid, "field": f, "value": v, "hlc": stamp()} for f, v in fields.items()
    ]
    r = phone.sync(changes)
    assert r.status_code == 200 and r.json()["rejected"] == [], r.text
    return rid


def run_async(coro: Any) -> Any:
    """Run a coroutine to its end in a thread of its own.

    Playwright's sync API leaves an event loop running in the main thread for the rest of
    the session, so a plain ``asyncio.run`` in a test that runs after a browser test fails.
    """
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def eventually(check: Any, what: str, timeout: float = 30, every: float = 0.25) -> Any:
    """Call ``check`` until it returns something truthy; fail after ``timeout`` seconds.

    For conditions that need an asynchronous read in the page (IndexedDB, fetch):
    Playwright's ``wait_for_function`` takes the Promise such a predicate returns as a
    truthy value and returns at once, so it cannot wait for them.
    """
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:g} s: {what}")
        time.sleep(every)


def load_demo(db: str) -> None:
    """Load the demo community; its times are relative to ``DOORSTEP_TEST_DEMO_NOW`` if set.

    Tests must pass whatever hour the demo was generated at: run the suite once more with
    ``DOORSTEP_TEST_DEMO_NOW`` twelve hours away to prove it (README, Development).
    """
    at = os.environ.get("DOORSTEP_TEST_DEMO_NOW")
    if Path(db).exists():  # the demo goes into a database in use: the real command merges it
        run_cli("demo", "--db", db, *(["--now", at] if at else []))
        return
    key = at or ""
    template = _DEMO_TEMPLATES.get(key)
    if template is None:
        # Generated once per run by the real command, then copied: the demo is the same
        # 7,000 changes each time, and a subprocess per test cost minutes of CI time.
        folder = tempfile.mkdtemp(prefix="doorstep-demo-")
        atexit.register(shutil.rmtree, folder, True)
        template = Path(folder) / "demo.db"
        run_cli("demo", "--db", str(template), *(["--now", at] if at else []))
        _DEMO_TEMPLATES[key] = template
    copy_database(str(template), db)


def copy_database(src: str, dst: str) -> None:
    """A consistent copy of a database file and its decision journal (sqlite3 backup)."""
    a, b = sqlite3.connect(src), sqlite3.connect(dst)
    try:
        a.backup(b)
    finally:
        b.close()
        a.close()
    journal = Path(f"{src}-decisions")
    if journal.exists():
        shutil.copyfile(journal, f"{dst}-decisions")


def systemd_complaints(*units: str) -> list[str]:
    """What ``systemd-analyze verify`` says of unit files, less the missing /opt/doorstep
    (not installed on a test machine); anything else is a real complaint."""
    out = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", *units],
        capture_output=True,
        text=True,
        env={"SYSTEMD_LOG_LEVEL": "warning", "PATH": "/usr/bin:/bin"},
    )
    return [
        line
        for line in (out.stdout + out.stderr).splitlines()
        if line.strip() and "is not executable" not in line
    ]


#: Demo databases generated in this run, by ``DOORSTEP_TEST_DEMO_NOW``.
_DEMO_TEMPLATES: dict[str, Path] = {}


def run_cli(*args: str) -> str:
    """Run ``doorstep`` in a subprocess; returns its standard output."""
    out = subprocess.run(
        [sys.executable, "-m", "server.cli", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return out.stdout


def cli(*args: str) -> str:
    """Run ``doorstep`` in this process (the same argument parsing and command code as the
    console script, without a Python start per call); returns its standard output.

    Tests of the command line itself use ``run_cli``; the server always runs as its own
    process (``LiveServer``).
    """
    import contextlib
    import io

    from server.cli import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(list(args))
    if code:
        raise subprocess.CalledProcessError(code, ["doorstep", *args], out.getvalue())
    return out.getvalue()


def invite(db: str, role: str = "volunteer", name: str = "测试志愿者", **kw: str) -> dict:
    extra = [x for k, v in kw.items() for x in (f"--{k.replace('_', '-')}", v)]
    return json.loads(cli("invite", "--db", db, "--role", role, "--name", name, *extra))


@dataclass
class Phone:
    """An enrolled device talking to a server over HTTP."""

    client: Any
    token: str
    node: str
    person: str
    role: str
    cursor: int = 0

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def sync(self, changes: list[dict] | None = None, cursor: int | None = None, **kw: Any):
        body = {
            "node": self.node,
            "cursor": self.cursor if cursor is None else cursor,
            "changes": changes or [],
            **kw,
        }
        return self.client.post("/api/v1/sync", json=body, headers=self.headers)


def enroll(client: Any, db: str, role: str = "volunteer", name: str = "测试志愿者") -> Phone:
    code = invite(db, role, name)["code"]
    r = client.post("/api/v1/enroll", json={"code": code, "device": "pytest"})
    assert r.status_code == 200, r.text
    d = r.json()
    return Phone(client, d["token"], d["node"], d["person"], d["role"])


@pytest.fixture
def client(fresh_db: str) -> Iterator[TestClient]:
    """The app in-process on a fresh database (lifespan run, connections closed after)."""
    with TestClient(app=create_app(db=fresh_db)) as c:
        c.db_path = fresh_db  # type: ignore[attr-defined]
        yield c


@pytest.fixture
def phone(client: TestClient) -> Phone:
    return enroll(client, client.db_path)  # type: ignore[attr-defined]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class LiveServer:
    """A real ``doorstep serve`` process on a free port and its SQLite file."""

    db_path: str
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen | None = None
    #: More ``doorstep serve`` options, e.g. ("--header-timeout", "2").
    args: tuple[str, ...] = ()
    #: The server process's open-file limit (RLIMIT_NOFILE), as a service manager sets it.
    open_files: int | None = None

    @property
    def log_path(self) -> Path:
        return Path(self.db_path).with_suffix(f".{self.port}.log")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "LiveServer":
        log = open(self.log_path, "ab")  # noqa: SIM115
        files = self.open_files

        def limit_files() -> None:
            if files is not None:
                import resource

                resource.setrlimit(resource.RLIMIT_NOFILE, (files, files))

        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "server.cli",
                "serve",
                "--db",
                self.db_path,
                "--port",
                str(self.port),
                *self.args,
            ],
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=limit_files if files is not None else None,
        )
        deadline = time.monotonic() + 90  # a loaded CI box can take a minute
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.1)
        self.stop()  # a slow start must not leave a server running after the test
        raise RuntimeError("server did not start in 90 s")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def kill(self) -> None:
        """SIGKILL: no shutdown, no cleanup, as in a power cut of the process."""
        self.stop(signal.SIGKILL)

    def invite(self, role: str = "volunteer", name: str = "测试志愿者") -> dict:
        d = json.loads(
            cli(
                "invite",
                "--db",
                self.db_path,
                "--role",
                role,
                "--name",
                name,
                "--base-url",
                self.url,
            )
        )
        return d

    def enroll(self, role: str = "volunteer", name: str = "测试志愿者") -> Phone:
        return enroll(httpx.Client(base_url=self.url, timeout=30), self.db_path, role, name)

    def query(self, sql: str, args: tuple = ()) -> list[tuple]:
        conn = sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True)
        try:
            return conn.execute(sql, args).fetchall()
        finally:
            conn.close()


@pytest.fixture
def live_server(tmp_path: Path) -> Iterator[LiveServer]:
    """A real server process with the demo community loaded."""
    db = str(tmp_path / "live.db")
    load_demo(db)
    server = LiveServer(db).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def empty_server(tmp_path: Path) -> Iterator[LiveServer]:
    """A real server process on an empty database."""
    server = LiveServer(str(tmp_path / "empty.db")).start()
    try:
        yield server
    finally:
        server.stop()


os.environ.setdefault("DOORSTEP_LOG_LEVEL", "warning")


@pytest.fixture(scope="module")
def shared_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """One in-process app for a whole module (property tests use fresh ids per example)."""
    db = str(tmp_path_factory.mktemp("shared") / "doorstep.db")
    with TestClient(app=create_app(db=db)) as c:
        c.db_path = db  # type: ignore[attr-defined]
        yield c


#: Debian's Chromium, driven by Playwright (which cannot download browsers here).
CHROMIUM = os.environ.get("DOORSTEP_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def launch_chromium(playwright: Any) -> Any:
    """Launch Debian's Chromium the one way every browser test and bench does."""
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """One Chromium for the whole run; each test opens its own contexts.

    Without Chromium the browser tests skip on a developer's machine but fail in CI,
    which must run them.
    """
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} missing; .ci/setup --test installs Debian's chromium")
        pytest.skip("Debian's chromium is not installed (bash .ci/setup --test)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = launch_chromium(p)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[Any]:
    """One throwaway PostgreSQL cluster for the whole run (tests/pg.py), started by the
    first test that needs it.

    Without PostgreSQL's binaries the tests that need it skip on a developer's machine,
    but fail in CI (or with DOORSTEP_REQUIRE_PG=1), which must run them.
    """
    from pg import Cluster, find_bindir, required

    bindir = find_bindir()
    if bindir is None:
        why = "PostgreSQL's initdb/pg_ctl not found; bash .ci/setup --test installs postgresql"
        if required():
            pytest.fail(why + " (required: CI or DOORSTEP_REQUIRE_PG is set)")
        pytest.skip(why)
    cluster = Cluster(bindir)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def pg_url(pg_cluster: Any) -> Iterator[str]:
    """The URL of a new, empty PostgreSQL database of its own, dropped after the test."""
    url = pg_cluster.create_database()
    try:
        yield url
    finally:
        pg_cluster.drop_database(url)


@pytest.fixture
def demo_twins(tmp_path: Path, pg_url: str) -> tuple[str, str]:
    """The demo community twice: a SQLite file and a PostgreSQL copy of it made by
    ``doorstep migrate-db``'s code, for tests that ask both backends the same question
    and compare the answers (docs/postgresql.md, "How a module is ported")."""
    from server.db.pg.migrate_db import copy

    path = str(tmp_path / "twin.db")
    load_demo(path)
    run_async(copy(path, pg_url))
    return path, pg_url


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A test that drives the browser must say so with the ``browser`` marker.

    So ``-m browser`` / ``-m "not browser"`` select exactly the browser tests, and a new
    browser test cannot hide from either selection.
    """
    unmarked = [
        item.nodeid
        for item in items
        if "browser" in getattr(item, "fixturenames", ()) and not item.get_closest_marker("browser")
    ]
    if unmarked:
        raise pytest.UsageError(
            "browser tests without @pytest.mark.browser: " + ", ".join(unmarked)
        )
