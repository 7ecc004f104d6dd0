"""The people a coordinator works with, for the dashboard's assignment editor (#5).

Only what choosing a volunteer needs: no phone numbers, no logins.
"""

import msgspec
from litestar import get
from litestar.di import NamedDependency
from litestar.params import SkipValidation

from server.db import AnyDatabase
from server.db import people as db_people
from server.guards import Scope

__all__ = ["ROUTES", "Person", "people"]


class Person(msgspec.Struct):
    id: str
    name: str
    role: str
    devices: int


@get("/api/v1/people")
async def people(
    database: NamedDependency[AnyDatabase], access: SkipValidation[Scope]
) -> list[Person]:
    """People of the coordinator's community, the volunteers assigned inside it and the
    unattached ones (everyone, for a coordinator without a community), with their active
    devices."""
    rows = await db_people.listing(database, await access.read_scope())
    return [Person(*r) for r in rows]


ROUTES = [people]
