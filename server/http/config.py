"""Server settings: from the command line, with environment defaults.

``doorstep serve`` builds ``Settings`` from its flags; ``create_app`` reads them.
"""

import os
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["MAX_BODY", "PWA_DIR", "Settings"]

#: Largest request body accepted (413 beyond).
MAX_BODY = 4 * 1024 * 1024
PWA_DIR = Path(__file__).resolve().parents[2] / "pwa"


def _hour(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or not 0 <= int(raw) <= 23:
        raise ValueError(f"{name} is a local hour, 0 to 23 (got {raw[:20]!r})")
    return int(raw)


@dataclass(frozen=True)
class Settings:
    db: str = field(default_factory=lambda: os.environ.get("DOORSTEP_DB", "data/doorstep.db"))
    #: The address people open; used in invite and resident links.
    base_url: str = field(
        default_factory=lambda: os.environ.get("DOORSTEP_BASE_URL", "http://127.0.0.1:8000")
    )
    #: ``base_url`` was given (``--base-url`` or ``DOORSTEP_BASE_URL``): links made in the
    #: console use it; otherwise the address the console was reached on (issue 19).
    base_url_given: bool = field(default_factory=lambda: "DOORSTEP_BASE_URL" in os.environ)
    pwa_dir: Path = PWA_DIR
    #: The IANA zone of local times in files people read (exports); ``--tz``.
    tz: str = field(default_factory=lambda: os.environ.get("DOORSTEP_TZ", "Asia/Shanghai"))
    #: The local hour a duty day starts (the daily brief's day; #22 D17).
    duty_day_start: int = field(default_factory=lambda: _hour("DOORSTEP_DUTY_DAY_START", 8))
