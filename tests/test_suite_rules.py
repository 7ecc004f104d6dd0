"""Rules of the test suite itself, for mistakes that pass alone and fail in the whole run."""

import re
from pathlib import Path

import pytest

TESTS = Path(__file__).parent


def test_no_test_calls_asyncio_run_in_the_main_thread() -> None:
    # Playwright's sync API leaves an event loop running in the main thread once a browser
    # test has run, so `asyncio.run` fails in every test collected after one — never when
    # the module runs alone. `conftest.run_async` runs the coroutine in a thread of its own.
    offenders = [
        f"{path.name}:{n}"
        for path in sorted(TESTS.glob("*.py"))
        if path.name not in {"conftest.py", Path(__file__).name}
        for n, line in enumerate(path.read_text("utf-8").splitlines(), 1)
        if re.search(r"\basyncio\.run\(", line)
    ]
    assert not offenders, f"use conftest.run_async instead of asyncio.run: {offenders}"


def test_each_engine_run_of_a_database_test_gets_a_database_of_that_engine(
    fresh_db: str, backend: str
) -> None:
    # Collected twice by the `backend` parameter: [sqlite] gets a file, [postgresql] a
    # database on the worker's cluster. Were both runs on one engine, one would fail.
    assert fresh_db.startswith("postgresql://") == (backend == "postgresql"), fresh_db


def test_a_test_that_names_a_database_without_an_engine_fails(tmp_path: Path) -> None:
    # Nothing decides from a file's text which tests touch a database: a test that names
    # one without the `backend` fixture (directly or through fresh_db, live_server …)
    # would run on SQLite alone, so it fails and says what to ask for.
    from conftest import db_for

    with pytest.raises(pytest.fail.Exception, match="asks for no engine"):
        db_for(str(tmp_path / "doorstep.db"))


def test_no_browser_test_waits_a_fixed_time() -> None:
    # A fixed wait is too short on a loaded CI box and wasted on a quiet one: wait for
    # what the test needs (a locator, `wait_for_function`, `conftest.eventually`).
    offenders = [
        f"{path.name}:{n}"
        for path in sorted(TESTS.glob("*.py"))
        if path.name != Path(__file__).name
        for n, line in enumerate(path.read_text("utf-8").splitlines(), 1)
        if "wait_for_timeout(" in line
    ]
    assert not offenders, f"wait for a condition, not a time: {offenders}"
