"""msgspec Structs: the one definition of every wire message and domain record.

Nothing here does I/O or imports Litestar. ``doorstep schema`` exports these as the JSON
Schema the PWA uses (``pwa/schema.json``).
"""

from schemas.change import Change
from schemas.enroll import EnrollRequest, EnrollResponse
from schemas.errors import ErrorBody
from schemas.records import COLLECTIONS
from schemas.sync import Rejection, SyncRequest, SyncResponse

__all__ = [
    "COLLECTIONS",
    "Change",
    "EnrollRequest",
    "EnrollResponse",
    "ErrorBody",
    "Rejection",
    "SyncRequest",
    "SyncResponse",
]
