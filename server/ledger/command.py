"""``doorstep import households FILE --community 社区名称``: the ledger import from a shell.

Prints one JSON line (the summary of ``importer.import_ledger``) and exits 0 when the file
was read, rejected rows included; a file that cannot be imported at all is one Chinese
line on stderr, exit 2, and nothing written.
"""

import argparse
import json
import sys
from collections.abc import Callable
from datetime import datetime

from server import db
from server.ledger.columns import FIELDS, mapping_field
from server.ledger.errors import LedgerError
from server.ledger.importer import import_ledger, read_ledger

__all__ = ["add_command", "run_import"]


def run_import(
    path: str,
    file: str,
    *,
    community: str,
    street: str | None = None,
    dry_run: bool = False,
    mapping: dict[str, str] | None = None,
    at: datetime | None = None,
) -> dict:
    """Read ``file`` and import it into the database at ``path``.

    Raises:
        LedgerError: the file cannot be imported at all (nothing is written).
        OSError: the file cannot be opened.
    """
    with open(file, "rb") as data:
        parsed = read_ledger(data, mapping)

    async def run(d: db.AnyDatabase) -> dict:
        return await import_ledger(
            d, parsed, community=community, street=street, dry_run=dry_run, at=at
        )

    return db.run(path, run)


def _mapping(pairs: list[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        column, sep, name = pair.rpartition("=")
        field = mapping_field(name) if sep else None
        if not column or field is None:
            choices = "、".join(f"{k}（{v}）" for k, v in FIELDS.items())
            raise LedgerError("bad_map", f"--map {pair} 看不懂：写成 列名=字段，字段可用 {choices}")
        out[column.strip()] = field
    return out


def cmd_import(args: argparse.Namespace) -> int:
    try:
        summary = run_import(
            args.db,
            args.file,
            community=args.community,
            street=args.street,
            dry_run=args.dry_run,
            mapping=_mapping(args.map),
        )
    except LedgerError as exc:
        print(f"doorstep import: {exc.message}", file=sys.stderr)
        return 2
    except FileNotFoundError:
        print(f"doorstep import: 找不到文件 {args.file}", file=sys.stderr)
        return 2
    except OSError:
        print(f"doorstep import: 打不开文件 {args.file}（是否有读取权限？）", file=sys.stderr)
        return 2
    summary.pop("community_id", None)  # the console's; a shell user goes by the name
    for row in summary["rejected"]:  # the console words these; a shell user reads "why"
        row.pop("code", None)
        row.pop("params", None)
    print(json.dumps(summary, ensure_ascii=False))
    return 0


def add_command(
    sub: "argparse._SubParsersAction[argparse.ArgumentParser]",
    db_arg: Callable[[argparse.ArgumentParser], None],
) -> None:
    """Register ``import households`` on the ``doorstep`` parser."""
    p = sub.add_parser("import", help="import a community's records from a file")
    isub = p.add_subparsers(dest="import_command", required=True)
    h = isub.add_parser(
        "households",
        help="import a 住户台账 (.xlsx or .csv); prints one JSON line (docs/ledger.md)",
    )
    db_arg(h)
    h.add_argument("file", help="the ledger, .xlsx or .csv (UTF-8 or GBK)")
    h.add_argument("--community", required=True, help="社区名称 (created if new)")
    h.add_argument("--street", help="街道名称, for a new community")
    h.add_argument("--dry-run", action="store_true", help="compare and report; write nothing")
    h.add_argument(
        "--map",
        action="append",
        default=[],
        metavar="列名=字段",
        help="place a column the header does not name, e.g. --map 房间=room "
        f"(fields: {', '.join(FIELDS)})",
    )
    h.set_defaults(func=cmd_import)
