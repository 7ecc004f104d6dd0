"""The console's ledger upload (上传台账): preview, then import, behind the coordinator
guard. A coordinator of one community imports into theirs only.

Stateless: the page sends the file with ``dry_run`` for the preview and again to import,
so nothing half-uploaded is kept on the server. Problems are codes (``ledger_*``) the page
words; rejected rows carry their reason in Chinese, as the command line prints them.
"""

import asyncio
import base64
import binascii
import io
from typing import Any

import msgspec
from litestar import Request, post
from litestar.di import NamedDependency
from litestar.params import SkipValidation

from schemas.ledger import MAX_UPLOAD, LedgerUpload
from server.db import AnyDatabase
from server.db import ledger as store
from server.errors import BadRequestError, NotFoundError, decode_body
from server.guards.caller import Caller
from server.ledger.importer import import_ledger, read_ledger

__all__ = ["MAX_REJECTED", "ROUTES", "upload"]

#: Rejected rows listed in one answer (the count is always whole).
MAX_REJECTED = 1000

_decoder = msgspec.json.Decoder(LedgerUpload)


def _lock(request: Request) -> asyncio.Lock:
    """The app's import lock: imports of one server process run one at a time (compare,
    then write), so two uploads never both create the same new building."""
    state = request.app.state
    if getattr(state, "ledger_lock", None) is None:
        state.ledger_lock = asyncio.Lock()
    return state.ledger_lock  # type: ignore[no-any-return]


@post("/api/v1/ledger", status_code=200)
async def upload(
    request: Request, database: NamedDependency[AnyDatabase], access: SkipValidation[Caller]
) -> dict[str, Any]:
    """Preview (``dry_run``, the default) or import a ledger; the summary, the columns as
    placed, and the rejected rows."""
    data: LedgerUpload = decode_body(
        _decoder, await request.body(), "ledger upload", '{"file": "<base64>", "dry_run": true}'
    )
    try:
        raw = base64.b64decode(data.file, validate=True)
    except (binascii.Error, ValueError):
        raise BadRequestError("file must be base64", code="ledger_bad_upload") from None
    community, name = data.community, data.community_name
    own = await access.community()
    if own is not None and community is None:
        community = own
    if community is not None:
        await access.require_community(community)
        if community not in await store.communities(database):
            raise NotFoundError("nothing of that community you can see", code="not_found")
        name = None
    elif not (name or "").strip():
        raise BadRequestError("name the community", code="ledger_no_community")
    # Reading is CPU work (seconds for a big workbook): off the event loop.
    parsed = await asyncio.to_thread(read_ledger, io.BytesIO(raw), data.map, max_bytes=MAX_UPLOAD)
    async with _lock(request):
        summary = await import_ledger(
            database,
            parsed,
            community=name,
            community_id=community,
            street=data.street,
            dry_run=data.dry_run,
        )
    rejected = summary["rejected"]
    summary["rejected_count"] = len(rejected)
    summary["rejected"] = rejected[:MAX_REJECTED]
    summary["columns"] = [[c.sheet, c.header, c.field] for c in parsed.columns]
    summary["dry_run"] = data.dry_run
    summary["community"] = summary.pop("community_id")
    return summary


ROUTES = [upload]
