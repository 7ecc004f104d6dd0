"""Server settings: from the command line, with environment defaults."""

import os
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["MAX_BODY", "PWA_DIR", "Settings"]

#: Largest request body accepted (413 beyond).
MAX_BODY = 4 * 1024 * 1024
PWA_DIR = Path(__file__).resolve().parent.parent / "pwa"


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
