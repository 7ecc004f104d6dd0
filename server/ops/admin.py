"""Storage for the command line (invite, first-run code, devices, revoke, demo), run in a
short-lived process by ``server.ops.cli``.

Each function opens the database the one way (``server.db.run``) and calls the same
named functions the server uses, so the CLI and the server write through the same code.
"""

from collections.abc import Iterable
from datetime import datetime

from server import db
from server.db import changes, devices, meta, people
from server.db.changes import iso_now

__all__ = [
    "create_invite",
    "first_run_code",
    "list_devices",
    "load_demo",
    "now_iso",
    "revoke",
    "write_records",
]

now_iso = iso_now


def create_invite(
    path: str,
    role: str,
    *,
    name: str | None = None,
    person: str | None = None,
    ttl_hours: float = 72,
) -> tuple[str, str]:
    """Create a single-use invite code for a new or existing person.

    Returns:
        (code, person id)
    """
    return db.run(
        path,
        lambda d: people.create_invite(d, role, name=name, person=person, ttl_hours=ttl_hours),
    )


def first_run_code(path: str) -> str | None:
    """A single-use setup code for the first coordinator, while no coordinator can sign
    in (``people.first_run_code``); None afterwards."""
    return db.run(path, people.first_run_code)


def revoke(path: str, node: str) -> bool:
    """Revoke a device; its next request gets 401. Returns False if no such device."""
    return db.run(path, lambda d: devices.revoke(d, node, iso_now()))


def list_devices(path: str) -> list[dict[str, str | None]]:
    return db.run(path, devices.everything)


def write_records(
    path: str,
    records: Iterable[tuple[str, str, dict[str, object]]],
    *,
    at: datetime | None = None,
) -> int:
    """Write whole records as field changes stamped by the server's own node.

    Returns:
        The number of field changes written.
    """
    return db.run(path, lambda d: changes.write_records(d, records, at=at))


def load_demo(path: str, records: Iterable[tuple[str, str, dict[str, object]]]) -> int | None:
    """Load the demo records once; None if they were loaded before."""

    async def run(d: db.AnyDatabase) -> int | None:
        if await meta.get(d, "demo_loaded"):
            return None
        n = await changes.write_records(d, records)
        await meta.set(d, "demo_loaded", "1")
        return n

    return db.run(path, run)
