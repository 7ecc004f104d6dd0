"""The one JSON shape of every failed request."""

from typing import Any

import msgspec

__all__ = ["ErrorBody"]


class ErrorBody(msgspec.Struct, omit_defaults=False):
    """``{"error": code, "message": text, "details": ...}``."""

    error: str
    message: str
    details: Any = None
