"""Per-device write budgets (#22 M1): what one token can add to the database.

One volunteer token rewriting one note for 30 s grew the database 10 → 465 MiB and slowed
every other phone's sync tenfold. So each device may have at most so many changes and
so many bytes *accepted* per minute and per hour (``BUDGETS``; docs/protocol.md,
"Limits"): generous for a real volunteer — a night's visits are a few hundred changes
and well under a MiB, and a phone re-sending its 14-day sent-log after a restore (at
most 20,000 changes) fits in one minute's budget — and small beside a disk.

The counters are fixed windows (``win`` = the time divided by the span), one row per
device and span in ``device_budgets``, read and written by the sync's own transaction
(``server.db.syncs``), so two processes serving one device count together. A change over
budget is refused by itself — ``over_budget``, quarantined like any refusal, shown to the
user — and the rest of the batch up to the budget is applied; a batch's changes are taken
in request order. Refused changes cost nothing: they are not counted, and the quarantine
keeps at most 1,000 per device.
"""

import json
import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from server.db.changes import Incoming
from server.db.dialect import Conn
from sync.validate import ForbiddenError

__all__ = [
    "BUDGETS",
    "Budget",
    "OverBudgetError",
    "budgets",
    "refusal",
    "spend_in",
    "split",
]


class OverBudgetError(ForbiddenError):
    """A change past the device's write budget (a wire rejection code of its own)."""

    code = "over_budget"


@dataclass(frozen=True, slots=True)
class Budget:
    """At most ``changes`` changes and ``bytes`` bytes accepted per ``span`` seconds."""

    span: int
    changes: int
    bytes: int


MiB = 1024 * 1024
#: The defaults: a minute and an hour.
BUDGETS = (Budget(60, 20_000, 8 * MiB), Budget(3600, 60_000, 32 * MiB))


def budgets() -> tuple[Budget, ...]:
    """The budgets in force: ``DOORSTEP_WRITE_BUDGETS`` ("<seconds>:<changes>:<bytes>"
    comma-separated; "off" for none: benchmarks' baseline only), else ``BUDGETS``."""
    text = os.environ.get("DOORSTEP_WRITE_BUDGETS", "").strip()
    if not text:
        return BUDGETS
    if text == "off":
        return ()
    out = []
    for part in text.split(","):
        span, changes, size = (int(x) for x in part.split(":"))
        out.append(Budget(span, changes, size))
    return tuple(out)


def size_of(row: Incoming) -> int:
    """The bytes a change adds, as counted: its value (UTF-8) and its keys."""
    hlc, coll, rid, field, value = row[:5]
    return len(value.encode()) + len(coll) + len(rid) + len(field) + len(hlc)


def split(
    rows: list[Incoming],
    used: dict[int, tuple[int, int, int]],
    now: float,
    known: frozenset[str] = frozenset(),
) -> tuple[list[Incoming], list[int], dict[int, tuple[int, int, int]]]:
    """The rows within budget, the positions of those over it, and the new counters.

    Args:
        used: span → (window, changes, bytes) as stored for the device.
        known: HLCs the server holds already: a change sent again (the answer was lost,
            the page reloaded mid-sync) adds nothing, so it costs nothing.
    """
    limits = budgets()
    spent = {}
    for b in limits:
        win = int(now // b.span)
        w, c, n = used.get(b.span, (win, 0, 0))
        spent[b.span] = (win, c, n) if w == win else (win, 0, 0)
    kept: list[Incoming] = []
    over: list[int] = []
    for i, row in enumerate(rows):
        if row[0] in known:
            kept.append(row)
            continue
        size = size_of(row)
        if all(
            spent[b.span][1] + 1 <= b.changes and spent[b.span][2] + size <= b.bytes for b in limits
        ):
            for b in limits:
                win, c, n = spent[b.span]
                spent[b.span] = (win, c + 1, n + size)
            kept.append(row)
        else:
            over.append(i)
    return kept, over, spent


def refusal(now: float) -> OverBudgetError:
    """The refusal of one change over budget, saying when the device may write again."""
    limits = budgets()
    short = min(limits, key=lambda b: b.span)
    again = datetime.fromtimestamp((int(now // short.span) + 1) * short.span, UTC)
    spans = ", ".join(
        f"{b.changes:,} changes or {b.bytes // MiB} MiB per {_span(b.span)}" for b in limits
    )
    return OverBudgetError(
        f"this device has written more than the server accepts from one device ({spans}); "
        f"the entry is kept on the phone: send it again after {again:%H:%M} UTC, or give "
        "the backup file to your coordinator"
    )


def _span(seconds: int) -> str:
    return {60: "minute", 3600: "hour", 86400: "day"}.get(seconds, f"{seconds} s")


_READ = "SELECT span, win, changes, bytes FROM device_budgets WHERE node = ?"
_SAVE = (
    "INSERT INTO device_budgets (node, span, win, changes, bytes) VALUES (?, ?, ?, ?, ?) "
    "ON CONFLICT (node, span) DO UPDATE SET win = excluded.win, "
    "changes = excluded.changes, bytes = excluded.bytes"
)
#: Which of a batch's HLCs the server holds already (history's unique HLC index).
_KNOWN = "SELECT hlc FROM history WHERE hlc IN (SELECT value FROM {each})"


def spend_in(conn: Conn, node: str, rows: list[Incoming]) -> tuple[list[Incoming], list[int]]:
    """``split`` against the device's stored counters, and the counters saved, inside
    the caller's write transaction (the sync's). Returns (rows kept, positions refused)."""
    if not rows or not budgets():
        return rows, []
    now = time.time()
    used = {s: (w, c, n) for s, w, c, n in conn.execute(_READ, (node,))}
    hlcs = json.dumps([r[0] for r in rows])
    known = frozenset(h for (h,) in conn.execute(_KNOWN.format(each=conn.dialect.each()), (hlcs,)))
    kept, over, spent = split(rows, used, now, known)
    conn.executemany(_SAVE, [(node, s, w, c, n) for s, (w, c, n) in spent.items()])
    return kept, over
