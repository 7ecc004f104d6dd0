"""The people a coordinator works with, for the dashboard's assignment editor (#5).

Only what choosing a volunteer needs: no phone numbers, no logins.
"""

import msgspec
from litestar import get
from litestar.di import NamedDependency
from litestar.params import SkipValidation

from server.auth import require_coordinator
from server.db import Database
from server.db import people as db_people
from server.db.devices import Device

__all__ = ["ROUTES", "Person", "people"]


class Person(msgspec.Struct):
    id: str
    name: str
    role: str
    devices: int


@get("/api/v1/people")
async def people(
    database: NamedDependency[Database], device: SkipValidation[Device]
) -> list[Person]:
    """People of the coordinator's community and those not attached to any community
    (everyone, for a coordinator without a community), with their active devices."""
    require_coordinator(device)
    community = await db_people.community_of(database, device.person)
    rows = await db_people.listing(database, community)
    return [Person(*r) for r in rows]


ROUTES = [people]
