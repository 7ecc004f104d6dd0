"""The demo community, built from the seed stories (../shared/seeds, DOMAIN.md).

* 精图社区 (太平桥街道): 丽源路55号院 and 56号院, 741 households, the heating main split
  in a heat well; repair in progress, heaters being delivered door to door.
* 山字石社区 (张掖路街道, 兰州): 山字石街51号, 8 units, 244 households, the main pipe burst
  inside the wall; water shut off at the main valve.

Names and phone numbers are fictional. Ids are reproducible (seeded), times are relative
to now so the demo looks live.
"""

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from sync.ids import uuid7

__all__ = ["HEATING", "WATER", "demo_records"]

Rec = tuple[str, str, dict[str, Any]]

_SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕"
_GIVEN = [
    "秀英",
    "桂兰",
    "淑珍",
    "建国",
    "国华",
    "玉兰",
    "志强",
    "凤英",
    "德明",
    "丽华",
    "春生",
    "文军",
    "秀珍",
    "永福",
    "海燕",
    "保国",
    "金凤",
    "长林",
    "淑华",
    "振华",
]

#: Fixed ids the tests and docs can name.
HEATING = "0190a000-0000-7000-8000-000000000741"
WATER = "0190a000-0000-7000-8000-000000000244"


def _iso(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


class _Ids:
    def __init__(self, rng: random.Random, base_ms: int) -> None:
        self.rng, self.ms = rng, base_ms

    def __call__(self) -> str:
        self.ms += 1
        return uuid7(self.ms, self.rng.randbytes(10))


def _households(
    rng: random.Random,
    new_id: _Ids,
    building: str,
    units: int,
    floors: int,
    per_floor: int,
    count: int,
) -> Iterator[Rec]:
    """``count`` households spread over a building's units, filled floor by floor."""
    quota = [count // units + (1 if u < count % units else 0) for u in range(units)]
    for unit, n in enumerate(quota, start=1):
        for k in range(n):
            floor, door = divmod(k, per_floor)
            room = f"{floor % floors + 1}{door + 1:02d}"
            roll = rng.random()
            vulnerable = (
                ["lone_elderly"]
                if roll < 0.05
                else ["empty_nest"]
                if roll < 0.12
                else ["disabled"]
                if roll < 0.14
                else ["infant"]
                if roll < 0.17
                else ["lone_elderly", "medical_device"]
                if roll < 0.18
                else []
            )
            name = rng.choice(_SURNAMES) + rng.choice(_GIVEN)
            occupants = (
                1 if "lone_elderly" in vulnerable else 2 if vulnerable else rng.randint(1, 5)
            )
            yield (
                "households",
                new_id(),
                {
                    "building": building,
                    "unit": str(unit),
                    "room": room,
                    "occupants": occupants,
                    "vulnerable": vulnerable,
                    "contact": f"{name} 1380000{rng.randint(0, 9999):04d}",
                    "notes": "独居，耳背，请大声敲门" if "lone_elderly" in vulnerable else "",
                },
            )


def demo_records(now: datetime | None = None, seed: int = 741) -> list[Rec]:
    """Every record of the demo, as (collection, id, fields)."""
    now = now or datetime.now(UTC)
    rng = random.Random(seed)
    new_id = _Ids(rng, int(datetime(2026, 11, 1, tzinfo=UTC).timestamp() * 1000))
    recs: list[Rec] = []

    jingtu, shanzishi = new_id(), new_id()
    recs.append(
        ("communities", jingtu, {"name": "精图社区", "street": "太平桥街道", "district": "丰台区"})
    )
    recs.append(
        (
            "communities",
            shanzishi,
            {"name": "山字石社区", "street": "张掖路街道", "district": "兰州市城关区"},
        )
    )

    # 丽源路55号院: 6 buildings, 56号院: 5 buildings; 741 households in all.
    heating_buildings: list[str] = []
    plan = [("丽源路55号院", b, 70) for b in range(1, 7)] + [
        ("丽源路56号院", b, 64) for b in range(1, 6)
    ]
    plan[-1] = ("丽源路56号院", 5, 741 - sum(n for _, _, n in plan[:-1]))
    for compound, number, count in plan:
        bid = new_id()
        heating_buildings.append(bid)
        recs.append(
            (
                "buildings",
                bid,
                {
                    "community": jingtu,
                    "compound": compound,
                    "label": f"{compound}{number}号楼",
                    "units": 3,
                    "floors": 6,
                },
            )
        )
        recs.extend(_households(rng, new_id, bid, 3, 6, 4, count))

    # 山字石街51号: 2 buildings of 4 units, 244 households.
    water_buildings: list[str] = []
    for number, count in ((1, 122), (2, 122)):
        bid = new_id()
        water_buildings.append(bid)
        recs.append(
            (
                "buildings",
                bid,
                {
                    "community": shanzishi,
                    "compound": "山字石街51号",
                    "label": f"山字石街51号{number}号楼",
                    "units": 4,
                    "floors": 7,
                },
            )
        )
        recs.extend(_households(rng, new_id, bid, 4, 7, 5, count))

    started = now - timedelta(hours=9)
    recs.append(
        (
            "incidents",
            HEATING,
            {
                "community": jingtu,
                "kind": "heating_outage",
                "status": "repairing",
                "title": "丽源路55号院、56号院供暖主管道破裂停暖",
                "buildings": heating_buildings,
                "place": "55号院东侧暖井",
                "started_at": _iso(started),
                "eta": _iso(now + timedelta(hours=7)),
                "restored_at": None,
                "summary": "暖井内供暖主管道老化锈蚀，两处漏水。已关闭楼宇供暖阀门，正在泄水抢修；"
                "为独居、空巢老人逐户送电暖气。",
            },
        )
    )
    for hours, text in (
        (9, "因暖井内供暖主管道破裂，55号院、56号院暂停供暖，物业正在关阀泄水，请大家做好保暖。"),
        (7, "抢修人员已下井作业。暖井空间狭窄，两处漏点无法同时焊接，将分段更换管道。"),
        (4, "第一段管道已更换完毕，正在处理第二处漏点。社区正为独居、空巢老人逐户送电暖气。"),
        (1, "城管应急队已接替抢修，预计今夜恢复供暖。如需帮助请联系社区值班电话。"),
    ):
        recs.append(
            (
                "updates",
                new_id(),
                {
                    "incident": HEATING,
                    "at": _iso(now - timedelta(hours=hours)),
                    "text": text,
                    "public": True,
                },
            )
        )
    recs.append(
        (
            "updates",
            new_id(),
            {
                "incident": HEATING,
                "at": _iso(now - timedelta(hours=3)),
                "text": "街道调拨电暖气40台，已送达社区库房。",
                "public": False,
            },
        )
    )
    recs.append(
        (
            "repairs",
            new_id(),
            {
                "incident": HEATING,
                "place": "55号院东侧暖井",
                "status": "done",
                "description": "第一处漏点：更换一段主管道",
                "at": _iso(started + timedelta(hours=1)),
                "done_at": _iso(now - timedelta(hours=4)),
            },
        )
    )
    recs.append(
        (
            "repairs",
            new_id(),
            {
                "incident": HEATING,
                "place": "55号院东侧暖井",
                "status": "working",
                "description": "第二处漏点：焊接",
                "at": _iso(now - timedelta(hours=4)),
                "done_at": None,
            },
        )
    )

    # Door-knocking so far: the vulnerable households of the first buildings.
    households = [r for r in recs if r[0] == "households"]
    first = {b for b in heating_buildings[:3]}
    for _, hid, f in households:
        if f["building"] in first and f["vulnerable"]:
            at = now - timedelta(minutes=rng.randint(20, 300))
            home = rng.random() < 0.8
            recs.append(
                (
                    "visits",
                    new_id(),
                    {
                        "household": hid,
                        "incident": HEATING,
                        "at": _iso(at),
                        "outcome": "reached" if home else "not_home",
                        "needs": ["heater"] if home else [],
                        "note": "",
                    },
                )
            )
            if home:
                recs.append(
                    (
                        "deliveries",
                        new_id(),
                        {
                            "household": hid,
                            "incident": HEATING,
                            "item": "heater",
                            "qty": 1,
                            "at": _iso(at + timedelta(minutes=5)),
                            "status": "delivered",
                        },
                    )
                )

    wstart = now - timedelta(hours=5)
    recs.append(
        (
            "incidents",
            WATER,
            {
                "community": shanzishi,
                "kind": "water_outage",
                "status": "repairing",
                "title": "山字石街51号主水管爆裂停水",
                "buildings": water_buildings,
                "place": "山字石街51号院内墙体",
                "started_at": _iso(wstart),
                "eta": _iso(now + timedelta(hours=3)),
                "restored_at": None,
                "summary": "墙内主水管爆裂，院内结冰。自来水公司已关闭总阀，8个单元244户停水；正在更换阀门。",
            },
        )
    )
    for hours, text in (
        (5, "51号院主水管爆裂，已关闭总阀，8个单元暂时停水。院内路面结冰，请注意防滑。"),
        (3, "已与居民代表、代管物业、产权单位现场商定维修方案，正在更换阀门。"),
    ):
        recs.append(
            (
                "updates",
                new_id(),
                {
                    "incident": WATER,
                    "at": _iso(now - timedelta(hours=hours)),
                    "text": text,
                    "public": True,
                },
            )
        )
    recs.append(
        (
            "repairs",
            new_id(),
            {
                "incident": WATER,
                "place": "山字石街51号总阀",
                "status": "working",
                "description": "更换总阀门",
                "at": _iso(wstart + timedelta(hours=1)),
                "done_at": None,
            },
        )
    )
    return recs
