"""Progress of an incident: derived from records on the server, never synced.

``Progress`` is what a coordinator sees; ``PublicProgress`` is the residents' view, which
carries no personal data and no count below the incident as a whole (docs/live.md).
"""

import msgspec

__all__ = ["PUBLIC_MIN_HOUSEHOLDS", "Progress", "PublicProgress", "PublicUpdate"]

#: Below this many affected households the residents' page shows no counts at all: in a
#: small incident "2 of 3 visited" points at a door.
PUBLIC_MIN_HOUSEHOLDS = 10


class PublicUpdate(msgspec.Struct):
    """A progress update marked public, as residents see it (no author)."""

    id: str
    at: str | None
    text: str


class Progress(msgspec.Struct, kw_only=True):
    """The aggregates of DESIGN.md for one incident, as of server sequence ``seq``.

    Attributes:
        affected: Households in the incident's scope (its buildings), not deleted.
        visited: Households with at least one visit for this incident.
        reached: Households where some visit's outcome was ``reached``.
        not_home: Visited, never reached, the latest visit ``not_home``.
        refused: Visited, never reached, the latest visit ``refused``.
        vulnerable: Households in scope with a vulnerability flag.
        vulnerable_reached: Of those, reached.
        needs_open: Households with open needs (``household_status.needs_open``, or the
            latest visit's needs when no status was recorded).
        needs: Open needs by kind (households per need).
        heaters_out: Heaters delivered minus returned or lost (``qty`` summed).
        restored: Households restored: all of them once the incident is ``restored`` or
            ``closed``, else those in a restored building or whose
            ``household_status.restored`` is true.
        buildings: Buildings in the incident's scope.
        buildings_restored: Of those, listed in the incident's ``restored_buildings``.
    """

    incident: str
    seq: int
    kind: str | None = None
    title: str | None = None
    status: str | None = None
    affected: int = 0
    visited: int = 0
    reached: int = 0
    not_home: int = 0
    refused: int = 0
    vulnerable: int = 0
    vulnerable_reached: int = 0
    needs_open: int = 0
    needs: dict[str, int] = {}
    heaters_out: int = 0
    restored: int = 0
    buildings: int = 0
    buildings_restored: int = 0
    eta: str | None = None
    started_at: str | None = None
    restored_at: str | None = None
    updates: list[PublicUpdate] = []


class PublicProgress(msgspec.Struct, kw_only=True):
    """What a resident's link shows. Counts are null when the incident is too small."""

    seq: int
    kind: str | None = None
    title: str | None = None
    summary: str | None = None
    status: str | None = None
    affected: int | None = None
    visited: int | None = None
    restored: int | None = None
    buildings: int | None = None
    buildings_restored: int | None = None
    #: Labels of the buildings restored, and of those not yet (#22 D26).
    buildings_done: list[str] | None = None
    buildings_waiting: list[str] | None = None
    eta: str | None = None
    started_at: str | None = None
    restored_at: str | None = None
    updates: list[PublicUpdate] = []
