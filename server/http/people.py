"""The people a coordinator works with: the assignment editor's list (#5), and the
console's people page (issue 19): invite volunteers one at a time or in a batch (a
printable sheet of QR codes), see each one's invite, withdraw it, invite again, and add a
community's coordinator (a single-use link that sets their login and password).

``GET /api/v1/people`` carries only what choosing a volunteer needs: no phone numbers, no
logins. Phone numbers pasted into a batch are only echoed back onto the sheet; they are
not stored.
"""

from typing import Annotated

import msgspec
from litestar import Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, SkipValidation
from msgspec import Meta

from server.db import AnyDatabase
from server.db import people as db_people
from server.db.people import InviteRow
from server.errors import DoorstepError, ForbiddenRequestError, NotFoundError, decode_body
from server.guards.caller import Caller
from server.guards.sessions import hash_in_slots, require_same_origin_json
from server.http.coord import qr_svg

__all__ = [
    "ROUTES",
    "SETUP_ROUTES",
    "Person",
    "base_url",
    "people",
    "setup_link",
]

#: Most people in one batch (a sheet of 200 QR codes is 25 printed pages).
MAX_BATCH = 200

Name = Annotated[str, Meta(min_length=1, max_length=50)]


class Person(msgspec.Struct):
    id: str
    name: str
    role: str
    devices: int


class NewPerson(msgspec.Struct, forbid_unknown_fields=True):
    name: Name
    phone: Annotated[str, Meta(max_length=30)] = ""


class InviteBatch(msgspec.Struct, forbid_unknown_fields=True):
    people: Annotated[list[NewPerson], Meta(min_length=1, max_length=MAX_BATCH)]
    ttl_hours: Annotated[float, Meta(ge=1, le=720)] = 72


class Reinvite(msgspec.Struct, forbid_unknown_fields=True):
    ttl_hours: Annotated[float, Meta(ge=1, le=720)] = 72


class NewCoordinator(msgspec.Struct, forbid_unknown_fields=True):
    name: Name
    community: Annotated[str, Meta(min_length=1, max_length=100)]
    ttl_hours: Annotated[float, Meta(ge=1, le=720)] = 72


class Invite(msgspec.Struct):
    """One invite to hand over: the link (its QR code as SVG) and the code to type."""

    person: str
    name: str
    code: str
    url: str
    qr: str
    expires_at: str
    phone: str = ""


class InviteSheet(msgspec.Struct):
    expires_at: str
    invites: list[Invite]


class SetupRequest(msgspec.Struct, forbid_unknown_fields=True):
    code: Annotated[str, Meta(min_length=4, max_length=32)]
    login: Annotated[str, Meta(min_length=1, max_length=100)]
    password: Annotated[str, Meta(min_length=10, max_length=200)]
    #: The first coordinator's name (a coordinator added from the console has one).
    name: Annotated[str, Meta(max_length=50)] = ""


_batch = msgspec.json.Decoder(InviteBatch)
_again = msgspec.json.Decoder(Reinvite)
_coordinator = msgspec.json.Decoder(NewCoordinator)
_setup = msgspec.json.Decoder(SetupRequest)


def base_url(request: Request) -> str:
    """The address links are made for: ``--base-url`` when it was given, otherwise the
    scheme and host the console reached this server on (never a guessed port)."""
    settings = request.app.state.settings
    if settings.base_url_given or not request.headers.get("host"):
        return str(settings.base_url).rstrip("/")
    return f"{request.url.scheme}://{request.headers['host']}"


def enrol_link(base: str, code: str) -> str:
    return f"{base}/#/enroll/{code}"


def setup_link(base: str, code: str) -> str:
    """The first coordinator's (or a new community coordinator's) setup page; the code
    rides in the fragment, so it reaches no log and no Referer."""
    return f"{base}/setup.html#{code}"


def _invite(base: str, person: str, name: str, code: str, expires: str, *, setup: bool) -> Invite:
    url = setup_link(base, code) if setup else enrol_link(base, code)
    return Invite(person, name, code, url, qr_svg(url), expires)


@get("/api/v1/people")
async def people(
    database: NamedDependency[AnyDatabase], access: SkipValidation[Caller]
) -> list[Person]:
    """People of the coordinator's community, the volunteers assigned inside it and the
    unattached ones (everyone, for a coordinator without a community), with their active
    devices."""
    rows = await db_people.listing(database, await access.read_scope())
    return [Person(*r) for r in rows]


@get("/api/v1/invites")
async def invites(
    database: NamedDependency[AnyDatabase], access: SkipValidation[Caller]
) -> list[InviteRow]:
    """The same people, each with the state of their newest invite, for the people page."""
    return await db_people.invites(database, await access.read_scope())


@post("/api/v1/invites", status_code=200)
async def invite_batch(
    request: Request, database: NamedDependency[AnyDatabase], access: SkipValidation[Caller]
) -> InviteSheet:
    """New volunteers, one single-use invite each: the sheet to print or show."""
    data = decode_body(
        _batch, await request.body(), "invites", '{"people": [{"name": "张三", "phone": ""}]}'
    )
    # A coordinator of every community invites into the unattached pool (no community), as
    # `doorstep invite` does; a community's coordinator invites their own people, whom no
    # other community's coordinator sees, withdraws or invites again.
    codes, expires = await db_people.invite_many(
        database,
        [p.name for p in data.people],
        community=await access.community(),
        ttl_hours=data.ttl_hours,
    )
    base = base_url(request)
    out = []
    for p, (code, person) in zip(data.people, codes, strict=True):
        inv = _invite(base, person, p.name, code, expires, setup=False)
        inv.phone = p.phone
        out.append(inv)
    return InviteSheet(expires, out)


async def _person_in_scope(database: AnyDatabase, access: Caller, person: str) -> None:
    if len(person) > 64 or not await db_people.within(database, await access.read_scope(), person):
        raise NotFoundError("no such person among yours; reload the people page", code="no_person")


@post("/api/v1/people/{person:str}/invite", status_code=200)
async def reinvite(
    request: Request,
    person: FromPath[str],
    database: NamedDependency[AnyDatabase],
    access: SkipValidation[Caller],
) -> Invite:
    """A new invite for someone already on the list (a new phone, a lost code); their
    unused invites stop working."""
    data = decode_body(_again, await request.body() or b"{}", "invite", '{"ttl_hours": 72}')
    await _person_in_scope(database, access, person)
    # The device the new code enrols reads what this person reads: all of it must be ours.
    role, community = (
        await db_people.role_of(database, person),
        await db_people.community_of(database, person),
    )
    await access.require_covers(person, role, community)
    try:
        code, expires, setup = await db_people.reinvite(database, person, ttl_hours=data.ttl_hours)
    except ValueError:
        err = DoorstepError(
            "this coordinator already has a login; they sign in on the login page",
            code="has_login",
        )
        err.status = 409
        raise err from None
    name = await db_people.name_of(database, person)
    return _invite(base_url(request), person, name, code, expires, setup=setup)


@post("/api/v1/people/{person:str}/invites/revoke", status_code=200)
async def revoke_invites(
    person: FromPath[str], database: NamedDependency[AnyDatabase], access: SkipValidation[Caller]
) -> dict[str, int]:
    """Withdraw a person's unused invites (how many: 0 when none was left): their code or
    QR code no longer enrols."""
    await _person_in_scope(database, access, person)
    return {"revoked": await db_people.cancel_invites(database, person)}


@post("/api/v1/coordinators", status_code=200)
async def add_coordinator(
    request: Request, database: NamedDependency[AnyDatabase], access: SkipValidation[Caller]
) -> Invite:
    """A coordinator of one community, added by a coordinator of all communities: a
    single-use link on which they set their login and password."""
    data = decode_body(
        _coordinator, await request.body(), "coordinator", '{"name": "...", "community": "..."}'
    )
    if not await access.unlimited():
        raise ForbiddenRequestError(
            "only a coordinator of all communities adds coordinators; ask them",
            code="not_all_communities",
        )
    codes, expires = await db_people.invite_many(
        database,
        [data.name],
        role=db_people.SETUP,
        community=data.community,
        ttl_hours=data.ttl_hours,
    )
    code, person = codes[0]
    return _invite(base_url(request), person, data.name, code, expires, setup=True)


@post("/api/v1/setup", status_code=200)
async def setup(request: Request, database: NamedDependency[AnyDatabase]) -> dict[str, str]:
    """Spend a setup link: its coordinator gets a login and password (then logs in)."""
    require_same_origin_json(request)  # like the login itself: JSON, from this site
    data = decode_body(
        _setup, await request.body(), "setup", '{"code": "...", "login": "...", "password": "..."}'
    )
    # A wrong code is answered before any hashing: the page is public, and argon2 takes
    # ~64 MiB and a core's worth of time (never on the event loop, a few at a time).
    result = await db_people.setup_state(database, data.code)
    if result is None:
        hashed = await hash_in_slots(request.app, data.password)
        result = await db_people.setup_login(
            database, data.code, data.login, hashed, name=data.name.strip()
        )
    if result in _SETUP_ERRORS:
        status, message = _SETUP_ERRORS[result]
        err = DoorstepError(message, code=result)
        err.status = status
        raise err
    return {"person": result, "login": data.login}


_SETUP_ERRORS = {
    "invite_unknown": (400, "this setup link does not exist; check it or ask for a new one"),
    "invite_used": (409, "this setup link has been used; sign in on the login page"),
    "invite_revoked": (410, "this setup link was replaced by a newer one; use the newest"),
    "invite_expired": (410, "this setup link has expired; ask for a new one"),
    "login_taken": (409, "this login is taken; choose another"),
}

ROUTES = [people, invites, invite_batch, reinvite, revoke_invites, add_coordinator]
#: Public: the setup link is the key (single-use, rate-limited like invite codes).
SETUP_ROUTES = [setup]
