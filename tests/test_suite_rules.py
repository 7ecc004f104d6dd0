"""Rules of the test suite itself, for mistakes that pass alone and fail in the whole run."""

import re
from pathlib import Path

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
