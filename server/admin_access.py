"""Command-line side of access control: coordinators, assignments, devices, export.

Like ``server.admin`` these run in a short-lived process against the database file;
assignments are written as ordinary field changes (server node), so phones pull them.
"""

import argparse
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

from server import db
from server.db import changes, people

__all__ = ["add_commands", "add_coordinator", "assign", "setup_link"]


def assign(
    path: str,
    person: str,
    *,
    building: str | None = None,
    incident: str | None = None,
    active: bool = True,
) -> str:
    """Assign (or with ``active=False`` un-assign) a building or a whole incident.

    Returns:
        The assignment id ``<person>~<building or incident>``.
    """
    if (building is None) == (incident is None):
        raise ValueError("give exactly one of building or incident")
    target = building or incident
    rid = f"{person}~{target}"
    fields: dict[str, object] = {"person": person, "active": active}
    fields["building" if building else "incident"] = target

    async def run(d: db.AnyDatabase) -> None:
        if not await people.exists(d, person):
            raise LookupError(f"no person {person}")
        await changes.write_records(d, [("assignments", rid, fields)])

    db.run(path, run)
    return rid


def add_coordinator(
    path: str, login: str, password: str, *, name: str = "", community: str | None = None
) -> str:
    """Create a coordinator who logs in with ``login`` and ``password`` (argon2id).

    Returns:
        The person id.
    """
    from server.auth import hash_password

    if len(password) < 10:
        raise ValueError("password must be at least 10 characters")
    hashed = hash_password(password)
    return db.run(
        path,
        lambda d: people.add_coordinator(d, login, hashed, name=name or login, community=community),
    )


def _read_password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n")
    import getpass

    return getpass.getpass("password: ")


def setup_link(
    path: str, *, name: str, community: str | None, base_url: str, ttl_hours: float = 72
) -> dict[str, str]:
    """A coordinator who chooses their own login and password on a single-use link
    (``/setup.html#<code>``), as the console's 添加社区负责人 makes one.

    Returns:
        {"person", "code", "url", "expires_at"}
    """
    from server.people import setup_link as link

    codes, expires = db.run(
        path,
        lambda d: people.invite_many(
            d, [name], role=people.SETUP, community=community, ttl_hours=ttl_hours
        ),
    )
    code, person = codes[0]
    return {"person": person, "code": code, "url": link(base_url, code), "expires_at": expires}


def cmd_coordinator_add(args: argparse.Namespace) -> int:
    if args.link:
        if not args.name or not args.base_url:
            print(
                "doorstep coordinator add --link: give --name and --base-url (or set "
                "DOORSTEP_BASE_URL: the address people open)",
                file=sys.stderr,
            )
            return 2
        made = setup_link(
            args.db, name=args.name, community=args.community, base_url=args.base_url.rstrip("/")
        )
        print(json.dumps({**made, "community": args.community}, ensure_ascii=False))
        return 0
    if not args.login:
        print("doorstep coordinator add: give --login (or --link)", file=sys.stderr)
        return 2
    try:
        person = add_coordinator(
            args.db,
            args.login,
            _read_password(args),
            name=args.name or "",
            community=args.community,
        )
    except (LookupError, ValueError) as exc:
        print(f"doorstep coordinator add: {exc}", file=sys.stderr)
        return 2
    print(json.dumps({"person": person, "login": args.login, "community": args.community}))
    return 0


def cmd_assign(args: argparse.Namespace) -> int:
    try:
        rid = assign(
            args.db,
            args.person,
            building=args.building,
            incident=args.incident,
            active=not args.off,
        )
    except (LookupError, ValueError) as exc:
        print(f"doorstep assign: {exc}", file=sys.stderr)
        return 2
    print(json.dumps({"assignment": rid, "active": not args.off}))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from server.export import export_incident

    data = db.run(args.db, lambda d: export_incident(d, args.incident, args.format, args.table))
    if data is None:
        print(f"doorstep export: no incident {args.incident}", file=sys.stderr)
        return 1
    Path(args.out).write_bytes(data)
    print(json.dumps({"out": args.out, "bytes": len(data)}))
    return 0


def add_commands(
    sub: "argparse._SubParsersAction[argparse.ArgumentParser]",
    db_arg: Callable[[argparse.ArgumentParser], None],
) -> None:
    """Register ``coordinator add``, ``assign`` and ``export`` on the ``doorstep`` parser."""
    p = sub.add_parser("coordinator", help="manage coordinators who log in with a password")
    csub = p.add_subparsers(dest="coordinator_command", required=True)
    a = csub.add_parser("add", help="create a coordinator login; prints one JSON line")
    db_arg(a)
    a.add_argument("--login", help="the name typed at login (required without --link)")
    a.add_argument("--name", help="display name (default: the login)")
    a.add_argument("--community", help="community id (default: all communities)")
    a.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    a.add_argument(
        "--link",
        action="store_true",
        help="instead of a login: print a single-use setup link on which the person chooses "
        "their login and password (needs --name and --base-url)",
    )
    a.add_argument(
        "--base-url",
        default=os.environ.get("DOORSTEP_BASE_URL"),
        help="for --link: the address people open (default $DOORSTEP_BASE_URL)",
    )
    a.set_defaults(func=cmd_coordinator_add)

    p = sub.add_parser("assign", help="assign a volunteer a building or a whole incident")
    db_arg(p)
    p.add_argument("--person", required=True)
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--building")
    g.add_argument("--incident")
    p.add_argument("--off", action="store_true", help="end the assignment")
    p.set_defaults(func=cmd_assign)

    p = sub.add_parser("export", help="export an incident's households, visits, deliveries")
    db_arg(p)
    p.add_argument("--incident", required=True)
    p.add_argument("--format", choices=["xlsx", "csv"], default="xlsx")
    p.add_argument(
        "--table",
        choices=["households", "visits", "deliveries"],
        default="households",
        help="for csv: which table (xlsx has all three)",
    )
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_export)
