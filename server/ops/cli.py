"""The ``doorstep`` command line (``doorstep = server.ops.cli:main`` in pyproject.toml).

Each subcommand parses its flags here and works through ``server.ops.admin``,
``server.ops.access_commands``, ``server.ledger.command`` or ``server.db``; ``serve``
runs ``server.http.app.create_app`` under uvicorn with ``server.http.listener``'s protocol.
"""

import argparse
import json
import os
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path

__all__ = ["main"]

DEFAULT_DB = "data/doorstep.db"


def _db(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db",
        default=os.environ.get("DOORSTEP_DB", DEFAULT_DB),
        help=f"SQLite file (default {DEFAULT_DB}, or $DOORSTEP_DB), or a PostgreSQL URL "
        "postgresql://user:password@host:port/db (docs/postgresql.md)",
    )


_LOCAL = "http://127.0.0.1:8000"


def _base_url(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--base-url",
        default=os.environ.get("DOORSTEP_BASE_URL"),
        help="the address people open, used in links, e.g. https://doorstep.example.org "
        "(default $DOORSTEP_BASE_URL; serve: the address a request reached it on)",
    )


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from server.db import postgresql as pg
    from server.http.app import create_app
    from server.http.config import Settings
    from server.http.listener import (
        Limits,
        accept_backlog,
        body_limits,
        default_max_connections,
        guarded_protocol,
        quiet_accept_errors,
        raise_open_file_limit,
    )
    from server.live.residents import lean_resident_streams

    if pg.is_url(args.db):
        # Reach the database and bring its schema up to date before the app starts, so a
        # server that does not answer is one line here, not a traceback from the lifespan.
        from server.db import migrate
        from server.db.migrations import MigrationError
        from server.db.postgresql.core import redact

        try:
            migrate(args.db)
        except MigrationError as exc:
            print(f"doorstep serve: {redact(args.db)}: {exc}", file=sys.stderr)
            return 1
    from server.words import zone

    try:
        zone(args.tz)
    except ValueError as exc:
        print(f"doorstep serve: {exc}", file=sys.stderr)
        return 2
    given = args.base_url is not None
    base = (args.base_url or f"http://{args.host}:{args.port}").rstrip("/")
    app = create_app(Settings(db=args.db, base_url=base, base_url_given=given, tz=args.tz))
    files = raise_open_file_limit()
    cap = args.max_connections or default_max_connections(files)
    bodies, per_address = body_limits(cap, args.max_bodies, args.max_bodies_per_address)
    limits = Limits(
        header_timeout=args.header_timeout,
        body_timeout=args.body_timeout,
        max_connections=cap,
        min_body_rate=args.min_body_rate,
        max_bodies=bodies,
        max_bodies_per_address=per_address,
    )
    print(
        f"Doorstep on {base}  (db {pg.redact(args.db)}; at most {cap} connections, "
        f"{bodies} uploads, {per_address} per address)",
        file=sys.stderr,
    )
    _first_run(args.db, base, given)
    quiet_accept_errors()
    try:
        uvicorn.run(
            # Residents' streams are served outside Litestar's per-request machinery.
            lean_resident_streams(app, base.startswith("https:")),
            host=args.host,
            port=args.port,
            http=guarded_protocol(limits),
            backlog=accept_backlog(files),
            access_log=False,
            log_level="warning",
        )
        code = 0
    except SystemExit as exc:  # uvicorn exits 3 when the app fails to start
        code = exc.code if isinstance(exc.code, int) else 1
    # uvicorn has shut the app down. A thread that outlived it (a database connection a
    # failed start left open) must not keep a server that is not serving alive.
    main = threading.main_thread()
    stray = [t.name for t in threading.enumerate() if t is not main and not t.daemon]
    if stray:
        print(f"doorstep serve: exiting despite threads still running: {stray}", file=sys.stderr)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code or 1)
    return code


def _first_run(db: str, base: str, given: bool) -> None:
    """On a database where no coordinator can sign in yet, print one single-use link on
    which the first coordinator sets a login and password (issue 19)."""
    from server.http.people import setup_link
    from server.ops.admin import first_run_code

    if not _is_url(db):
        Path(db).parent.mkdir(parents=True, exist_ok=True)
    code = first_run_code(db)
    if code is None:
        return
    host = "" if given else " (or the address people reach this server on; --base-url sets it)"
    print(
        "\nNo coordinator yet. Open this single-use link to set the first coordinator's login "
        f"and password (valid 72 h; a restart before then prints a new one){host}:\n"
        f"  首位协调员设置链接：{setup_link(base, code)}\n",
        file=sys.stderr,
    )


def _is_url(db: str) -> bool:
    from server.db import postgresql as pg

    return pg.is_url(db)


def cmd_invite(args: argparse.Namespace) -> int:
    from server.ops.admin import create_invite

    try:
        code, person = create_invite(
            args.db, args.role, name=args.name, person=args.person, ttl_hours=args.ttl_hours
        )
    except LookupError as exc:
        print(f"doorstep invite: {exc}", file=sys.stderr)
        return 2
    if args.base_url is None:
        # The command cannot know where the server is reached: say so, never guess quietly.
        print(
            f"doorstep invite: the link uses {_LOCAL}, which only this machine opens; pass "
            "--base-url https://<the address people open> (or set DOORSTEP_BASE_URL), or "
            "invite from the console's 人员 page, whose links use the address it was reached on",
            file=sys.stderr,
        )
    url = f"{(args.base_url or _LOCAL).rstrip('/')}/#/enroll/{code}"
    print(json.dumps({"code": code, "url": url, "person": person}, ensure_ascii=False))
    return 0


def _utc_time(text: str) -> datetime:
    try:
        at = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r}") from None
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def cmd_demo(args: argparse.Namespace) -> int:
    from server.db.postgresql import redact
    from server.ops.admin import load_demo
    from server.ops.demo import demo_records

    n = load_demo(args.db, demo_records(now=args.now))
    if n is None:
        print(f"demo already loaded in {redact(args.db)}", file=sys.stderr)
        return 0
    print(f"demo loaded into {redact(args.db)}: {n} field changes", file=sys.stderr)
    return 0


def cmd_revoke(args: argparse.Namespace) -> int:
    from server.ops.admin import revoke

    if not revoke(args.db, args.node):
        print(f"doorstep revoke: no active device {args.node}", file=sys.stderr)
        return 1
    print(json.dumps({"revoked": args.node}))
    return 0


def cmd_devices(args: argparse.Namespace) -> int:
    from server.ops.admin import list_devices

    for row in list_devices(args.db):
        print(json.dumps(row, ensure_ascii=False))
    return 0


def cmd_schema(args: argparse.Namespace) -> int:
    from server.ops.jsonschema import render

    text = render()
    out = Path(args.out)
    if args.check:
        if not out.exists() or out.read_text(encoding="utf-8") != text:
            print(f"{out} is stale: run `doorstep schema`", file=sys.stderr)
            return 1
        return 0
    out.write_text(text, encoding="utf-8")
    print(f"wrote {out}", file=sys.stderr)
    return 0


def cmd_backup(args: argparse.Namespace) -> int:
    from server.db.backup import BackupError, backup, backup_every

    if args.interval:
        try:
            backup_every(args.db, args.out, args.keep, args.interval)
        except KeyboardInterrupt:
            return 0
    try:
        path = backup(args.db, args.out, args.keep)
    except BackupError as exc:
        print(f"doorstep backup: {exc}", file=sys.stderr)
        return 1
    print(json.dumps({"backup": str(path), "integrity": "ok"}))
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    from server.db.backup import BackupError, restore

    try:
        report = restore(args.backup, args.db)
    except BackupError as exc:
        print(f"doorstep restore: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(report, ensure_ascii=False, indent=2))
    if report["journal"] is None:
        print(
            "doorstep restore: no decision journal beside the database: redo by hand every "
            "revocation, logout, enrolment, assignment change and resident link made after "
            "the backup (docs/operations.md, Restore)",
            file=sys.stderr,
        )
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    from server.db import applied, engine_of, migrate
    from server.db import postgresql as pg
    from server.db.migrations import MigrationError

    backend = engine_of(args.db)
    try:
        ran, schema = migrate(args.db), applied(args.db)
    except MigrationError as exc:
        # No server there, a wrong password, a newer Doorstep's schema: one line.
        print(f"doorstep migrate: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 1
    print(
        json.dumps(
            {"db": pg.redact(args.db), "backend": backend, "applied_now": ran, "schema": schema}
        )
    )
    return 0


def cmd_migrate_db(args: argparse.Namespace) -> int:
    """Copy a community from a SQLite file into an empty PostgreSQL database."""
    from server.db import postgresql as pg
    from server.db.move import MoveError, copy_blocking

    if not pg.is_url(args.to):
        print("doorstep migrate-db: --to must be a postgresql:// URL", file=sys.stderr)
        return 2
    try:
        moved = copy_blocking(args.source, args.to)
    except MoveError as exc:
        print(f"doorstep migrate-db: {exc}", file=sys.stderr)
        return 1
    print(json.dumps({"rows": moved.rows, "top": moved.top, "epoch": moved.epoch}))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="doorstep", description="Doorstep field app server")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("serve", help="run the server")
    _db(p)
    _base_url(p)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument(
        "--header-timeout",
        type=float,
        default=10.0,
        help="seconds a client has to send a request's header (default 10; then 408)",
    )
    p.add_argument(
        "--body-timeout",
        type=float,
        default=60.0,
        help="seconds a client has to send a request's body after its header (default 60)",
    )
    p.add_argument(
        "--max-connections",
        type=int,
        default=0,
        help="connections held at once (default: the open-file limit less an eighth)",
    )
    from server.ops.access_commands import tz_arg

    tz_arg(p)
    p.add_argument(
        "--min-body-rate",
        type=float,
        default=512.0,
        help="bytes/s a request body must average after its first 5 s (default 512)",
    )
    p.add_argument(
        "--max-bodies",
        type=int,
        default=0,
        help="request bodies read at once; the slowest goes first (default a quarter of "
        "--max-connections)",
    )
    p.add_argument(
        "--max-bodies-per-address",
        type=int,
        default=0,
        help="request bodies read at once from one client address (default an eighth of "
        "--max-bodies)",
    )
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("invite", help="create a single-use invite code; prints one JSON line")
    _db(p)
    _base_url(p)
    p.add_argument("--role", choices=["coordinator", "volunteer"], required=True)
    p.add_argument("--name", help="the person's name, for a new person")
    p.add_argument("--person", help="an existing person's id, to enrol another device")
    p.add_argument("--ttl-hours", type=float, default=72.0, help="expiry (default 72)")
    p.set_defaults(func=cmd_invite)

    p = sub.add_parser("demo", help="load the demo community from the seed stories")
    _db(p)
    p.add_argument(
        "--now",
        type=_utc_time,
        default=None,
        help="the demo's 'now' (ISO 8601, UTC if no offset); its times are relative to it",
    )
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("revoke", help="revoke a device by its node id")
    _db(p)
    p.add_argument("node")
    p.set_defaults(func=cmd_revoke)

    p = sub.add_parser("devices", help="list devices, one JSON line each")
    _db(p)
    p.set_defaults(func=cmd_devices)

    p = sub.add_parser("schema", help="export the JSON Schema the PWA uses")
    p.add_argument("--out", default=str(Path(__file__).resolve().parents[2] / "pwa/schema.json"))
    p.add_argument("--check", action="store_true", help="exit 1 if the file is stale")
    p.set_defaults(func=cmd_schema)

    p = sub.add_parser("backup", help="an online, verified copy of the database")
    _db(p)
    p.add_argument("--out", default="backups", help="directory for backups (default backups)")
    p.add_argument("--keep", type=int, default=0, help="keep only the newest N (default all)")
    p.add_argument("--interval", type=float, default=0, help="repeat every S seconds until stopped")
    p.set_defaults(func=cmd_backup)

    p = sub.add_parser("restore", help="install a backup with a new epoch (server stopped)")
    _db(p)
    p.add_argument("backup", help="a file made by doorstep backup")
    p.set_defaults(func=cmd_restore)

    p = sub.add_parser(
        "migrate", help="create or upgrade the database's schema (SQLite file or PostgreSQL)"
    )
    _db(p)
    p.set_defaults(func=cmd_migrate)

    p = sub.add_parser(
        "migrate-db",
        help="copy a community from a SQLite file into an empty PostgreSQL database "
        "(servers stopped; the epoch and every seq are kept, so phones do not notice)",
    )
    p.add_argument("--from", dest="source", required=True, help="the SQLite file")
    p.add_argument("--to", required=True, help="postgresql://… (an empty database)")
    p.set_defaults(func=cmd_migrate_db)

    from server.ops.access_commands import add_commands  # coordinator, assign, export (#5)

    add_commands(sub, _db)
    from server.ledger.command import add_command as add_import  # the ledger (#19)

    add_import(sub, _db)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    db = getattr(args, "db", None)
    from server.db import postgresql as pg

    if not (isinstance(db, str) and pg.is_url(db)) or args.command in ("serve", "migrate"):
        return int(args.func(args))
    # Every command runs on PostgreSQL too; what the server or the driver says (no server
    # there, a wrong password, a missing database) is one line, never a traceback.
    from server.db.migrations import MigrationError
    from server.db.postgresql.core import DRIVER_ERRORS, describe

    try:
        return int(args.func(args))
    except (*DRIVER_ERRORS, MigrationError) as exc:
        print(f"doorstep {args.command}: {describe(exc, db)}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
