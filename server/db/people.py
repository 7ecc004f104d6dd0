"""People: volunteers and coordinators, their invites and their logins.

Written once for both engines: blocking functions of a ``Conn`` (``*_in``) run by
``db.read_tx`` / ``db.write_tx``.
"""

import secrets
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec

from server.access import Scope
from server.db import AnyDatabase
from server.db.changes import iso_now
from server.db.devices import normalise_code, token_hash
from server.db.scopes import people_filter

__all__ = [
    "SETUP",
    "InviteRow",
    "add_coordinator",
    "cancel_invites",
    "community_of",
    "create_invite",
    "exists",
    "first_run_code",
    "for_login",
    "invite_many",
    "invites",
    "listing",
    "name_of",
    "reinvite",
    "role_of",
    "setup_login",
    "setup_state",
    "within",
]

#: No 0/O, 1/I/L: codes are read aloud and typed on phones.
_CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"

_FOR_LOGIN = "SELECT id, name, role, password_hash FROM people WHERE login = ?"
_EXISTS = "SELECT 1 FROM people WHERE id = ?"


async def name_of(db: AnyDatabase, person: str) -> str:
    rows = await db.select("SELECT name FROM people WHERE id = ?", (person,))
    return (rows[0][0] or "") if rows else ""


async def role_of(db: AnyDatabase, person: str) -> str:
    """A person's role ("" for nobody)."""
    rows = await db.select(_PERSON, (person,))
    return rows[0][0] if rows else ""


async def exists(db: AnyDatabase, person: str) -> bool:
    return bool(await db.select(_EXISTS, (person,)))


async def community_of(db: AnyDatabase, person: str) -> str | None:
    """A coordinator's community (None: every community)."""
    rows = await db.select("SELECT community FROM people WHERE id = ?", (person,))
    return rows[0][0] if rows else None


async def for_login(db: AnyDatabase, login: str) -> tuple[str | None, str, str, str | None]:
    """(person, name, role, password hash) of a login, or (None, "", "", None)."""
    rows = await db.select(_FOR_LOGIN, (login,))
    return tuple(rows[0]) if rows else (None, "", "", None)  # type: ignore[return-value]


def _listing_in(conn: Any, scope: Scope) -> list[Any]:
    within, args = people_filter(scope, "p.id", conn.dialect)
    # NULLS FIRST: SQLite's default, said for PostgreSQL's sake.
    return conn.execute(
        "SELECT p.id, p.name, p.role, (SELECT count(*) FROM devices d WHERE d.person = p.id "
        f"AND d.revoked_at IS NULL) FROM people p WHERE {within} "
        "ORDER BY p.role NULLS FIRST, p.name NULLS FIRST, p.id LIMIT 5000",
        args,
    ).fetchall()


async def listing(db: AnyDatabase, scope: Scope) -> list[tuple[str, str, str, int]]:
    """(id, name, role, active devices) of the people a coordinator works with: those of
    their community and the volunteers assigned inside it (``scopes.people_filter``), or
    everyone for a coordinator without a community. No phone numbers or logins."""
    rows = await db.read_tx(lambda conn: _listing_in(conn, scope))
    return [(r[0], r[1] or "", r[2], r[3]) for r in rows]


async def create_invite(
    db: AnyDatabase,
    role: str,
    *,
    name: str | None = None,
    person: str | None = None,
    ttl_hours: float = 72,
) -> tuple[str, str]:
    """Create a single-use invite code for a new or existing person.

    Returns:
        (code, person id)

    Raises:
        LookupError: ``person`` does not exist.
    """
    now = datetime.now(UTC)

    def run(conn: Any) -> tuple[str, str]:
        who = person
        if who is None:
            who = str(uuid.uuid4())
            conn.execute(
                "INSERT INTO people (id, name, role, created_at) VALUES (?, ?, ?, ?)",
                (who, name or "", role, iso_now(now)),
            )
        elif conn.execute(_EXISTS, (who,)).fetchone() is None:
            raise LookupError(f"no person {who}")
        return _invite_in(conn, role, who, now, ttl_hours), who

    return await db.write_tx(run)


async def add_coordinator(
    db: AnyDatabase, login: str, password_hash: str, *, name: str, community: str | None
) -> str:
    """Create a coordinator who logs in with ``login``; returns the person id.

    Raises:
        LookupError: the login is taken.
    """
    person = str(uuid.uuid4())
    # The login is the only constraint a new person (a fresh uuid) can meet.
    added = await db.execute(
        "INSERT INTO people (id, name, role, created_at, login, password_hash, community) "
        "VALUES (?, ?, 'coordinator', ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        (person, name, iso_now(), login, password_hash, community),
    )
    if added != 1:
        raise LookupError(f"login {login!r} is taken")
    return person


# --- invites from the console and the first coordinator's setup link (issue 19) ---------

#: The role of an invite that sets a coordinator's login and password in a browser
#: (``setup_login``) instead of enrolling a device.
SETUP = "setup"

_NEW_PERSON = "INSERT INTO people (id, name, role, created_at, community) VALUES (?, ?, ?, ?, ?)"
_CANCEL = "UPDATE invites SET used_at = ? WHERE person = ? AND used_at IS NULL AND expires_at > ?"
_PERSON = "SELECT role, login FROM people WHERE id = ?"
_SETUP = "SELECT role, person, expires_at, used_at, node FROM invites WHERE code_hash = ?"
_SPEND = "UPDATE invites SET used_at = ?, node = ? WHERE code_hash = ?"
_CAN_LOG_IN = (
    "SELECT 1 FROM people p WHERE p.role = 'coordinator' AND (p.login IS NOT NULL OR "
    "EXISTS (SELECT 1 FROM devices d WHERE d.person = p.id AND d.revoked_at IS NULL)) "
    "LIMIT 1"
)


def _new_code() -> str:
    return "".join(secrets.choice(_CODE_ALPHABET) for _ in range(8))


def _shown(raw: str) -> str:
    return f"{raw[:4]}-{raw[4:]}"


def _invite_in(conn: Any, role: str, person: str | None, now: datetime, ttl: float) -> str:
    raw = _new_code()
    conn.execute(
        "INSERT INTO invites (code_hash, role, person, created_at, expires_at) "
        "VALUES (?, ?, ?, ?, ?)",
        (
            token_hash(normalise_code(raw)),
            role,
            person,
            iso_now(now),
            iso_now(now + timedelta(hours=ttl)),
        ),
    )
    return _shown(raw)


async def invite_many(
    db: AnyDatabase,
    names: list[str],
    *,
    role: str = "volunteer",
    community: str | None = None,
    ttl_hours: float = 72,
) -> tuple[list[tuple[str, str]], str]:
    """New people with one single-use invite each, in one transaction. ``role`` is
    ``volunteer`` (the code enrols a phone) or ``SETUP`` (a coordinator of ``community``
    whose link sets a login and password).

    Returns:
        ([(code, person id)] in the order of ``names``, the codes' expiry)
    """
    now = datetime.now(UTC)
    person_role = "coordinator" if role == SETUP else role

    def run(conn: Any) -> list[tuple[str, str]]:
        out = []
        for name in names:
            who = str(uuid.uuid4())
            conn.execute(_NEW_PERSON, (who, name, person_role, iso_now(now), community))
            out.append((_invite_in(conn, role, who, now, ttl_hours), who))
        return out

    return await db.write_tx(run), iso_now(now + timedelta(hours=ttl_hours))


async def reinvite(db: AnyDatabase, person: str, *, ttl_hours: float = 72) -> tuple[str, str, bool]:
    """A new single-use invite for an existing person; their unused ones stop working.
    A volunteer's enrols another phone; a coordinator's is a setup link while they have
    no login yet.

    Returns:
        (code, expiry, whether it is a setup link)

    Raises:
        LookupError: no such person.
        ValueError: a coordinator who already has a login (they log in; no link).
    """
    now = datetime.now(UTC)

    def run(conn: Any) -> tuple[str, bool]:
        row = conn.execute(_PERSON, (person,)).fetchone()
        if row is None:
            raise LookupError(f"no person {person}")
        role, login = row
        if role == "coordinator" and login is not None:
            raise ValueError("this coordinator already has a login")
        stamp = iso_now(now)
        conn.execute(_CANCEL, (stamp, person, stamp))
        kind = SETUP if role == "coordinator" else role
        return _invite_in(conn, kind, person, now, ttl_hours), kind == SETUP

    code, setup = await db.write_tx(run)
    return code, iso_now(now + timedelta(hours=ttl_hours)), setup


async def cancel_invites(db: AnyDatabase, person: str) -> int:
    """Stop a person's unused invites from working (spent, with no device); returns how
    many there were."""
    stamp = iso_now()
    return await db.execute(_CANCEL, (stamp, person, stamp))


class InviteRow(msgspec.Struct):
    """A person and their newest invite, for the console's people page."""

    person: str
    name: str
    role: str
    devices: int
    #: ``pending`` (can be used until ``expires_at``), ``used``, ``expired``,
    #: ``revoked`` (stopped by a coordinator), or None (never invited from here).
    invite: str | None
    invited_at: str | None
    expires_at: str | None


def _invites_in(conn: Any, scope: Scope) -> list[Any]:
    within, args = people_filter(scope, "p.id", conn.dialect)
    newest = (
        "(SELECT i.{0} FROM invites i WHERE i.person = p.id "
        "ORDER BY i.created_at DESC, (i.used_at IS NULL) DESC, i.code_hash LIMIT 1)"
    )
    return conn.execute(
        "SELECT p.id, p.name, p.role, (SELECT count(*) FROM devices d WHERE d.person = p.id "
        "AND d.revoked_at IS NULL), "
        f"{newest.format('created_at')}, {newest.format('expires_at')}, "
        f"{newest.format('used_at')}, {newest.format('node')} FROM people p WHERE {within} "
        "LIMIT 5000",
        args,
    ).fetchall()


async def invites(db: AnyDatabase, scope: Scope) -> list[InviteRow]:
    """The people a coordinator works with (``listing``'s rule), each with the state of
    their newest invite, newest invite first."""
    now = iso_now()
    out = []
    for pid, name, role, devices, created, expires, used, node in await db.read_tx(
        lambda conn: _invites_in(conn, scope)
    ):
        if created is None:
            state = None
        elif used is not None:
            state = "used" if node is not None else "revoked"
        else:
            state = "pending" if expires > now else "expired"
        out.append(InviteRow(pid, name or "", role, devices, state, created, expires))
    out.sort(key=lambda r: (r.invited_at or "", r.name), reverse=True)
    return out


def _unspendable(row: Any, now: str) -> str | None:
    """Why the setup invite ``row`` (``_SETUP``'s) cannot be spent at ``now``, or None."""
    if row is None or row[0] != SETUP:
        return "invite_unknown"
    _, _, expires_at, used_at, node = row
    if used_at is not None:
        return "invite_used" if node is not None else "invite_revoked"
    if expires_at <= now:
        return "invite_expired"
    return None


async def setup_login(
    db: AnyDatabase, code: str, login: str, password_hash: str, *, name: str = ""
) -> str:
    """Spend a setup code: the coordinator it names (or, for the first-run code, a new
    coordinator of every community called ``name``) gets ``login`` and the password.

    The first-run code (no person) works only while no coordinator can sign in.

    Returns:
        The person id, or an error code: ``invite_unknown``, ``invite_used``,
        ``invite_revoked``, ``invite_expired`` or ``login_taken``.
    """
    code_hash = token_hash(normalise_code(code))
    now = iso_now()

    def run(conn: Any) -> str:
        row = conn.execute(_SETUP + conn.dialect.for_update(), (code_hash,)).fetchone()
        why = _unspendable(row, now)
        if why is not None:
            return why
        person = row[1]
        if conn.execute(_FOR_LOGIN, (login,)).fetchone() is not None:
            return "login_taken"
        if person is None and conn.execute(_CAN_LOG_IN).fetchone() is not None:
            # The first-run code, after a coordinator was made another way: it would make
            # a second coordinator of every community from a line of the server's log.
            conn.execute(_SPEND, (now, None, code_hash))
            return "invite_used"
        if person is None:
            person = str(uuid.uuid4())
            conn.execute(_NEW_PERSON, (person, name or login, "coordinator", now, None))
        conn.execute(
            "UPDATE people SET login = ?, password_hash = ? WHERE id = ?",
            (login, password_hash, person),
        )
        # ``node`` marks a spent invite as used, not withdrawn: here, the person's id.
        conn.execute(_SPEND, (now, person, code_hash))
        return person

    return await db.write_tx(run)


async def setup_state(db: AnyDatabase, code: str) -> str | None:
    """Why a setup code cannot be spent now (the error codes of ``setup_login``, but
    ``login_taken``), or None: read before the password is hashed, so a wrong code costs
    no argon2 (``setup_login`` checks again, in its transaction)."""
    rows = await db.select(_SETUP, (token_hash(normalise_code(code)),))
    return _unspendable(rows[0] if rows else None, iso_now())


async def first_run_code(db: AnyDatabase, *, ttl_hours: float = 72) -> str | None:
    """On a database where no coordinator can sign in yet (no login, no active device),
    a fresh single-use setup code for the first coordinator (every community), whose
    person is made when the code is spent; earlier unspent first-run codes stop working.
    None once someone can sign in."""
    now = datetime.now(UTC)

    def run(conn: Any) -> str | None:
        if conn.execute(_CAN_LOG_IN).fetchone() is not None:
            return None
        conn.execute(
            "UPDATE invites SET used_at = ? WHERE role = 'setup' AND person IS NULL "
            "AND used_at IS NULL",
            (iso_now(now),),
        )
        return _invite_in(conn, SETUP, None, now, ttl_hours)

    return await db.write_tx(run)


def _within_in(conn: Any, scope: Scope, person: str) -> bool:
    where, args = people_filter(scope, "p.id", conn.dialect)
    sql = f"SELECT 1 FROM people p WHERE p.id = ? AND {where}"
    return conn.execute(sql, (person, *args)).fetchone() is not None


async def within(db: AnyDatabase, scope: Scope, person: str) -> bool:
    """Whether ``person`` is one of the people ``scope``'s coordinator works with."""
    return await db.read_tx(lambda conn: _within_in(conn, scope, person))
