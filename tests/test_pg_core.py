"""PostgreSQL's database class at the level of the whole server (issue 14): a full disk
is the same ``StorageFullError`` (507) as on SQLite, and nothing of the write is kept."""

import pytest
from conftest import run_async

from server.db.postgresql.core import PgConn, PgDatabase
from server.errors import StorageFullError

#: What PostgreSQL raises when it cannot extend a file (SQLSTATE 53100, disk_full).
FULL = (
    "DO $$ BEGIN RAISE EXCEPTION 'could not extend file: No space left on device' "
    "USING ERRCODE = '53100'; END $$"
)


def test_a_full_disk_is_storage_full_and_nothing_is_saved(pg_url: str) -> None:
    def write(conn: PgConn) -> None:
        conn.execute("INSERT INTO meta (key, value) VALUES ('half', 'written')")
        conn.execute(FULL)

    async def main() -> tuple[str, object]:
        async with PgDatabase(pg_url) as db:
            with pytest.raises(StorageFullError) as caught:
                await db.write_tx(write, appends=True)
            kept = await db.select("SELECT value FROM meta WHERE key = 'half'")
            # The pool's connection is usable again: the next write goes through.
            await db.execute("INSERT INTO meta (key, value) VALUES ('after', 'ok')")
            return str(caught.value), kept

    message, kept = run_async(main())
    assert "storage is full" in message and "stay on this device" in message
    assert kept == []
