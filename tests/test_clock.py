"""The hybrid logical clock: shared vectors (also run by tests/js) and its laws."""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sync import clock
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

VECTORS = json.loads((Path(__file__).parent / "vectors" / "clock.json").read_text(encoding="utf-8"))
ERRORS = {
    cls.__name__: cls
    for cls in (
        MalformedStampError,
        ClockDriftError,
        CounterOverflowError,
        DuplicateNodeError,
        InvalidNodeError,
    )
}
MIN_MILLIS = -62_167_219_200_000  # 0000-01-01T00:00:00.000Z
MAX_MILLIS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z
EPOCH = datetime(1970, 1, 1)

nodes = st.text(alphabet="0123456789abcdef", min_size=16, max_size=16)
millis = st.integers(MIN_MILLIS, MAX_MILLIS)
counters = st.integers(0, MAX_COUNTER)
timestamps = st.builds(Timestamp, millis, counters, nodes)


def run(case: dict[str, Any]) -> Any:
    """Evaluate one vector case and return its result in the vector's JSON shape."""
    match case["op"]:
        case "parse":
            return dataclasses.asdict(parse(case["stamp"]))
        case "format":
            return format_stamp(Timestamp(**case["ts"]))
        case "initial":
            return format_stamp(initial(case["node"]))
        case "send":
            extra = {"max_drift": case["max_drift"]} if "max_drift" in case else {}
            return format_stamp(send(parse(case["clock"]), case["now"], **extra))
        case "receive":
            extra = {"max_drift": case["max_drift"]} if "max_drift" in case else {}
            result = receive(parse(case["clock"]), parse(case["remote"]), case["now"], **extra)
            return format_stamp(result)
        case op:
            raise AssertionError(f"unknown op {op!r}")


@pytest.mark.parametrize(
    "case", [c for c in VECTORS if c["op"] != "order"], ids=lambda c: c["name"]
)
def test_clock_matches_shared_vector(case: dict[str, Any]) -> None:
    if "error" in case:
        with pytest.raises(ERRORS[case["error"]]) as info:
            run(case)
        assert type(info.value).__name__ == case["error"]
        assert str(info.value) == case["message"]
        assert info.value.code == case["code"]
        for attribute in ("drift", "limit"):
            if attribute in case:
                assert getattr(info.value, attribute) == case[attribute]
    else:
        assert run(case) == case["expect"]


@pytest.mark.parametrize(
    "case", [c for c in VECTORS if c["op"] == "order"], ids=lambda c: c["name"]
)
def test_string_order_of_vector_stamps_is_time_counter_node_order(case: dict[str, Any]) -> None:
    stamps = case["stamps"]
    parsed = [parse(s) for s in stamps]
    keys = [(t.millis, t.counter, t.node) for t in parsed]
    assert sorted(stamps) == stamps
    assert sorted(keys) == keys
    assert len(set(keys)) == len(keys)
    assert sorted(parsed) == parsed


def test_clock_vectors_cover_every_operation_and_error() -> None:
    names = [c["name"] for c in VECTORS]
    assert len(names) == len(set(names)) >= 40
    assert {c["op"] for c in VECTORS} == {"parse", "format", "initial", "send", "receive", "order"}
    assert {c["error"] for c in VECTORS if "error" in c} == set(ERRORS)


@given(timestamps)
def test_format_then_parse_round_trips(ts: Timestamp) -> None:
    stamp = format_stamp(ts)
    assert len(stamp) == 46
    assert str(ts) == stamp
    assert parse(stamp) == ts
    assert stamp_millis(stamp) == ts.millis
    assert stamp_node(stamp) == ts.node


@given(st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31)), counters, nodes)
def test_parse_agrees_with_datetime(moment: datetime, counter: int, node: str) -> None:
    m = moment.replace(microsecond=moment.microsecond // 1000 * 1000)
    text = (
        f"{m.year:04d}-{m.month:02d}-{m.day:02d}T{m.hour:02d}:{m.minute:02d}:{m.second:02d}"
        f".{m.microsecond // 1000:03d}Z-{counter:04x}-{node}"
    )
    expected = (m - EPOCH) // timedelta(milliseconds=1)
    assert parse(text) == Timestamp(expected, counter, node)


@given(timestamps, timestamps)
def test_string_order_equals_timestamp_order(a: Timestamp, b: Timestamp) -> None:
    assert (format_stamp(a) < format_stamp(b)) == (
        (a.millis, a.counter, a.node) < (b.millis, b.counter, b.node)
    )
    assert (format_stamp(a) == format_stamp(b)) == (a == b)


@given(timestamps, st.integers(0, 45), st.characters(codec="utf-8"))
def test_a_string_that_parses_is_the_one_canonical_form(
    ts: Timestamp, position: int, char: str
) -> None:
    stamp = format_stamp(ts)
    mutated = stamp[:position] + char + stamp[position + 1 :]
    try:
        parsed = parse(mutated)
    except MalformedStampError:
        return
    assert format_stamp(parsed) == mutated


@given(nodes, st.lists(st.integers(-10_000, 10_000), min_size=1, max_size=50))
def test_send_stamps_strictly_increase_whatever_the_wall_clock_does(
    node: str, steps: list[int]
) -> None:
    now = 1_795_356_315_123
    state = initial(node)
    previous = format_stamp(state)
    for step in steps:
        now += step
        try:
            state = send(state, now)
        except ClockDriftError:
            assert state.millis - now > MAX_DRIFT_MS
            continue
        stamp = format_stamp(state)
        assert stamp > previous
        assert state.millis >= now
        previous = stamp


@given(timestamps, timestamps, st.integers(MIN_MILLIS, MAX_MILLIS))
def test_receive_moves_past_both_clocks_or_raises(
    local: Timestamp, remote: Timestamp, now: int
) -> None:
    try:
        result = receive(local, remote, now, max_drift=MAX_MILLIS - MIN_MILLIS)
    except DuplicateNodeError:
        assert local.node == remote.node
        return
    except CounterOverflowError:
        assert max(local.millis, remote.millis) >= now
        return
    assert (result.millis, result.counter) > (local.millis, local.counter)
    assert (result.millis, result.counter) > (remote.millis, remote.counter)
    assert result.node == local.node
    assert result.millis >= now


@given(
    st.lists(
        st.tuples(st.integers(0, 3), st.integers(0, 3), st.integers(-50, 50)),
        min_size=1,
        max_size=60,
    )
)
def test_devices_exchanging_stamps_never_mint_the_same_stamp_and_respect_causality(
    events: list[tuple[int, int, int]],
) -> None:
    # Four devices with skewed clocks; each event is "device a stamps a change, then
    # device b receives it" at a shared, wandering wall time.
    devices = [initial(f"{i:016x}") for i in range(4)]
    skew = [0, 40, -40, 7]
    now = 1_795_356_315_123
    seen: set[str] = set()
    for sender, receiver, step in events:
        now += step
        devices[sender] = send(devices[sender], now + skew[sender])
        stamp = format_stamp(devices[sender])
        assert stamp not in seen
        seen.add(stamp)
        if receiver != sender:
            devices[receiver] = receive(devices[receiver], devices[sender], now + skew[receiver])
            mine, theirs = devices[receiver], devices[sender]
            assert (mine.millis, mine.counter) > (theirs.millis, theirs.counter)
            after = send(devices[receiver], now + skew[receiver])
            assert format_stamp(after) > stamp


def test_clock_drift_error_says_how_far_ahead_and_the_limit() -> None:
    with pytest.raises(
        ClockDriftError, match=r"^clock would be 1000 ms ahead of wall time \(limit 10 ms\)$"
    ) as info:
        send(Timestamp(2000, 0, "0" * 16), 1000, max_drift=10)
    assert (info.value.drift, info.value.limit) == (1000, 10)


def test_every_clock_error_is_a_clock_error_with_its_own_code() -> None:
    codes = {cls.code for cls in ERRORS.values()}
    assert len(codes) == len(ERRORS)
    assert all(issubclass(cls, ClockError) for cls in ERRORS.values())
    with pytest.raises(ClockError, match="malformed hlc stamp"):
        parse("nope")


def test_timestamp_is_an_immutable_value() -> None:
    ts = initial("9f3a2b1c4d5e6f70")
    with pytest.raises(dataclasses.FrozenInstanceError):
        ts.millis = 5  # type: ignore[misc]
    assert send(ts, 10) == Timestamp(10, 0, "9f3a2b1c4d5e6f70")
    assert ts == Timestamp(0, 0, "9f3a2b1c4d5e6f70")


def test_stamp_helpers_reject_malformed_stamps() -> None:
    with pytest.raises(MalformedStampError):
        stamp_millis("2026-11-22T14:05:15.123Z-0000-9f3a2b1c4d5e6f7")
    with pytest.raises(MalformedStampError):
        stamp_node("2026-02-30T14:05:15.123Z-0000-9f3a2b1c4d5e6f70")


def test_module_exports_what_it_promises() -> None:
    assert set(clock.__all__) <= set(dir(clock))
    assert {"parse", "format_stamp", "send", "receive", "initial"} <= set(clock.__all__)
