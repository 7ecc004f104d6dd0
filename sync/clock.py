"""Hybrid logical clock: stamps that order every change on every device.

Algorithm (the contract is docs/protocol.md; pwa/js/sync/clock.js mirrors this module):

A device's clock state is a ``Timestamp(millis, counter, node)``. It is a value, never a
global: every function takes the current state and the wall time ``now`` (integer ms since
the Unix epoch, already corrected by the offset measured from the server's time) and
returns the next state. The caller stores it.

send(old, now) -- stamp a local event:
    l = max(old.millis, now)
    c = old.counter + 1 if l == old.millis else 0
    l - now > max_drift  -> ClockDriftError   (checked first)
    c > 0xFFFF           -> CounterOverflowError
    the new state (l, c, old.node) is also the stamp of the event.

receive(old, remote, now) -- fold in a stamp made elsewhere:
    remote.node == old.node -> DuplicateNodeError (checked first: two devices with one
        node id could mint the same stamp for different changes, which breaks merge)
    l = max(old.millis, now, remote.millis)
    c = max(old.counter, remote.counter) + 1  if l == old.millis == remote.millis
        old.counter + 1                       if l == old.millis only
        remote.counter + 1                    if l == remote.millis only
        0                                     otherwise (the wall clock is ahead of both)
    then the drift and overflow checks of send, in the same order.

Why it works: l never decreases and (l, c) strictly increases with every send and receive,
so a stamp is greater than every stamp its device made or saw before; the node id breaks
the remaining ties, so stamps are unique. ``max_drift`` bounds how far one bad clock can
drag everybody's stamps into the future, and the 16-bit counter bounds how many events fit
in one millisecond before the wall clock must catch up.

Stamp string, exactly 46 characters, all fixed width:
    YYYY-MM-DDTHH:MM:SS.mmmZ-CCCC-NNNNNNNNNNNNNNNN
    ISO 8601 UTC time with ms, counter as 4 lowercase hex digits, node as 16 lowercase hex
    digits. Fixed widths and years 0000..9999 make plain string order equal to the order
    of (millis, counter, node).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

__all__ = [
    "MAX_COUNTER",
    "MAX_DRIFT_MS",
    "STAMP_FORM",
    "STAMP_LENGTH",
    "ClockDriftError",
    "ClockError",
    "CounterOverflowError",
    "DuplicateNodeError",
    "InvalidNodeError",
    "MalformedStampError",
    "Timestamp",
    "format_stamp",
    "initial",
    "parse",
    "receive",
    "send",
    "stamp_millis",
    "stamp_node",
]

MAX_DRIFT_MS = 5 * 60 * 1000
MAX_COUNTER = 0xFFFF
STAMP_LENGTH = 46

# 0000-01-01T00:00:00.000Z and 9999-12-31T23:59:59.999Z: the range a 4-digit year can
# write, so the range in which string order and time order agree.
_MIN_MILLIS = -62_167_219_200_000
_MAX_MILLIS = 253_402_300_799_999

# Day-of-month ranges are checked again against the month's real length in _minute_millis.
# [0-9] rather than \d: \d also matches non-ASCII digits such as "٢".
_STAMP_RE = re.compile(
    r"[0-9]{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])"
    r"T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]\.[0-9]{3}Z"
    r"-[0-9a-f]{4}-[0-9a-f]{16}"
)
#: The stamp's form, for a caller checking many (``fullmatch``); a match may still name a
#: day that does not exist (Feb 30), which only ``parse`` and ``stamp_millis`` refuse.
STAMP_FORM = _STAMP_RE
_NODE_RE = re.compile(r"[0-9a-f]{16}")
_DAYS_IN_MONTH = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


class ClockError(Exception):
    """Base class of every clock failure; ``code`` is a stable machine-readable name."""

    code = "clock_error"


class MalformedStampError(ClockError):
    """A stamp is not in the 46-character form, or a Timestamp cannot be written as one."""

    code = "malformed_stamp"
    message = (
        "malformed hlc stamp: expected 46 characters "
        "YYYY-MM-DDTHH:MM:SS.mmmZ-CCCC-NNNNNNNNNNNNNNNN "
        "(a real UTC date in years 0000-9999, lowercase hex counter and node)"
    )

    def __init__(self, stamp: object = None) -> None:
        super().__init__(self.message)
        self.stamp = stamp


class ClockDriftError(ClockError):
    """The clock would run further ahead of the wall time than ``max_drift`` allows.

    Attributes:
        drift: How many ms ahead of ``now`` the clock would be.
        limit: The ``max_drift`` that was exceeded, in ms.
    """

    code = "clock_drift"

    def __init__(self, drift: int, limit: int) -> None:
        super().__init__(f"clock would be {drift} ms ahead of wall time (limit {limit} ms)")
        self.drift = drift
        self.limit = limit


class CounterOverflowError(ClockError):
    """More than 65,536 events in one millisecond of the clock."""

    code = "counter_overflow"
    message = (
        "hlc counter would pass 0xffff within one millisecond; "
        "wait for the wall clock to advance and try again"
    )

    def __init__(self) -> None:
        super().__init__(self.message)


class DuplicateNodeError(ClockError):
    """A remote stamp carries this device's own node id."""

    code = "duplicate_node"
    message = (
        "remote stamp carries this device's own node id; "
        "every device must enrol to get its own node id"
    )

    def __init__(self, node: str | None = None) -> None:
        super().__init__(self.message)
        self.node = node


class InvalidNodeError(ClockError):
    """A node id is not 16 lowercase hex digits."""

    code = "invalid_node"
    message = "node id must be 16 lowercase hex digits, as assigned at enrolment"

    def __init__(self, node: object = None) -> None:
        super().__init__(self.message)
        self.node = node


@dataclass(frozen=True, slots=True, order=True)
class Timestamp:
    """One clock state, which is also one stamp.

    Field order makes the dataclass ordering equal to the string order of the stamps.

    Attributes:
        millis: UTC time in ms since the Unix epoch.
        counter: 0..0xFFFF, orders events within one millisecond.
        node: 16 lowercase hex digits naming the device.
    """

    millis: int
    counter: int
    node: str

    def __str__(self) -> str:
        return format_stamp(self)


def _days_from_civil(year: int, month: int, day: int) -> int:
    # Howard Hinnant's days_from_civil: exact integer arithmetic for any proleptic
    # Gregorian date, including year 0, which datetime and calendar.timegm refuse.
    year -= month <= 2
    era = year // 400
    yoe = year - era * 400
    doy = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146_097 + doe - 719_468


def _civil_from_days(days: int) -> tuple[int, int, int]:
    days += 719_468
    era = days // 146_097
    doe = days - era * 146_097
    yoe = (doe - doe // 1460 + doe // 36_524 - doe // 146_096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = mp + 3 if mp < 10 else mp - 9
    return yoe + era * 400 + (month <= 2), month, day


# Memoised on the "YYYY-MM-DDTHH:MM" prefix: stamps arrive in bursts from the same
# minutes, so the date arithmetic runs once per minute instead of once per stamp (parse
# then takes about 1.6 us, against 6.3 us for a datetime.strptime that validates less).
# The cache holds results of a pure function, not clock state; invalid dates raise and
# are not cached.
@lru_cache(maxsize=4096)
def _minute_millis(prefix: str) -> int:
    year = int(prefix[0:4])
    month = int(prefix[5:7])
    day = int(prefix[8:10])
    if month == 2 and year % 4 == 0 and (year % 100 != 0 or year % 400 == 0):
        last = 29
    else:
        last = _DAYS_IN_MONTH[month - 1]
    if day > last:
        raise MalformedStampError(prefix)
    days = _days_from_civil(year, month, day)
    return ((days * 24 + int(prefix[11:13])) * 60 + int(prefix[14:16])) * 60_000


def _millis(stamp: object) -> int:
    if type(stamp) is not str or len(stamp) != STAMP_LENGTH or _STAMP_RE.fullmatch(stamp) is None:
        raise MalformedStampError(stamp)
    try:
        base = _minute_millis(stamp[:16])
    except MalformedStampError:
        raise MalformedStampError(stamp) from None
    # "SS" + "mmm" read as one number is the ms within the minute.
    return base + int(stamp[17:19] + stamp[20:23])


def parse(stamp: str) -> Timestamp:
    """Read a stamp string.

    Args:
        stamp: A 46-character stamp.

    Returns:
        The Timestamp it denotes.

    Raises:
        MalformedStampError: Wrong length, wrong form (including uppercase hex or
            non-ASCII digits), or a date that does not exist such as Feb 30.
    """
    millis = _millis(stamp)
    return Timestamp(millis, int(stamp[25:29], 16), stamp[30:])


def format_stamp(ts: Timestamp) -> str:
    """Write a Timestamp as its 46-character stamp.

    Args:
        ts: The timestamp.

    Returns:
        The stamp string; ``parse(format_stamp(ts)) == ts``.

    Raises:
        MalformedStampError: The time is outside years 0000..9999, the counter outside
            0..0xFFFF, or the node not 16 lowercase hex digits.
    """
    millis, counter, node = ts.millis, ts.counter, ts.node
    if (
        type(millis) is not int
        or not _MIN_MILLIS <= millis <= _MAX_MILLIS
        or type(counter) is not int
        or not 0 <= counter <= MAX_COUNTER
        or type(node) is not str
        or _NODE_RE.fullmatch(node) is None
    ):
        raise MalformedStampError(ts)
    minutes, ms = divmod(millis, 60_000)
    return f"{_minute_prefix(minutes)}:{ms // 1000:02d}.{ms % 1000:03d}Z-{counter:04x}-{node}"


@lru_cache(maxsize=4096)
def _minute_prefix(minutes: int) -> str:
    # The "YYYY-MM-DDTHH:MM" of a minute since the epoch; memoised like _minute_millis.
    days, minute = divmod(minutes, 1440)
    year, month, day = _civil_from_days(days)
    hour, minute = divmod(minute, 60)
    return f"{year:04d}-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}"


def initial(node: str) -> Timestamp:
    """The clock state of a freshly enrolled device.

    Args:
        node: The node id the server assigned, 16 lowercase hex digits.

    Returns:
        ``Timestamp(0, 0, node)``.

    Raises:
        InvalidNodeError: The node id is not 16 lowercase hex digits.
    """
    if type(node) is not str or _NODE_RE.fullmatch(node) is None:
        raise InvalidNodeError(node)
    return Timestamp(0, 0, node)


def _checked(millis: int, counter: int, node: str, now: int, max_drift: int) -> Timestamp:
    drift = millis - now
    if drift > max_drift:
        raise ClockDriftError(drift, max_drift)
    if counter > MAX_COUNTER:
        raise CounterOverflowError()
    return Timestamp(millis, counter, node)


def send(clock: Timestamp, now: int, max_drift: int = MAX_DRIFT_MS) -> Timestamp:
    """Stamp a local event.

    Args:
        clock: The device's current clock state.
        now: Wall time in ms since the epoch, corrected by the measured server offset.
        max_drift: How far (ms) the clock may run ahead of ``now``.

    Returns:
        The new clock state, which is also the event's stamp.

    Raises:
        ClockDriftError: The clock is more than ``max_drift`` ms ahead of ``now``.
        CounterOverflowError: The counter would pass 0xFFFF.
    """
    old = clock.millis
    millis = old if old >= now else now
    counter = clock.counter + 1 if millis == old else 0
    return _checked(millis, counter, clock.node, now, max_drift)


def receive(
    clock: Timestamp, remote: Timestamp, now: int, max_drift: int = MAX_DRIFT_MS
) -> Timestamp:
    """Advance the clock past a stamp received from another device.

    Args:
        clock: The device's current clock state.
        remote: The received stamp.
        now: Wall time in ms since the epoch, corrected by the measured server offset.
        max_drift: How far (ms) the clock may run ahead of ``now``.

    Returns:
        The new clock state, greater than both ``clock`` and ``remote``.

    Raises:
        DuplicateNodeError: ``remote`` carries this clock's node id.
        ClockDriftError: The clock would be more than ``max_drift`` ms ahead of ``now``.
        CounterOverflowError: The counter would pass 0xFFFF.
    """
    if remote.node == clock.node:
        raise DuplicateNodeError(clock.node)
    old, far = clock.millis, remote.millis
    millis = max(old, now, far)
    if millis == old and millis == far:
        counter = max(clock.counter, remote.counter) + 1
    elif millis == old:
        counter = clock.counter + 1
    elif millis == far:
        counter = remote.counter + 1
    else:
        counter = 0
    return _checked(millis, counter, clock.node, now, max_drift)


def stamp_millis(stamp: str) -> int:
    """The UTC time of a stamp in ms since the epoch.

    Raises:
        MalformedStampError: As for :func:`parse`.
    """
    return _millis(stamp)


def stamp_node(stamp: str) -> str:
    """The node id of a stamp.

    Raises:
        MalformedStampError: As for :func:`parse`.
    """
    _millis(stamp)
    return stamp[30:]
