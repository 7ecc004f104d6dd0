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


def test_the_batch_fast_path_accepts_exactly_what_the_full_checks_accept() -> None:
    """``valid_texts`` (the server's fast path for a whole batch) says yes to a change
    only if ``check_stamp`` and ``check_change_json`` accept it, and yes to every plain
    field change they accept: every change vector with every stamp vector, in one batch
    (so what the batch caches — ids, minutes — is shared between good and bad changes)."""
    import msgspec

    from schemas.change import Change
    from sync.clock import MAX_DRIFT_MS
    from sync.validate import check_change_json, valid_texts

    vectors = json.loads((Path(__file__).parent / "vectors/clock.json").read_text())
    stamps = {v["stamp"] for v in vectors if v["op"] == "parse" and isinstance(v["stamp"], str)}
    stamps |= {s[:30] + NODE for s in stamps if len(s) == 46}
    stamps |= {stamp(NOW + MAX_DRIFT_MS), stamp(NOW + MAX_DRIFT_MS + 1), stamp(NOW - 1)}
    stamps |= {stamp(NOW, "0123456789abcdef"), "2026-02-30T00:00:00.000Z-0000-" + NODE}
    values = [msgspec.json.encode(c["value"]) for c in CASES] + [b"[1,", b'"\xff"', b"{}"]
    batch = [
        Change(c["coll"], c["id"], c["field"], msgspec.Raw(v), s)
        for c in CASES
        for v in [*values[-3:], *values[:2], msgspec.json.encode(c["value"])]
        for s in sorted(stamps)
    ]

    def full(ch: Change) -> str | None:
        try:
            text = bytes(ch.value).decode()
            check_stamp(ch.hlc, NODE, NOW)
            check_change_json(ch.coll, ch.id, ch.field, ch.value)
        except (ChangeRejectedError, UnicodeDecodeError, msgspec.DecodeError):
            return None
        return text

    fast = valid_texts(batch, NODE, NOW)
    expected = [full(ch) for ch in batch]
    accepted = sum(t is not None for t in expected)
    assert 0 < accepted < len(batch)
    for ch, got, want in zip(batch, fast, expected, strict=True):
        if got is not None:
            assert got == want, ch  # never a yes the full checks refuse
        elif "." not in ch.field:  # element fields of sets are left to the full checks
            assert want is None, ch
