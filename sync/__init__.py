"""Pure sync core: the hybrid logical clock and last-writer-wins merge.

No I/O and no global state; see ``sync.clock`` and ``sync.merge``. The PWA mirrors both
modules in ``pwa/js/sync/`` and the two are held together by ``tests/vectors/*.json``.
"""

from sync.clock import (
    MAX_COUNTER,
    MAX_DRIFT_MS,
    ClockDriftError,
    ClockError,
    CounterOverflowError,
    DuplicateNodeError,
    InvalidNodeError,
    MalformedStampError,
    Timestamp,
    format_stamp,
    initial,
    parse,
    receive,
    send,
    stamp_millis,
    stamp_node,
)
from sync.merge import Change, Key, RecordKey, apply, key_of, merge, records, winners_equal

__all__ = [
    "MAX_COUNTER",
    "MAX_DRIFT_MS",
    "Change",
    "ClockDriftError",
    "ClockError",
    "CounterOverflowError",
    "DuplicateNodeError",
    "InvalidNodeError",
    "Key",
    "MalformedStampError",
    "RecordKey",
    "Timestamp",
    "apply",
    "format_stamp",
    "initial",
    "key_of",
    "merge",
    "parse",
    "receive",
    "records",
    "send",
    "stamp_millis",
    "stamp_node",
    "winners_equal",
]
