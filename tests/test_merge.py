"""Last-writer-wins merge: shared vectors (also run by tests/js) and the laws of sync."""

from __future__ import annotations

import itertools
import json
import random
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas.records import SET_FIELDS
from sync.merge import Change, Key, apply, key_of, merge, records, winners_equal

VECTORS = json.loads((Path(__file__).parent / "vectors" / "merge.json").read_text(encoding="utf-8"))


def winners_of(state: dict[Key, Any]) -> dict[Key, tuple[str, Any]]:
    return {
        key: (c["hlc"], c["value"]) if isinstance(c, dict) else (c.hlc, c.value)
        for key, c in state.items()
    }


def expected_winners(case: dict[str, Any]) -> dict[Key, tuple[str, Any]]:
    return {(w["coll"], w["id"], w["field"]): (w["hlc"], w["value"]) for w in case["winners"]}


def expected_records(case: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(r["coll"], r["id"]): r["fields"] for r in case["records"]}


def deliveries(case: dict[str, Any]) -> list[list[dict[str, Any]]]:
    """Every arrival order the case asks for: all permutations, each also duplicated."""
    changes = case["changes"]
    orders = [list(p) for p in itertools.permutations(changes)] if case["permute"] else [changes]
    if case["duplicate"]:
        orders += [p + p[::-1] for p in orders] + [[c for c in p for _ in "ab"] for p in orders]
    return orders


@pytest.mark.parametrize("case", VECTORS, ids=lambda c: c["name"])
def test_merge_matches_shared_vector_in_every_arrival_order(case: dict[str, Any]) -> None:
    state: dict[Key, Any] = {}
    assert [apply(state, c) for c in case["changes"]] == case["applied"]
    assert winners_of(state) == expected_winners(case)
    assert records(state) == expected_records(case)
    for order in deliveries(case):
        merged = merge({}, order)
        assert winners_of(merged) == expected_winners(case)
        assert records(merged) == expected_records(case)


@pytest.mark.parametrize("case", VECTORS, ids=lambda c: c["name"])
def test_change_objects_merge_like_mappings(case: dict[str, Any]) -> None:
    objects = [Change(**c) for c in case["changes"]]
    state: dict[Key, Any] = {}
    assert [apply(state, c) for c in objects] == case["applied"]
    assert winners_equal(state, merge({}, case["changes"]))
    assert records(state) == expected_records(case)


def test_merge_vectors_cover_the_promised_cases() -> None:
    names = [c["name"] for c in VECTORS]
    assert len(names) == len(set(names)) >= 20
    assert all(len(c["changes"]) <= 6 for c in VECTORS)
    assert all(c["permute"] and c["duplicate"] for c in VECTORS)
    fields = {ch["field"] for c in VECTORS for ch in c["changes"]}
    values = [ch["value"] for c in VECTORS for ch in c["changes"]]
    assert "_deleted" in fields
    assert None in values
    assert any(isinstance(v, list) for v in values)
    # Set fields: element adds and removals, and whole lists from old phones, per set field.
    for coll, names in SET_FIELDS.items():
        for name in names:
            written = {ch["field"] for c in VECTORS for ch in c["changes"] if ch["coll"] == coll}
            assert name in written or any(f.startswith(name + ".") for f in written), name
            assert any(f.startswith(name + ".") for f in written), name
    elements = [ch for c in VECTORS for ch in c["changes"] if "." in ch["field"]]
    assert {True, False, None} <= {ch["value"] for ch in elements}


# --- Hypothesis: changes with unique stamps, as the protocol guarantees -------------------

NODES = ["0123456789abcdef", "9f3a2b1c4d5e6f70", "fedcba9876543210"]
# household_status.needs_open is a set field: its element fields merge per element and
# records() folds them (sync/sets.py), so the laws below cover the fold as well.
FIELDS = [
    "outcome",
    "note",
    "needs",
    "_deleted",
    "needs_open",
    "needs_open.water",
    "needs_open.heater",
]


@st.composite
def change_sets(draw: st.DrawFn, max_size: int = 25) -> list[Change]:
    raw = draw(
        st.lists(
            st.tuples(
                st.sampled_from(["visits", "household_status"]),
                st.sampled_from(["r1", "r2", "r3"]),
                st.sampled_from(FIELDS),
                st.one_of(
                    st.none(),
                    st.booleans(),
                    st.integers(0, 5),
                    st.text(max_size=4),
                    st.lists(st.sampled_from(["heater", "water"]), max_size=2),
                ),
                st.integers(0, 20),  # ms within 14:05:15
                st.integers(0, 3),
                st.sampled_from(NODES),
            ),
            max_size=max_size,
        )
    )
    changes: dict[str, Change] = {}
    for coll, record_id, field, value, ms, counter, node in raw:
        hlc = f"2026-11-22T14:05:15.{ms:03d}Z-{counter:04x}-{node}"
        # One stamp, one change: a stamp reused for another change breaks the protocol.
        changes.setdefault(hlc, Change(coll, record_id, field, value, hlc))
    return list(changes.values())


@st.composite
def split_change_sets(draw: st.DrawFn, parts: int) -> list[list[Change]]:
    """Several change sets cut from one universe of unique stamps; they may overlap."""
    changes = draw(change_sets())
    result: list[list[Change]] = [[] for _ in range(parts)]
    for change in changes:
        for part in draw(st.sets(st.integers(0, parts - 1))):
            result[part].append(change)
    return result


def reference(changes: list[Change]) -> dict[Key, Change]:
    """The winners by definition: per key, the change with the greatest stamp."""
    best: dict[Key, Change] = {}
    for change in changes:
        key = key_of(change)
        if key not in best or change.hlc > best[key].hlc:
            best[key] = change
    return best


@given(split_change_sets(2))
def test_merge_is_commutative(parts: list[list[Change]]) -> None:
    a, b = parts
    sa, sb = merge({}, a), merge({}, b)
    ab = merge(sa, sb.values())
    ba = merge(sb, sa.values())
    assert winners_equal(ab, ba)
    assert winners_equal(ab, reference(a + b))


@given(split_change_sets(3))
def test_merge_is_associative(parts: list[list[Change]]) -> None:
    a, b, c = parts
    sa, sb, sc = merge({}, a), merge({}, b), merge({}, c)
    left = merge(merge(sa, sb.values()), sc.values())
    right = merge(sa, merge(sb, sc.values()).values())
    assert winners_equal(left, right)
    assert winners_equal(left, reference(a + b + c))


@given(change_sets())
def test_merge_is_idempotent(changes: list[Change]) -> None:
    state = merge({}, changes)
    assert winners_equal(merge(state, state.values()), state)
    assert winners_equal(merge({}, changes + changes), state)
    assert all(not apply(state, c) for c in changes)


@given(change_sets(), st.randoms(use_true_random=False), st.data())
def test_any_shuffle_duplication_or_loss_then_retry_converges(
    changes: list[Change], rng: random.Random, data: st.DataObject
) -> None:
    # The first attempt loses some changes and duplicates others; the retry sends the
    # whole outbox again, in another order.
    first = [c for c in changes if data.draw(st.booleans())]
    first += data.draw(st.lists(st.sampled_from(changes), max_size=10)) if changes else []
    rng.shuffle(first)
    retry = changes + [c for c in changes if data.draw(st.booleans())]
    rng.shuffle(retry)
    device = merge({}, first)
    device = merge(device, retry)
    assert winners_equal(device, reference(changes))
    assert records(device) == records(reference(changes))


@given(change_sets())
def test_apply_reports_exactly_when_the_winner_changes(changes: list[Change]) -> None:
    state: dict[Key, Any] = {}
    for change in changes:
        before = dict(state)
        won = apply(state, change)
        assert won == (state != before)
        assert won == (state[key_of(change)] is change)


@given(change_sets())
def test_merge_leaves_its_input_state_untouched(changes: list[Change]) -> None:
    half = merge({}, changes[: len(changes) // 2])
    snapshot = dict(half)
    merge(half, changes)
    assert half == snapshot


@given(
    st.dictionaries(st.sampled_from(["outcome", "note", "needs"]), st.text(max_size=3), min_size=1),
    st.permutations(range(3)),
)
def test_a_deleted_record_is_undeleted_by_a_later_deleted_false(
    fields: dict[str, str], order: list[int]
) -> None:
    stamp = "2026-11-22T14:05:15.{:03d}Z-0000-9f3a2b1c4d5e6f70".format
    writes = [Change("visits", "r1", f, v, stamp(i)) for i, (f, v) in enumerate(fields.items())]
    delete = Change("visits", "r1", "_deleted", True, stamp(100))
    undelete = Change("visits", "r1", "_deleted", False, stamp(200))
    steps = [writes, [delete], [undelete]]
    state: dict[Key, Any] = {}
    deleted = merge({}, [*writes, delete])
    assert records(deleted) == {}
    for index in order:
        state = merge(state, steps[index])
    assert records(state) == {("visits", "r1"): {**fields, "_deleted": False}}


STAMP_1 = "2026-11-22T14:05:15.001Z-0000-9f3a2b1c4d5e6f70"
STAMP_2 = "2026-11-22T14:05:15.002Z-0000-9f3a2b1c4d5e6f70"
STAMP_3 = "2026-11-22T14:05:15.003Z-0000-9f3a2b1c4d5e6f70"


def test_a_delete_hides_only_its_own_record() -> None:
    state = merge(
        {},
        [
            {"coll": "visits", "id": "a", "field": "note", "value": "x", "hlc": STAMP_1},
            {"coll": "visits", "id": "b", "field": "note", "value": "y", "hlc": STAMP_2},
            {"coll": "visits", "id": "a", "field": "_deleted", "value": True, "hlc": STAMP_3},
        ],
    )
    assert records(state) == {("visits", "b"): {"note": "y"}}


def test_winners_equal_compares_keys_stamps_and_values() -> None:
    base = {("v", "a", "f"): Change("v", "a", "f", 1, STAMP_1)}
    assert winners_equal(
        base, {("v", "a", "f"): dict(coll="v", id="a", field="f", value=1, hlc=STAMP_1)}
    )
    assert not winners_equal(base, {("v", "a", "f"): Change("v", "a", "f", 1, STAMP_2)})
    assert not winners_equal(base, {("v", "a", "f"): Change("v", "a", "f", 2, STAMP_1)})
    assert not winners_equal(base, {("v", "a", "g"): Change("v", "a", "g", 1, STAMP_1)})
    assert not winners_equal(base, {})


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["heater", "water", "medical", "food", "other"]),
            st.sampled_from(NODES),
            st.integers(0, 999),
        ),
        max_size=12,
    ),
    st.randoms(use_true_random=False),
)
def test_concurrent_element_adds_are_all_kept(
    adds: list[tuple[str, str, int]], rng: random.Random
) -> None:
    changes = {
        f"2026-11-22T14:05:15.{ms:03d}Z-0000-{node}": Change(
            "household_status",
            "i~h",
            f"needs_open.{need}",
            True,
            f"2026-11-22T14:05:15.{ms:03d}Z-0000-{node}",
        )
        for need, node, ms in adds
    }
    order = list(changes.values())
    rng.shuffle(order)
    folded = records(merge({}, order)).get(("household_status", "i~h"), {})
    # One stamp, one change (a reused stamp is dropped above, as the protocol requires).
    added = {c.field.split(".", 1)[1] for c in changes.values()}
    assert sorted(folded.get("needs_open", [])) == sorted(added)


@given(change_sets(), st.sampled_from(["heater", "water"]), st.randoms(use_true_random=False))
def test_a_removal_removes_only_its_own_element(
    changes: list[Change], need: str, rng: random.Random
) -> None:
    changes = [c for c in changes if c.field != "_deleted"]
    before = records(merge({}, changes)).get(("household_status", "r1"), {})
    later = "2026-11-22T14:05:16.000Z-0000-0123456789abcdef"
    removal = Change("household_status", "r1", f"needs_open.{need}", False, later)
    order = [*changes, removal]
    rng.shuffle(order)
    after = records(merge({}, order)).get(("household_status", "r1"), {})
    old = before.get("needs_open") if isinstance(before.get("needs_open"), list) else []
    # A set field: a whole value written with a repeated element (["heater", "heater"],
    # which validation allows) holds that element once as soon as elements are merged.
    assert after["needs_open"] == list(dict.fromkeys(n for n in old if n != need))
