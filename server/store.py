"""All SQL lives here, behind plain async functions over an aiosqlite connection pair.

One writer connection guarded by an asyncio lock (and ``BEGIN IMMEDIATE`` across
processes); one reader connection for pulls and look-ups, which WAL never blocks.
"""

import asyncio
import hashlib
import secrets
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiosqlite

from server.migrations import migrate

__all__ = [
    "INSERT_HISTORY_SQL",
    "MERGE_SQL",
    "Device",
    "Incoming",
    "Quarantined",
    "Store",
    "WinnerRow",
    "token_hash",
]

#: (hlc, coll, id, field, value_json, node, person, received_at)
Incoming = tuple[str, str, str, str, str, str, str | None, str]
#: (hlc, node, person, coll, id, field, raw, error, message, received_at)
Quarantined = tuple[
    str | None, str, str | None, str | None, str | None, str | None, str, str, str, str
]
#: (seq, coll, id, field, value_json, hlc)
WinnerRow = tuple[int, str, str, str, str, str]

_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    # FULL: a change the server has answered for survives power loss, because the device
    # drops it from its outbox on that answer.
    "PRAGMA synchronous=FULL",
    "PRAGMA busy_timeout=10000",
    "PRAGMA foreign_keys=ON",
)

MERGE_SQL = """
INSERT INTO winners (coll, id, field, value, hlc, seq)
SELECT coll, id, field, value, hlc, seq FROM history WHERE seq > ? ORDER BY seq
ON CONFLICT (coll, id, field) DO UPDATE
SET value = excluded.value, hlc = excluded.hlc, seq = excluded.seq
WHERE excluded.hlc > winners.hlc
"""


INSERT_HISTORY_SQL = (
    "INSERT OR IGNORE INTO history (hlc, coll, id, field, value, node, person, received_at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)


_TOP = "SELECT coalesce(max(seq), 0) FROM history"


def token_hash(secret: str) -> str:
    """The stored form of a bearer token or invite code (never stored in clear)."""
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Device:
    node: str
    person: str
    role: str
    revoked: bool


class Store:
    """The database of one server process."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._writer: aiosqlite.Connection | None = None
        self._reader: aiosqlite.Connection | None = None
        self._write_lock = asyncio.Lock()
        self._read_lock = asyncio.Lock()

    async def open(self) -> None:
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        migrate(self.path)
        self._writer = await _connect(self.path)
        try:
            self._reader = await _connect(self.path)
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        for conn in (self._writer, self._reader):
            if conn is not None:
                await conn.close()
        self._writer = self._reader = None

    @property
    def writer(self) -> aiosqlite.Connection:
        assert self._writer is not None, "Store.open() first"
        return self._writer

    @property
    def reader(self) -> aiosqlite.Connection:
        assert self._reader is not None, "Store.open() first"
        return self._reader

    # -- sync ---------------------------------------------------------------------------

    async def write_changes(
        self,
        changes: Sequence[Incoming],
        rejected: Sequence[Quarantined] = (),
        *,
        node: str | None = None,
        seen_at: str | None = None,
    ) -> int:
        """Record a sync request's accepted and rejected changes in one transaction.

        Accepted changes go to the history (a stamp seen before is ignored) and are
        merged into the winners set-based: one upsert guarded by the stamp, so an older
        change never overwrites a newer one whatever the arrival order.

        Returns:
            The highest server sequence after the write.
        """
        db = self.writer
        async with self._write_lock:
            await db.execute("BEGIN IMMEDIATE")
            try:
                [(before,)] = await db.execute_fetchall(_TOP)
                if changes:
                    await db.executemany(INSERT_HISTORY_SQL, changes)
                    await db.execute(MERGE_SQL, (before,))
                if rejected:
                    await db.executemany(
                        "INSERT OR IGNORE INTO quarantine (hlc, node, person, coll, id, "
                        "field, raw, error, message, received_at) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        rejected,
                    )
                if node is not None:
                    await db.execute(
                        "UPDATE devices SET last_seen = ? WHERE node = ?", (seen_at, node)
                    )
                [(after,)] = await db.execute_fetchall(_TOP)
                await db.execute("COMMIT")
            except BaseException:
                await db.execute("ROLLBACK")
                raise
        return int(after)

    async def pull(
        self,
        cursor: int,
        limit: int,
        *,
        exclude_node: str | None = None,
        scope: tuple[str, Sequence[Any]] | None = None,
    ) -> tuple[list[WinnerRow], int, bool]:
        """A page of field winners changed after ``cursor``, in sequence order.

        Winners last written by ``exclude_node`` are skipped: that device has them.
        ``scope`` is a WHERE fragment and its arguments from
        ``server.store_access.pull_filter``: only what the device may read.
        The page and the log's top sequence come from one statement, so one snapshot:
        the returned cursor never passes a change the page did not include.

        Returns:
            (rows, new cursor, more pages waiting)
        """
        sql = "SELECT seq, coll, id, field, value, hlc FROM winners WHERE seq > ?"
        args: list[Any] = [cursor]
        if exclude_node is not None:
            sql += " AND substr(hlc, 31) != ?"
            args.append(exclude_node)
        if scope is not None:
            sql += f" AND {scope[0]}"
            args.extend(scope[1])
        sql += " ORDER BY seq LIMIT ?"
        args.append(limit + 1)
        # The top row always exists; an empty page leaves one row of NULLs beside it.
        both = await self.fetch(
            "SELECT p.*, t.top FROM (SELECT coalesce(max(seq), 0) AS top FROM history) AS t "
            f"LEFT JOIN ({sql}) AS p ON 1 "
            "ORDER BY p.seq",
            args,
        )
        top = both[0][6]
        rows = [r[:6] for r in both if r[0] is not None]
        more = len(rows) > limit
        if more:
            rows = rows[:limit]
            new_cursor = rows[-1][0]
        else:
            new_cursor = max(cursor, top)
        return [tuple(r) for r in rows], new_cursor, more  # type: ignore[misc]

    async def max_seq(self) -> int:
        rows = await self.fetch("SELECT coalesce(max(seq), 0) FROM history")
        return int(rows[0][0])

    async def fetch(self, sql: str, args: Sequence[Any] = ()) -> list[sqlite3.Row]:
        """Run a read query on the reader connection (for other store modules)."""
        async with self._read_lock:
            return list(await self.reader.execute_fetchall(sql, args))

    # -- devices ------------------------------------------------------------------------

    async def device_for_token(self, token: str) -> Device | None:
        rows = await self.fetch(
            "SELECT node, person, role, revoked_at FROM devices WHERE token_hash = ?",
            (token_hash(token),),
        )
        if not rows:
            return None
        node, person, role, revoked_at = rows[0]
        return Device(node, person, role, revoked_at is not None)

    async def enroll(self, code: str, label: str, now: str) -> tuple[str, Device] | str:
        """Spend an invite code on a new device.

        Returns:
            (token, device), or an error code: ``invite_unknown``, ``invite_used`` or
            ``invite_expired``.
        """
        db = self.writer
        code_hash = token_hash(normalise_code(code))
        async with self._write_lock:
            await db.execute("BEGIN IMMEDIATE")
            try:
                async with db.execute(
                    "SELECT role, person, expires_at, used_at FROM invites WHERE code_hash = ?",
                    (code_hash,),
                ) as cur:
                    row = await cur.fetchone()
                if row is None:
                    await db.execute("ROLLBACK")
                    return "invite_unknown"
                role, person, expires_at, used_at = row
                if used_at is not None:
                    await db.execute("ROLLBACK")
                    return "invite_used"
                if expires_at <= now:
                    await db.execute("ROLLBACK")
                    return "invite_expired"
                token = secrets.token_urlsafe(32)
                while True:
                    node = secrets.token_hex(8)
                    async with db.execute("SELECT 1 FROM devices WHERE node = ?", (node,)) as cur:
                        if await cur.fetchone() is None:
                            break
                await db.execute(
                    "INSERT INTO devices (node, token_hash, person, role, label, "
                    "created_at, last_seen) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (node, token_hash(token), person, role, label, now, now),
                )
                await db.execute(
                    "UPDATE invites SET used_at = ?, node = ? WHERE code_hash = ?",
                    (now, node, code_hash),
                )
                await db.execute("COMMIT")
            except BaseException:
                await db.execute("ROLLBACK")
                raise
        return token, Device(node, person, role, False)


def normalise_code(code: str) -> str:
    """Invite codes are typed by hand: ignore case, spaces and dashes."""
    return "".join(ch for ch in code.upper() if ch.isalnum())


async def _connect(path: str) -> aiosqlite.Connection:
    conn = await aiosqlite.connect(path, isolation_level=None)
    for pragma in _PRAGMAS:
        await conn.execute(pragma)
    return conn
