"""Nothing on the residents' surfaces identifies a household.

Households are seeded with distinctive names, rooms, phones and notes; a whole incident is
run (visits, needs, heaters, internal notes, restoration); every public payload, the
page, the QR code and the whole public stream are scanned for any of them.
"""

import json
import time

import httpx
import pytest
from conftest import LiveServer, Phone, Stamper, put_record
from httpx_sse import connect_sse

from sync.ids import uuid7

INC = uuid7()
SMALL = uuid7()

#: The residents' view may carry these keys and no others (a new one needs a review here).
PUBLIC_KEYS = {
    "seq",
    "kind",
    "title",
    "summary",
    "status",
    "affected",
    "visited",
    "restored",
    # Buildings in scope and restored (#12): incident-wide counts, hidden for small incidents.
    "buildings",
    "buildings_restored",
    # Their labels, restored and not yet (#22 D26): reference data, not personal.
    "buildings_done",
    "buildings_waiting",
    "eta",
    "started_at",
    "restored_at",
    "updates",
    "push_key",
}
UPDATE_KEYS = {"id", "at", "text"}


class Writer:
    def __init__(self, phone: Phone) -> None:
        self.phone, self.stamp = phone, Stamper(phone.node)

    def put(self, coll: str, rid: str | None = None, **fields) -> str:
        return put_record(self.phone, self.stamp, coll, rid, **fields)


def now(offset_min: int = 0) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + offset_min * 60))


def seed(w: Writer) -> tuple[list[str], list[str]]:
    """Two buildings, 24 households with distinctive personal data; returns (secrets, ids)."""
    secrets: list[str] = []
    ids: list[str] = []
    buildings = [w.put("buildings", label=f"隐私测试{n}号楼", units=2, floors=6) for n in (1, 2)]
    # Building labels are reference data (on the notice at the gate): residents see them.
    for b, building in enumerate(buildings):
        for k in range(12):
            name = f"隐秘姓名{b}{k:02d}"
            phone = f"1390717{b}{k:03d}"
            room = f"{k + 1}0{b}X"
            note = f"私密备注Q{b}{k:02d}：钥匙在门垫下"
            vulnerable = [["lone_elderly"], ["medical_device"], ["infant"], []][k % 4]
            hid = w.put(
                "households",
                building=building,
                unit=str(1 + k % 2),
                room=room,
                occupants=1 + k % 3,
                vulnerable=vulnerable,
                contact=f"{name} {phone}",
                notes=note,
            )
            secrets += [name, phone, room, note]
            ids.append(hid)
    w.put(
        "incidents",
        INC,
        kind="heating_outage",
        title="隐私测试院停暖",
        status="repairing",
        buildings=buildings,
        started_at=now(-120),
        eta=now(300),
        summary="供暖主管道破裂，正在抢修。",
    )
    # A one-unit incident of three households: too small for any count.
    w.put(
        "incidents",
        SMALL,
        kind="leak",
        title="楼道漏水",
        status="repairing",
        buildings=[],
        started_at=now(-30),
    )
    return secrets, [*ids, *buildings]


def run_incident(w: Writer, households: list[str]) -> list[str]:
    """Door-knocking, needs, heaters, notes, an internal update, restoration."""
    private: list[str] = []
    for k, hid in enumerate(households[:24]):
        note = f"走访备注Z{k:02d}：老人行动不便"
        private.append(note)
        outcome = "reached" if k % 3 else "not_home"
        w.put(
            "visits",
            household=hid,
            incident=INC,
            at=now(),
            outcome=outcome,
            needs=["heater", "medical"] if k % 4 == 0 else [],
            note=note,
        )
        if k % 4 == 0:
            w.put("household_status", f"{INC}~{hid}", needs_open=["medical"])
            w.put(
                "deliveries",
                household=hid,
                incident=INC,
                item="heater",
                qty=1,
                at=now(),
                status="delivered",
            )
    w.put("updates", incident=INC, at=now(), text="已为独居老人送去电暖气。", public=True)
    internal = "内部通报：3号楼1单元102王大爷需要吸氧机"
    private.append(internal)
    w.put("updates", incident=INC, at=now(), text=internal, public=False)
    for hid in households[:5]:
        w.put("household_status", f"{INC}~{hid}", restored=True)
    w.put("incidents", INC, status="restored", restored_at=now())
    return private


@pytest.fixture(scope="module")
def empty_server(module_empty_server: LiveServer) -> LiveServer:
    """One empty server for the module: the share test makes incidents of its own."""
    return module_empty_server


def test_no_public_surface_carries_personal_data(empty_server: LiveServer) -> None:
    coord = empty_server.enroll("coordinator", "协调员隐名甲")
    vol = empty_server.enroll("volunteer", "志愿者隐名乙")
    w = Writer(coord)
    secrets, ids = seed(w)
    secrets += ["协调员隐名甲", "志愿者隐名乙", coord.node, vol.node, coord.person, vol.person]
    secrets += ["lone_elderly", "medical_device", "infant", "empty_nest", "disabled"]
    secrets += ids
    base = empty_server.url
    token = httpx.post(f"{base}/api/v1/incidents/{INC}/share", headers=coord.headers).json()[
        "token"
    ]
    small = httpx.post(f"{base}/api/v1/incidents/{SMALL}/share", headers=coord.headers).json()[
        "token"
    ]

    seen: list[str] = []
    with (
        httpx.Client(base_url=base, timeout=20) as client,
        connect_sse(client, "GET", f"/api/v1/public/{token}/events") as source,
    ):
        events = source.iter_sse()
        first = next(events)
        seen.append(first.data)
        seen.append(httpx.get(f"{base}/api/v1/public/{token}").text)
        secrets += run_incident(w, ids[:24])
        while True:  # every event up to the restoration
            ev = next(events)
            seen.append(f"{ev.id} {ev.event} {ev.data}")
            if ev.event == "public" and json.loads(ev.data)["progress"]["status"] == "restored":
                break
    final = httpx.get(f"{base}/api/v1/public/{token}")
    seen += [final.text, httpx.get(f"{base}/api/v1/public/{small}").text]
    for path in (f"/r/{token}", f"/r/{token}/qr.svg", f"/r/{small}"):
        r = httpx.get(f"{base}{path}")
        assert r.status_code == 200
        seen.append(r.text)

    blob = "\n".join(seen)
    leaks = [s for s in secrets if s in blob]
    assert leaks == []
    # The public texts did arrive: the scan looked at real payloads.
    assert "已为独居老人送去电暖气。" in blob and "隐私测试院停暖" in blob

    body = final.json()
    assert set(body) == PUBLIC_KEYS
    assert all(set(u) == UPDATE_KEYS for u in body["updates"])
    assert (body["affected"], body["restored"], body["visited"]) == (24, 24, 24)
    tiny = httpx.get(f"{base}/api/v1/public/{small}").json()
    assert (tiny["affected"], tiny["visited"], tiny["restored"]) == (None, None, None)


def test_share_tokens_are_long_and_random(empty_server: LiveServer) -> None:
    coord = empty_server.enroll("coordinator", "主任")
    w = Writer(coord)
    tokens = set()
    for _ in range(3):
        iid = w.put("incidents", kind="leak", title="漏水", status="reported", buildings=[])
        r = httpx.post(f"{empty_server.url}/api/v1/incidents/{iid}/share", headers=coord.headers)
        d = r.json()
        assert len(d["token"]) >= 22  # ≥ 128 bits of urlsafe base64
        assert d["url"] == f"{empty_server.url}/r/{d['token']}"
        # Asking again gives the same link (it may already be in the residents' group).
        again = httpx.post(
            f"{empty_server.url}/api/v1/incidents/{iid}/share", headers=coord.headers
        ).json()
        assert again["token"] == d["token"]
        tokens.add(d["token"])
    assert len(tokens) == 3
