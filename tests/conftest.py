"""Shared fixtures: a fresh database, the app in-process, and a real server process.

One suite, both engines (issues 14 and 21, docs/postgresql.md): every test that touches a
database asks for one through a fixture — ``fresh_db``, ``client``, ``phone``,
``live_server``, ``empty_server``, ``shared_client``, a module's own server fixture, or
``backend`` itself — and the ``backend`` fixture is a parameter, so the test runs twice,
``[sqlite]`` and ``[postgresql]``. Inside such a test every database it names by a SQLite
path (``LiveServer(path)``, ``load_demo(path)``, ``cli(..., "--db", path)``) is, in its
``[postgresql]`` run, a database of its own on the worker's throwaway cluster (``db_for``),
loaded from the file when the test prepared one. A test that names a database without
asking for ``backend`` fails and says so. Browser tests and tests marked ``sqlite_only``
run on SQLite alone; tests that touch no database run once. ``--backend sqlite`` or
``--backend postgresql`` keeps one engine's runs (and, for sqlite, the tests without one).
"""

import atexit
import json
import os
import re
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

from server.http.app import create_app

ROOT = Path(__file__).resolve().parent.parent
BACKENDS = ("sqlite", "postgresql")
#: The engine of the test running now (the ``backend`` fixture sets it); None while a
#: test that asked for no database runs. Outside pytest (``bench/`` uses these helpers)
#: a path is a SQLite file.
_CURRENT: str | None = "sqlite"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--backend",
        choices=(*BACKENDS, "both"),
        default=os.environ.get("DOORSTEP_TEST_BACKEND", "both"),
        help="which engine's runs of the database tests to keep (default: "
        "$DOORSTEP_TEST_BACKEND or both); sqlite also keeps the tests without a database; "
        "postgresql runs on a throwaway cluster per process (tests/pg.py)",
    )


def pytest_configure(config: pytest.Config) -> None:
    global _CURRENT
    _CURRENT = None  # from here on, each test says which engine it runs on


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A test that uses ``backend``, directly or through any fixture, runs once per
    engine: ``[sqlite]`` and ``[postgresql]``; a browser test or one marked
    ``sqlite_only`` on SQLite alone. Module-scoped, so a module's shared server is
    started once per engine and its tests are grouped by engine."""
    if "backend" not in metafunc.fixturenames:
        return
    one = metafunc.definition.get_closest_marker
    kinds = ["sqlite"] if one("browser") or one("sqlite_only") else list(BACKENDS)
    metafunc.parametrize("backend", kinds, indirect=True, scope="module", ids=kinds)


@pytest.fixture(scope="module")
def backend(request: pytest.FixtureRequest) -> str:
    """``sqlite`` or ``postgresql``: the engine of this run of the test (a parameter,
    ``pytest_generate_tests``)."""
    global _CURRENT
    _CURRENT = request.param
    return request.param


def _engine_free(item: pytest.Item) -> bool:
    """A test that may name a SQLite file without asking for ``backend``: it compares
    the engines itself (``test_pg_*``, with ``pg_url`` or ``demo_twins``) or is about
    SQLite (``sqlite_only``)."""
    return (
        Path(str(item.fspath)).name.startswith("test_pg_")
        or item.get_closest_marker("sqlite_only") is not None
    )


@pytest.fixture(autouse=True)
def _engine_of_test(request: pytest.FixtureRequest) -> Iterator[None]:
    """Sets the engine the helpers use for this test (None: it asked for no database),
    and on PostgreSQL drops the databases that stood for its files when it ends (a run
    makes hundreds; the module-scoped ones go with their fixture or the cluster)."""
    global _CURRENT
    spec = getattr(request.node, "callspec", None)
    kind = spec.params.get("backend") if spec is not None else None
    if kind is None and _engine_free(request.node):
        kind = "sqlite"
    before, _CURRENT = _CURRENT, kind
    if kind != "postgresql":
        yield
        _CURRENT = before
        return
    folder = str(request.getfixturevalue("tmp_path"))
    yield
    _CURRENT = before
    for path in [p for p in _PG_TWINS if p.startswith(folder + os.sep)]:
        _cluster().drop_database(_PG_TWINS.pop(path))


def current_backend() -> str:
    """The engine of the test running now; fails a test that touches a database
    without asking for one (the ``backend`` fixture, or a fixture that uses it)."""
    if _CURRENT is None:
        pytest.fail(
            "this test names a database but asks for no engine: take the `backend` "
            "fixture (or fresh_db, client, live_server …) so it runs on both engines",
            pytrace=False,
        )
    return _CURRENT


#: SQLite path a test named → the PostgreSQL database standing for it in this run.
_PG_TWINS: dict[str, str] = {}


def db_for(db: str) -> str:
    """The database a test names by ``db`` on this test's engine: ``db`` itself on
    SQLite (or when it is already a URL); on PostgreSQL, a database of its own on the
    run's cluster, the same one each time the same path is named. A file the test
    prepared at that path (``load_demo``, a copy) is copied into it the first time."""
    from server.db import postgresql as pg

    if pg.is_url(db) or db == ":memory:" or current_backend() != "postgresql":
        return db
    url = _PG_TWINS.get(db)
    if url is None:
        if Path(db).exists():
            from server.db.move import copy

            url = _cluster().create_database()
            run_async(copy(db, url))
        else:
            url = _cluster().create_database()
        _PG_TWINS[db] = url
    return url


#: The SQLite functions tests use on JSON values, as PostgreSQL says them (``query``).
_PG_DIALECT = [
    (re.compile(r"json_extract\(([\w.]+), '\$'\)"), r"((\1)::jsonb #>> '{}')"),
    (re.compile(r"json_quote\(\?\)"), "to_json(?::text)::text"),
]


def query(db: str, sql: str, args: tuple = ()) -> list[tuple]:
    """Rows of a read query on either engine, written in SQLite's spelling with ``?``
    placeholders (``json_extract(v, '$')`` and ``json_quote(?)`` translated for
    PostgreSQL): for tests that look into the database a server wrote
    (``LiveServer.query``)."""
    db = db_for(db)
    from server.db import postgresql as pg

    if not pg.is_url(db):
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            return conn.execute(sql, args).fetchall()
        finally:
            conn.close()
    for sqlite_sql, pg_sql in _PG_DIALECT:
        sql = sqlite_sql.sub(pg_sql, sql)
    import psycopg

    from server.db.postgresql.dialect import PgConn

    with psycopg.connect(db, autocommit=True) as conn:
        return [tuple(r) for r in PgConn(conn).execute(sql, args).fetchall()]


def database_on(kind: str, path: str) -> str:
    """A new database on the engine ``kind``: the file ``path`` for ``sqlite``, a new
    empty database on the run's cluster for ``postgresql`` (for a test that needs a
    second database of its engine, or builds one with old code: tests/test_migrations.py)."""
    if kind == "sqlite":
        return path
    return _cluster().create_database()


def drop_database(db: str) -> None:
    """Drop the PostgreSQL database ``db`` (``db_for``'s URL) before the end of the run,
    as a module-scoped fixture does with its own (a file is left to tmp_path)."""
    from server.db import postgresql as pg

    if pg.is_url(db) and _CLUSTER is not None:
        for path in [p for p, url in _PG_TWINS.items() if url == db]:
            del _PG_TWINS[path]
        _CLUSTER.drop_database(db)


@pytest.fixture
def fresh_db(tmp_path: Path, backend: str) -> str:
    """A database that does not exist yet: a file path, or on PostgreSQL the URL of an
    empty database."""
    return db_for(str(tmp_path / "doorstep.db"))


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

    On PostgreSQL, ``db`` (a path, or a URL) gets a database holding the demo: a new one
    made from a PostgreSQL copy of the demo (``CREATE DATABASE … TEMPLATE``: a file copy
    inside the cluster), or the demo merged into the one in use.
    """
    from server.db import postgresql as pg

    at = os.environ.get("DOORSTEP_TEST_DEMO_NOW")
    key = at or ""
    now = ["--now", at] if at else []
    fresh = not pg.is_url(db) and not Path(db).exists() and db not in _PG_TWINS
    if current_backend() == "postgresql" and fresh:
        _PG_TWINS[db] = _cluster().create_database(f"TEMPLATE {_pg_demo(key, now)}")
        return
    target = db_for(db)
    if pg.is_url(target):
        migrated = query(target, "SELECT to_regclass('history') IS NOT NULL")[0][0]
        if migrated and query(target, "SELECT 1 FROM history UNION SELECT 1 FROM people"):
            run_cli("demo", "--db", target, *now)  # in use: the real command merges it
        else:
            from server.db.move import copy

            run_async(copy(str(_sqlite_demo(key, now)), target))
        return
    if Path(db).exists():  # the demo goes into a database in use: the real command merges it
        run_cli("demo", "--db", db, *now)
        return
    copy_database(str(_sqlite_demo(key, now)), db)


def demo_file() -> Path:
    """The demo community in a SQLite file of the run, whatever the test's engine (to read
    from, never to write: it is shared)."""
    at = os.environ.get("DOORSTEP_TEST_DEMO_NOW")
    return _sqlite_demo(at or "", ["--now", at] if at else [])


def _sqlite_demo(key: str, now: list[str]) -> Path:
    """The demo in a SQLite file, generated once per run by the real command."""
    template = _DEMO_TEMPLATES.get(key)
    if template is None:
        # Generated once per run by the real command, then copied: the demo is the same
        # 7,000 changes each time, and a subprocess per test cost minutes of CI time.
        folder = tempfile.mkdtemp(prefix="doorstep-demo-")
        atexit.register(shutil.rmtree, folder, True)
        template = Path(folder) / "demo.db"
        _run_cli("demo", "--db", str(template), *now)
        _DEMO_TEMPLATES[key] = template
    return template


def _pg_demo(key: str, now: list[str]) -> str:
    """The name of a PostgreSQL database holding the demo (copied once per run from the
    SQLite demo by ``doorstep migrate-db``'s code), a template for new ones."""
    name = _PG_DEMO_TEMPLATES.get(key)
    if name is None:
        from server.db.move import copy

        url = _cluster().create_database()
        run_async(copy(str(_sqlite_demo(key, now)), url))
        name = _PG_DEMO_TEMPLATES[key] = url.split("/")[3].split("?")[0]
    return name


#: PostgreSQL demo databases of this run, by ``DOORSTEP_TEST_DEMO_NOW``.
_PG_DEMO_TEMPLATES: dict[str, str] = {}


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


def _on_backend(args: tuple[str, ...]) -> list[str]:
    """The arguments with each ``--db PATH`` naming the run's database for it (db_for)."""
    out = list(args)
    for i in range(len(out) - 1):
        if out[i] == "--db":
            out[i + 1] = db_for(out[i + 1])
    return out


def run_cli(*args: str) -> str:
    """Run ``doorstep`` in a subprocess; returns its standard output."""
    return _run_cli(*_on_backend(args))


def _run_cli(*args: str) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "server.ops.cli", *args],
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

    from server.ops.cli import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(_on_backend(args))
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
    """A real ``doorstep serve`` process on a free port and its database: the SQLite file
    ``db_path``, or on PostgreSQL its twin (``db_for``; ``db_path`` is then its URL)."""

    db_path: str
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen | None = None
    #: More ``doorstep serve`` options, e.g. ("--header-timeout", "2").
    args: tuple[str, ...] = ()
    #: The server process's open-file limit (RLIMIT_NOFILE), as a service manager sets it.
    open_files: int | None = None

    def __post_init__(self) -> None:
        #: Where the log goes: beside the file the test named.
        self.named = self.db_path
        self.db_path = db_for(self.db_path)

    @property
    def log_path(self) -> Path:
        if self.named.startswith("postgresql://"):
            return Path(tempfile.gettempdir()) / f"doorstep-{self.port}.log"
        return Path(self.named).with_suffix(f".{self.port}.log")

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
                "server.ops.cli",
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
                said = self.log_path.read_text(errors="replace").strip().splitlines()[-1:]
                raise RuntimeError(f"server exited with {self.proc.returncode}: {said}")
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
        """Rows of a read query on the server's database, either backend (``query``)."""
        return query(self.db_path, sql, args)


@pytest.fixture
def live_server(tmp_path: Path, backend: str) -> Iterator[LiveServer]:
    """A real server process with the demo community loaded."""
    db = str(tmp_path / "live.db")
    load_demo(db)
    server = LiveServer(db).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def empty_server(tmp_path: Path, backend: str) -> Iterator[LiveServer]:
    """A real server process on an empty database."""
    server = LiveServer(str(tmp_path / "empty.db")).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def module_live_server(
    tmp_path_factory: pytest.TempPathFactory, backend: str
) -> Iterator[LiveServer]:
    """``live_server`` for a whole module, once per engine: for modules whose tests each
    use devices, records and ids of their own (a module opts in by overriding
    ``live_server`` with it). A server start is seconds of a loaded CI box's CPU."""
    db = str(tmp_path_factory.mktemp("live") / "live.db")
    load_demo(db)
    server = LiveServer(db).start()
    try:
        yield server
    finally:
        server.stop()
        drop_database(server.db_path)


@pytest.fixture(scope="module")
def module_empty_server(
    tmp_path_factory: pytest.TempPathFactory, backend: str
) -> Iterator[LiveServer]:
    """``empty_server`` for a whole module, once per engine (``module_live_server``)."""
    server = LiveServer(str(tmp_path_factory.mktemp("empty") / "empty.db")).start()
    try:
        yield server
    finally:
        server.stop()
        drop_database(server.db_path)


os.environ.setdefault("DOORSTEP_LOG_LEVEL", "warning")


@pytest.fixture(scope="module")
def shared_client(tmp_path_factory: pytest.TempPathFactory, backend: str) -> Iterator[TestClient]:
    """One in-process app for a whole module (property tests use fresh ids per example)."""
    db = db_for(str(tmp_path_factory.mktemp("shared") / "doorstep.db"))
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


_CLUSTER: Any = None


def _cluster() -> Any:
    """The run's throwaway PostgreSQL cluster (tests/pg.py), started by the first test
    that needs it and stopped at the end of the run (``pytest_unconfigure``).

    Without PostgreSQL's binaries the tests that need it skip on a developer's machine,
    but fail in CI (or with DOORSTEP_REQUIRE_PG=1). Each process has its own (one per
    pytest-xdist worker), in a directory of its own, reached over a unix socket.
    """
    global _CLUSTER
    if _CLUSTER is None:
        from pg import Cluster, find_bindir, required

        bindir = find_bindir()
        if bindir is None:
            why = "PostgreSQL's initdb/pg_ctl not found; bash .ci/setup --test installs it"
            if required():
                pytest.fail(why + " (required: CI or DOORSTEP_REQUIRE_PG)")
            pytest.skip(why)
        cluster = Cluster(bindir)
        try:
            cluster.start()
        except BaseException:
            cluster.stop()
            raise
        _CLUSTER = cluster
    return _CLUSTER


def pytest_unconfigure(config: pytest.Config) -> None:
    global _CLUSTER
    if _CLUSTER is not None:
        cluster, _CLUSTER = _CLUSTER, None
        cluster.stop()


@pytest.fixture(scope="session")
def pg_cluster() -> Any:
    """One throwaway PostgreSQL cluster for the whole run (``_cluster``)."""
    return _cluster()


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
    from server.db.move import copy

    path = str(tmp_path / "twin.db")
    load_demo(path)
    run_async(copy(path, pg_url))
    return path, pg_url


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A test that drives the browser must say so with the ``browser`` marker.

    So ``-m browser`` / ``-m "not browser"`` select exactly the browser tests, and a new
    browser test cannot hide from either selection.

    ``--backend postgresql`` keeps only the ``[postgresql]`` runs; ``--backend sqlite``
    leaves them out.
    """
    only = config.getoption("backend")
    if only != "both":
        kept, left = [], []
        for item in items:
            spec = getattr(item, "callspec", None)
            kind = spec.params.get("backend") if spec is not None else None
            keep = kind == "postgresql" if only == "postgresql" else kind != "postgresql"
            (kept if keep else left).append(item)
        if left:
            config.hook.pytest_deselected(items=left)
            items[:] = kept
    unmarked = [
        item.nodeid
        for item in items
        if "browser" in getattr(item, "fixturenames", ()) and not item.get_closest_marker("browser")
    ]
    if unmarked:
        raise pytest.UsageError(
            "browser tests without @pytest.mark.browser: " + ", ".join(unmarked)
        )
