"""UUIDv7 record ids (RFC 9562): 48-bit unix ms, version 7, 74 random bits.

Pure: the time and the random bytes are passed in, so ids are reproducible in tests.
"""

import os
import time
import uuid

__all__ = ["uuid7"]


def uuid7(now_ms: int | None = None, rand: bytes | None = None) -> str:
    """A UUIDv7 string; ids made later sort after ids made earlier (to the ms).

    Args:
        now_ms: Unix time in ms; the current time if None.
        rand: 10 random bytes; os.urandom if None.
    """
    ms = int(time.time() * 1000) if now_ms is None else now_ms
    r = os.urandom(10) if rand is None else rand
    value = (ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76
    value |= (int.from_bytes(r[:2], "big") & 0x0FFF) << 64
    value |= 0b10 << 62
    value |= int.from_bytes(r[2:10], "big") & ((1 << 62) - 1)
    return str(uuid.UUID(int=value))
