"""Judging single changes: the shared vectors, stamps, and the schema's limits."""

import json
from pathlib import Path

import pytest

from sync.validate import (
    ChangeRejectedError,
    ClockAheadError,
    MalformedStampError,
    WrongNodeError,
    check_change,
    check_stamp,
)

CASES = json.loads((Path(__file__).parent / "vectors/changes.json").read_text())["cases"]
NODE = "9f3a2b1c4d5e6f70"
NOW = 1_795_000_000_000  # 2026-11-18


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_change_vectors_are_judged_as_expected(case: dict) -> None:
    if case["error"] is None:
        check_change(case["coll"], case["id"], case["field"], case["value"])
    else:
        with pytest.raises(ChangeRejectedError) as info:
            check_change(case["coll"], case["id"], case["field"], case["value"])
        assert info.value.code == case["error"]
        assert info.value.message  # a person can read why


def stamp(ms: int, node: str = NODE, counter: int = 0) -> str:
    from sync.clock import Timestamp, format_stamp

    return format_stamp(Timestamp(ms, counter, node))


def test_stamp_within_drift_is_accepted() -> None:
    assert check_stamp(stamp(NOW + 4 * 60_000), NODE, NOW) == NOW + 4 * 60_000


@pytest.mark.parametrize(
    ("ahead_ms", "shown"), [(3_600_000, "60 min"), (365 * 86_400_000, "365 days")]
)
def test_stamp_far_ahead_is_clock_ahead_with_a_readable_amount(ahead_ms: int, shown: str) -> None:
    with pytest.raises(ClockAheadError, match=f"clock is {shown} ahead of the server"):
        check_stamp(stamp(NOW + ahead_ms), NODE, NOW)


def test_stamp_of_another_device_is_wrong_node() -> None:
    with pytest.raises(WrongNodeError, match="stamped by device 0000000000000001"):
        check_stamp(stamp(NOW, node="0000000000000001"), NODE, NOW)


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "2026-11-22",
        "2026-11-22T14:05:15.123Z-0000-9F3A2B1C4D5E6F70",
        "2026-13-22T14:05:15.123Z-0000-9f3a2b1c4d5e6f70",
        "x" * 46,
    ],
)
def test_malformed_stamp_is_rejected(bad: str) -> None:
    with pytest.raises(MalformedStampError, match="hlc must be 46 characters"):
        check_stamp(bad, NODE, NOW)
