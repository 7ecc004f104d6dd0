"""The server's Chinese words for coded values, for files people read (exports, listings).

The PWA has the same words in ``pwa/js/i18n/zh-CN.js`` (``outcome.reached`` → 已联系);
``tests/test_export.py`` checks that the two tables agree, so an office reads the same word
in the export as the volunteer tapped on the phone.
"""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = ["DEFAULT_TZ", "WORDS", "local_time", "word", "words", "zone"]

#: The zone local times are shown in unless the server is told otherwise (``--tz``).
DEFAULT_TZ = "Asia/Shanghai"

#: group → code → Chinese. The groups are the PWA's key prefixes.
WORDS: dict[str, dict[str, str]] = {
    "outcome": {"reached": "已联系", "not_home": "不在家", "refused": "拒绝", "moved": "已搬走"},
    "need": {
        "heater": "电暖气",
        "water": "饮水",
        "medical": "就医",
        "food": "食物",
        "other": "其他",
    },
    "vuln": {
        "lone_elderly": "独居老人",
        "empty_nest": "空巢",
        "disabled": "残疾",
        "infant": "婴幼儿",
        "medical_device": "医疗设备",
    },
    "kind": {
        "heating_outage": "停暖",
        "water_outage": "停水",
        "pipe_burst": "爆管",
        "leak": "漏水",
        "power_outage": "停电",
        "other": "其他",
    },
    "istatus": {
        "reported": "已上报",
        "responding": "处置中",
        "repairing": "抢修中",
        "restored": "已恢复",
        "closed": "已结束",
    },
    "item": {"heater": "电暖气", "water": "饮用水", "blanket": "棉被", "other": "其他"},
    "dstatus": {"delivered": "已送达", "returned": "已回收", "lost": "丢失"},
    "rstatus": {"open": "待处理", "working": "抢修中", "done": "已完成"},
}


def word(group: str, code: object) -> str:
    """The Chinese word for ``code``; an unknown code stays as it is, never blank."""
    if code is None or code == "":
        return ""
    return WORDS[group].get(str(code), str(code))


def words(group: str, codes: object) -> str:
    """A list of codes as Chinese words joined by 、 (a single code works too)."""
    if not codes:
        return ""
    if not isinstance(codes, list):
        return word(group, codes)
    return "、".join(word(group, c) for c in codes)


def zone(name: str) -> ZoneInfo:
    """The named IANA zone, or ValueError with a message a person can act on."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"未知时区 {name!r}，请用 IANA 名称，如 {DEFAULT_TZ} "
            f"(unknown time zone {name!r}; give an IANA name such as {DEFAULT_TZ})"
        ) from None


def local_time(at: object, tz: ZoneInfo) -> datetime | None:
    """An ISO 8601 time from a record as a naive local time in ``tz`` (None if not a time)."""
    if not isinstance(at, str) or not at:
        return None
    try:
        t = datetime.fromisoformat(at)
    except ValueError:
        return None
    if t.tzinfo is None:  # records are UTC; a bare time is read as UTC
        t = t.replace(tzinfo=UTC)
    return t.astimezone(tz).replace(tzinfo=None)
