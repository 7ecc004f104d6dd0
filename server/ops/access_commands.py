"""Command-line side of access control: coordinators, assignments, devices, export.

Like ``server.ops.admin`` these run in a short-lived process against the database file;
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

__all__ = ["add_commands", "add_coordinator", "assign", "setup_link", "tz_arg"]


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
    from server.guards.sessions import hash_password

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
    from server.http.people import setup_link as link

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
    from server.db.export import incidents
    from server.http.export import ExportFile, export_incident, find_incident
    from server.words import zone

    try:
        zone(args.tz)
    except ValueError as exc:
        print(f"doorstep export: {exc}", file=sys.stderr)
        return 2

    async def run(d: db.AnyDatabase) -> ExportFile | None:
        incident = find_incident(args.incident, await incidents(d))
        return await export_incident(d, incident, args.format, args.table, tz=args.tz)

    try:
        out = db.run(args.db, run)
    except LookupError as exc:
        print(f"doorstep export: {exc}", file=sys.stderr)
        return 2
    if out is None:  # deleted between the lookup and the export
        print(f"doorstep export: no incident {args.incident}", file=sys.stderr)
        return 1
    path = Path(args.out) if args.out else Path(out.name)
    if args.out and path.is_dir():
        path = path / out.name
    path.write_bytes(out.data)
    print(json.dumps({"out": str(path), "bytes": len(out.data)}, ensure_ascii=False))
    return 0


def cmd_incidents(args: argparse.Namespace) -> int:
    from server.db.export import incidents
    from server.http.export import listing
    from server.words import zone

    try:
        tz = zone(args.tz)
    except ValueError as exc:
        print(f"doorstep incidents: {exc}", file=sys.stderr)
        return 2
    rows = [listing(i, tz) for i in db.run(args.db, incidents)]
    if args.community:
        rows = [r for r in rows if r["community"] == args.community]
        if not rows:
            print(
                f"doorstep incidents: 社区“{args.community}”没有事件 "
                f"(no incidents in community “{args.community}”)",
                file=sys.stderr,
            )
    for row in rows:
        print(json.dumps(row, ensure_ascii=False))
    return 0


def tz_arg(parser: argparse.ArgumentParser) -> None:
    """``--tz``: the zone local times are written in (default $DOORSTEP_TZ or Asia/Shanghai)."""
    import os

    from server.words import DEFAULT_TZ

    default = os.environ.get("DOORSTEP_TZ", DEFAULT_TZ)
    parser.add_argument(
        "--tz",
        default=default,
        help=f"IANA time zone of local times in files (default {default}, or $DOORSTEP_TZ)",
    )


def add_commands(
    sub: "argparse._SubParsersAction[argparse.ArgumentParser]",
    db_arg: Callable[[argparse.ArgumentParser], None],
) -> None:
    """Register ``coordinator add``, ``assign``, ``incidents`` and ``export``."""
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

    p = sub.add_parser(
        "incidents", help="list incidents, newest first: name, status, community, opened, id"
    )
    db_arg(p)
    tz_arg(p)
    p.add_argument("--community", help="only this community's (its name, e.g. 精图社区)")
    p.set_defaults(func=cmd_incidents)

    p = sub.add_parser("export", help="export an incident's households, visits, deliveries")
    db_arg(p)
    tz_arg(p)
    p.add_argument(
        "--incident", required=True, help="the incident's name, a unique start of it, or its id"
    )
    p.add_argument("--format", choices=["xlsx", "csv"], default="xlsx")
    p.add_argument(
        "--table",
        choices=["households", "visits", "deliveries"],
        default="households",
        help="for csv: which table (xlsx has all three)",
    )
    p.add_argument(
        "--out",
        help="file or folder to write (default: the incident's name and today's date, "
        "e.g. 丽源路55号院停暖-2026-12-07.xlsx, in the current folder)",
    )
    p.set_defaults(func=cmd_export)
