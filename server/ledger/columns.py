"""Which column holds what: header names as ledgers spell them, and a person's mapping.

A header cell is folded (full-width → ASCII, no spaces, no bracketed unit such as
"人口（人）") and looked up in ``HEADERS``; failing that, a few telling words inside it
place it ("联系电话号码" has 电话). Per-kind vulnerability columns (独居老人 ✓) are fields
of their own (``vulnerable:lone_elderly``).
"""

import re

from server.ledger.address import fold

__all__ = ["FIELDS", "HEADERS", "KINDS", "VULNERABLE_WORDS", "field_of", "mapping_field"]

#: Every field a column can hold, with its Chinese name (the console's dropdown).
FIELDS: dict[str, str] = {
    "address": "地址",
    "compound": "院/小区",
    "building": "楼号",
    "unit": "单元",
    "room": "门牌号",
    "name": "户主",
    "phone": "电话",
    "occupants": "人口",
    "vulnerable": "重点人群",
    "notes": "备注",
    "vulnerable:lone_elderly": "独居老人（✓/是）",
    "vulnerable:empty_nest": "空巢（✓/是）",
    "vulnerable:disabled": "残疾（✓/是）",
    "vulnerable:infant": "婴幼儿（✓/是）",
    "vulnerable:medical_device": "医疗设备（✓/是）",
    "ignore": "不导入",
}

#: Words for each kind of vulnerable resident (schemas.records.Vulnerability).
VULNERABLE_WORDS: dict[str, str] = {
    "独居老人": "lone_elderly",
    "独居": "lone_elderly",
    "孤寡老人": "lone_elderly",
    "空巢老人": "empty_nest",
    "空巢": "empty_nest",
    "残疾人": "disabled",
    "残疾": "disabled",
    "残障": "disabled",
    "失能": "disabled",
    "婴幼儿": "infant",
    "婴儿": "infant",
    "幼儿": "infant",
    "医疗设备": "medical_device",
    "呼吸机": "medical_device",
    "制氧机": "medical_device",
    "透析": "medical_device",
}
KINDS = ("lone_elderly", "empty_nest", "disabled", "infant", "medical_device")

HEADERS: dict[str, str] = {
    **dict.fromkeys(["地址", "住址", "家庭住址", "详细地址", "房屋地址", "门牌地址"], "address"),
    **dict.fromkeys(["院", "小区", "院落", "小区名称", "院名", "小区/院", "院/小区"], "compound"),
    **dict.fromkeys(["楼号", "楼栋", "楼", "楼栋号", "栋", "栋号", "楼宇", "号楼"], "building"),
    **dict.fromkeys(["单元", "单元号", "门", "门号"], "unit"),
    **dict.fromkeys(["门牌号", "房号", "室", "房间号", "门牌", "户号", "房间"], "room"),
    **dict.fromkeys(["户主", "姓名", "联系人", "户主姓名", "居民姓名", "住户"], "name"),
    **dict.fromkeys(["电话", "联系电话", "手机", "手机号", "手机号码", "联系方式"], "phone"),
    **dict.fromkeys(["人口", "人数", "常住人口", "家庭人口", "户内人数", "居住人数"], "occupants"),
    **dict.fromkeys(["重点人群", "特殊人群", "人群类别", "重点人员", "特殊群体"], "vulnerable"),
    **dict.fromkeys(["备注", "说明", "情况说明"], "notes"),
    **{word: f"vulnerable:{kind}" for word, kind in VULNERABLE_WORDS.items()},
}

#: Words that place a header that is not one of ``HEADERS`` (checked in this order).
_INSIDE = [
    ("地址", "address"),
    ("电话", "phone"),
    ("手机", "phone"),
    ("单元", "unit"),
    ("门牌", "room"),
    ("房号", "room"),
    ("人口", "occupants"),
    ("人数", "occupants"),
    ("姓名", "name"),
    ("户主", "name"),
    ("楼", "building"),
    ("人群", "vulnerable"),
    ("备注", "notes"),
]
_BRACKETS = re.compile(r"\(.*?\)|\[.*?\]|【.*?】")


def field_of(header: object) -> str | None:
    """The field a header cell names, or None."""
    if header is None:
        return None
    text = _BRACKETS.sub("", fold(str(header))).strip("：:*")
    if not text:
        return None
    if text in HEADERS:
        return HEADERS[text]
    if len(text) <= 8:
        for word, field in _INSIDE:
            # "楼" only at the end ("所在楼"), not inside a sentence ("请按楼号填写").
            if word in text and (word != "楼" or text.endswith(("楼", "楼号", "楼栋"))):
                return field
    return None


def mapping_field(text: str) -> str | None:
    """The field a person named in a mapping: its key ("room") or Chinese name ("门牌号")."""
    text = text.strip()
    if text in FIELDS:
        return text
    for key, label in FIELDS.items():
        if text == label:
            return key
    return field_of(text)
