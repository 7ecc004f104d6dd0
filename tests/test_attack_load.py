"""A legitimate morning must never be refused (attack on #22's write budgets and body
limits): forty volunteers behind one address (the community office's Wi-Fi, a carrier
NAT) sync a few hundred changes each at the same moment, through a real server process."""

import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from conftest import LiveServer, Phone, Stamper

from server.ops.admin import create_invite, write_records

PHONES = 40
VISITS = 120  # three fields each, a note among them: ~100 KB a phone


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, backend: str) -> LiveServer:
    live = LiveServer(str(tmp_path_factory.mktemp("load") / "load.db")).start()
    yield live
    live.stop()


def _phones(server: LiveServer, count: int = PHONES) -> list[tuple[Phone, list[str]]]:
    """Enrolled phones, each assigned a building of ten households."""
    records: list[tuple[str, str, dict[str, object]]] = []
    out = []
    for n in range(count):
        code, person = create_invite(server.db_path, "volunteer", name=f"志愿者{n}")
        r = httpx.post(f"{server.url}/api/v1/enroll", json={"code": code}, timeout=30)
        assert r.status_code == 200, r.text
        d = r.json()
        phone = Phone(httpx.Client(base_url=server.url, timeout=120), d["token"], d["node"],
                      d["person"], d["role"])  # fmt: skip
        building = f"load-b{d['node']}"
        homes = [f"load-h{d['node']}-{k}" for k in range(10)]
        records.append(("buildings", building, {"community": "load-c", "label": f"{n}号楼"}))
        records += [("households", h, {"building": building, "room": "101"}) for h in homes]
        records.append(
            ("assignments", f"{person}~{building}",
             {"person": person, "building": building, "active": True})
        )  # fmt: skip
        out.append((phone, homes))
    write_records(server.db_path, records)
    return out


def _morning(phone: Phone, homes: list[str]) -> list[dict]:
    stamp = Stamper(phone.node)
    changes = []
    for k in range(VISITS):
        rid = f"{phone.node}-v{k}"
        fields = {
            "household": homes[k % len(homes)],
            "outcome": "reached",
            "note": "老人在家，暖气片不热，已送电暖气一台，明早再来看看。" * 5,
        }
        changes += [
            {"coll": "visits", "id": rid, "field": f, "value": v, "hlc": stamp()}
            for f, v in fields.items()
        ]
    return changes


def test_forty_volunteers_behind_one_address_sync_a_morning_at_once_and_none_is_refused(
    server: LiveServer,
) -> None:
    phones = _phones(server)
    bodies = [_morning(p, homes) for p, homes in phones]
    start = threading.Barrier(PHONES)

    def push(i: int) -> tuple[int, list[dict]]:
        phone = phones[i][0]
        start.wait()
        try:
            r = phone.sync(bodies[i], cursor=0)
        except httpx.HTTPError as exc:  # a body the server closed
            return 0, [{"error": type(exc).__name__}]
        return r.status_code, r.json()["rejected"] if r.status_code == 200 else [r.text]

    with ThreadPoolExecutor(PHONES) as pool:
        results = list(pool.map(push, range(PHONES)))
    assert [s for s, _ in results] == [200] * PHONES, results
    assert [rej for _, rej in results if rej] == []
    got = server.query("SELECT count(*) FROM winners WHERE coll = 'visits'")[0][0]
    assert got == PHONES * VISITS * 3


@pytest.fixture(scope="module")
def tight(tmp_path_factory: pytest.TempPathFactory, backend: str):
    """A server whose minute's budget is 500 changes: a re-sent batch of 300 then crosses it."""
    import os

    os.environ["DOORSTEP_WRITE_BUDGETS"] = f"60:500:{8 * 1024 * 1024}"
    try:
        live = LiveServer(str(tmp_path_factory.mktemp("tight") / "tight.db")).start()
    finally:
        del os.environ["DOORSTEP_WRITE_BUDGETS"]
    yield live
    live.stop()


def test_a_batch_sent_again_after_a_reload_mid_sync_costs_no_write_budget(
    tight: LiveServer,
) -> None:
    """The page reloaded before the answer came: the phone sends the same changes again.
    They are stored already; refusing them as over budget would tell the volunteer their
    morning was refused (and the phone stops re-sending a refused change)."""
    [(phone, homes)] = _phones(tight, 1)
    batch = _morning(phone, homes)[:300]
    for _ in range(3):
        r = phone.sync(batch, cursor=0)
        assert r.status_code == 200 and r.json()["rejected"][:1] == [], r.text[:300]
    # New changes still count: the budget itself holds.
    more = _morning(phone, homes)
    stamp = Stamper(phone.node)
    fresh = [{**c, "hlc": stamp()} for c in more[:300]]
    errors = {x["error"] for x in phone.sync(fresh, cursor=0).json()["rejected"]}
    assert errors == {"over_budget"}
