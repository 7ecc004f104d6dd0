"""Enrolling a device with an invite code."""

from typing import Annotated, Literal

import msgspec
from msgspec import Meta

__all__ = ["EnrollRequest", "EnrollResponse", "Role"]

Role = Literal["coordinator", "volunteer"]


class EnrollRequest(msgspec.Struct, forbid_unknown_fields=True):
    """``code`` from ``doorstep invite``; ``device`` a free label such as the browser."""

    code: Annotated[str, Meta(min_length=4, max_length=32)]
    device: Annotated[str, Meta(max_length=200)] = ""


class EnrollResponse(msgspec.Struct):
    """The device's bearer token and the HLC node id it must stamp with."""

    token: str
    node: str
    role: Role
    person: str
    #: The person's name, so the app can greet them and show whose phone it is.
    name: str = ""
