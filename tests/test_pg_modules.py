"""The data modules give the same answers on PostgreSQL as on SQLite (#14).

Differential tests over ``demo_twins``: the demo community in a SQLite file and the same
rows in PostgreSQL. Each test calls the public functions of a module with the same
arguments on ``Database(path)`` and ``PgDatabase(url)`` and compares the answers, then
writes through both the same way and compares what the reads show. Since issue 21 most
modules are one code for both engines (blocking functions of a ``Conn``): equal answers
show that their SQL, written once in SQLite's spelling, means the same on PostgreSQL.
"""

import asyncio
import random
import secrets
import threading
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from conftest import run_async

from server.access import Scope
from server.db import (
    changes,
    console,
    devices,
    export,
    history,
    log,
    meta,
    ops,
    people,
    push,
    quarantine,
    ratelimits,
    scopes,
    shares,
)
from server.db.postgresql.core import PgDatabase
from server.db.postgresql.dialect import RATE_LOCK
from server.db.sqlite.engine import Database

NODE = "0123456789abcdef"
AT = "2026-11-30T08:00:00.000Z"

Twins = tuple[Database, PgDatabase]


def _twins(demo_twins: tuple[str, str], scenario: Callable[[Twins], Awaitable[Any]]) -> Any:
    """Run ``scenario((sqlite, postgresql))`` with both databases open."""
    path, url = demo_twins

    async def main() -> Any:
        async with Database(path) as a, PgDatabase(url) as b:
            return await scenario((a, b))

    return run_async(main())


_rng = random.Random()


@pytest.fixture
def repeatable(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ids, codes and tokens drawn from one seeded generator, reset before each backend's
    call by ``same``: a write made on both databases makes the same ids on both."""
    monkeypatch.setattr(uuid, "uuid4", lambda: uuid.UUID(int=_rng.getrandbits(128), version=4))
    monkeypatch.setattr(secrets, "choice", lambda seq: seq[_rng.randrange(len(seq))])
    monkeypatch.setattr(secrets, "token_hex", lambda n=16: f"{_rng.getrandbits(8 * n):0{2 * n}x}")
    monkeypatch.setattr(secrets, "token_urlsafe", lambda n=32: f"t{_rng.getrandbits(8 * n):x}")


async def same(dbs: Twins, fn: Callable[..., Awaitable[Any]], *args: Any, **kw: Any) -> Any:
    """``fn(db, *args)`` on both databases; their answers (or the type and text of their
    exceptions) must be equal. Returns the answer."""
    out = []
    seed = _rng.random()  # the same for both backends, new for each call
    for db in dbs:
        _rng.seed(seed)
        try:
            out.append(await fn(db, *args, **kw))
        except Exception as exc:  # compared below
            out.append((type(exc), str(exc)))
    mine, theirs = out
    assert theirs == mine, f"{fn.__module__}.{fn.__name__}{args!r}"
    return mine


async def append(dbs: Twins, rows: list[tuple]) -> None:
    """The same accepted changes through the one write path, on each engine."""
    a = await dbs[0].write_tx(lambda conn: changes.apply_in(conn, rows), appends=True)
    b = await dbs[1].write_tx(lambda conn: changes.apply_in(conn, rows), appends=True)
    assert a == b


def change(n: int, coll: str, rid: str, field: str, value: str) -> tuple:
    # Later than any demo stamp, whatever hour the demo was made at.
    stamp = f"2099-01-01T00:00:{n:02d}.000Z-0000-{NODE}"
    return (stamp, coll, rid, field, value, NODE, None, AT)


async def _incidents(db: Database) -> list[str]:
    rows = await db.select("SELECT DISTINCT id FROM winners WHERE coll = 'incidents' ORDER BY id")
    return [r[0] for r in rows]


def test_the_live_tailers_reads_are_the_same_on_both(demo_twins: tuple[str, str]) -> None:
    async def scenario(dbs: Twins) -> None:
        top = await same(dbs, log.max_seq)
        assert top > 7000
        for after, limit, upto in ((0, 500, None), (100, 50, 120), (top - 5, 100, None)):
            await same(dbs, log.tail, after, limit, upto)
        # Every batch of the log touches the same incidents.
        for after in range(0, top, 400):
            rows = await log.tail(dbs[0], after, 400)
            await same(dbs, log.incidents_touched, rows)
        await same(dbs, log.active_incidents)
        await same(dbs, log.incident_scopes)
        incidents = await _incidents(dbs[0])
        assert len(incidents) >= 2
        for incident in [*incidents, "no-such-incident"]:
            await same(dbs, log.incident_inputs, incident)
            await same(dbs, log.checks_of, incident)
        assert (await log.incident_inputs(dbs[0], incidents[0])) is not None

        # Writes through both, then the reads that show them.
        inc = incidents[0]
        household = (await log.incident_inputs(dbs[0], inc)).households  # type: ignore[union-attr]
        hid = sorted(household)[0]
        await append(
            dbs,
            [
                change(1, "visits", "v-new", "incident", f'"{inc}"'),
                change(2, "visits", "v-new", "household", f'"{hid}"'),
                change(3, "visits", "v-new", "outcome", '"met"'),
                change(4, "household_status", f"{inc}~{hid}", "restored", "true"),
                change(5, "household_status", f"{inc}~{hid}", "needs_open.water", "true"),
                change(6, "checks", f"{inc}~c1", "resolved", '"ok"'),
                change(7, "incidents", "inc-new", "status", '"open"'),
                change(8, "incidents", "inc-new", "buildings", '["b-x"]'),
                change(9, "households", "h-new", "building", '"b-x"'),
                change(10, "updates", "u-new", "incident", '"inc-new"'),
                change(11, "updates", "u-new", "text", '"水已恢复"'),
                change(12, "incidents", incidents[1], "status", '"closed"'),
            ],
        )
        new_top = await same(dbs, log.max_seq)
        assert new_top == top + 12
        rows = await same(dbs, log.tail, top, 100)
        assert len(rows) == 12
        touched = await same(dbs, log.incidents_touched, rows)
        assert {inc, "inc-new"} <= touched
        active = await same(dbs, log.active_incidents)
        assert "inc-new" in active and incidents[1] not in active
        await same(dbs, log.incident_scopes)
        for incident in (inc, "inc-new", incidents[1]):
            got = await same(dbs, log.incident_inputs, incident)
            assert got.seq == new_top
        statuses = (await log.incident_inputs(dbs[1], inc)).statuses  # type: ignore[union-attr]
        assert statuses[f"{inc}~{hid}"]["restored"] is True
        assert (await same(dbs, log.checks_of, inc)) == {f"{inc}~c1": {"resolved": "ok"}}

        # The one function that runs inside a caller's transaction, on both engines.
        theirs = await dbs[1].read_tx(log.incident_scopes_in)
        assert theirs == await dbs[0].read_tx(log.incident_scopes_in)

    _twins(demo_twins, scenario)


async def _community_of_buildings(db: Database) -> dict[str, list[str]]:
    rows = await db.select(
        "SELECT id, value FROM winners WHERE coll = 'buildings' AND field = 'community' ORDER BY id"
    )
    out: dict[str, list[str]] = {}
    for bid, community in rows:
        out.setdefault(community.strip('"'), []).append(bid)
    return out


def test_people_devices_and_meta_are_the_same_on_both(
    demo_twins: tuple[str, str], repeatable: None
) -> None:
    async def scenario(dbs: Twins) -> None:
        communities = await _community_of_buildings(dbs[0])
        (c1, b1s), (c2, _) = sorted(communities.items())[:2]

        # People: invites for new and existing people, coordinators with a login.
        code_a, pa = await same(dbs, people.create_invite, "volunteer", name="王芳")
        code_b, pb = await same(dbs, people.create_invite, "volunteer", name="")
        code_a2, _ = await same(dbs, people.create_invite, "volunteer", person=pa)
        code_old, _ = await same(dbs, people.create_invite, "volunteer", person=pb, ttl_hours=-1)
        assert await same(dbs, people.create_invite, "volunteer", person="nobody") == (
            LookupError,
            "no person nobody",
        )
        pc = await same(dbs, people.add_coordinator, "li", "h1", name="李", community=c1)
        pd = await same(dbs, people.add_coordinator, "zhao", "h2", name="赵", community=c2)
        pe = await same(dbs, people.add_coordinator, "chen", "h3", name="陈", community=None)
        taken = await same(dbs, people.add_coordinator, "li", "h4", name="x", community=None)
        assert taken == (LookupError, "login 'li' is taken")
        for person in (pa, pb, pc, pe, "nobody"):
            await same(dbs, people.name_of, person)
            await same(dbs, people.exists, person)
            await same(dbs, people.community_of, person)
        for login in ("li", "chen", "nobody"):
            await same(dbs, people.for_login, login)

        # Enrolment: each outcome of a code, on both (invites expire by the wall clock).
        # Each device enrols at its own time: the listings sort by it, and neither
        # backend promises an order among equal times.
        start = datetime.now(UTC)
        now, now2, now3 = (changes.iso_now(start + timedelta(seconds=i)) for i in range(3))
        token_a, dev_a = await same(dbs, devices.enroll, code_a, "Redmi 9A", now)
        assert await same(dbs, devices.enroll, code_a.lower(), "again", now) == "invite_used"
        assert await same(dbs, devices.enroll, "ZZZZ-ZZZZ", "x", now) == "invite_unknown"
        assert await same(dbs, devices.enroll, code_old, "x", now) == "invite_expired"
        token_a2, dev_a2 = await same(dbs, devices.enroll, code_a2, "second phone", now2)
        token_b, dev_b = await same(dbs, devices.enroll, code_b, "Honor", now3)
        await same(dbs, devices.add_session, "s1", "tok-s1", pc, "Firefox", AT, "2099-01-01")
        await same(
            dbs, devices.add_session, "s2", "tok-s2", pe, "Chrome", "2026-01-01", "2000-01-01"
        )

        # A's assignment to a building of community 1 puts A with its coordinators.
        await append(dbs, [change(1, "assignments", f"{pa}~{b1s[0]}", "active", "true")])

        c1_scope = await dbs[0].read_tx(lambda c: scopes.compute_scope(c, pc, "coordinator"))
        c2_scope = await dbs[0].read_tx(lambda c: scopes.compute_scope(c, pd, "coordinator"))
        everyone = await dbs[0].read_tx(lambda c: scopes.compute_scope(c, pe, "coordinator"))
        assert c1_scope == await dbs[1].read_tx(
            lambda c: scopes.compute_scope(c, pc, "coordinator")
        )
        assert everyone.unlimited and not c1_scope.unlimited
        for scope in (c1_scope, c2_scope, everyone):
            listed = await same(dbs, people.listing, scope)
            await same(dbs, devices.listing, scope)
            await same(dbs, devices.listing, scope, 2)
            for node in (dev_a.node, dev_b.node, "s1", "nobody"):
                await same(dbs, devices.revoked_at, node, scope)
        assert pa in {r[0] for r in await people.listing(dbs[1], c1_scope)}
        assert pa not in {r[0] for r in await people.listing(dbs[1], c2_scope)}
        assert pb in {r[0] for r in listed}  # unattached: in every coordinator's pool
        await same(dbs, devices.listing)

        for token in (token_a, token_a2, token_b, "tok-s1", "nope"):
            await same(dbs, devices.for_token, token)
            await same(dbs, devices.for_session, token)
        for node in (dev_a.node, "s1", "nobody"):
            await same(dbs, devices.session_info, node)
        nodes = [dev_a.node, dev_a2.node, dev_b.node, "s1", "s2", "nobody"]
        assert await same(dbs, devices.invalid_among, nodes, AT) == {"s2", "nobody"}
        assert await same(dbs, devices.invalid_among, [], AT) == set()

        # Revocation, then the reads that show it.
        assert await same(dbs, devices.revoke, dev_a.node, AT) is True
        assert await same(dbs, devices.revoke, dev_a.node, AT) is False
        assert await same(dbs, devices.revoke, "nobody", AT) is False
        assert (await same(dbs, devices.for_token, token_a)).revoked
        assert await same(dbs, devices.revoked_at, dev_a.node) == (True, AT)
        assert dev_a.node in await same(dbs, devices.invalid_among, nodes, AT)
        assert await same(dbs, devices.everything)
        for scope in (c1_scope, everyone):
            await same(dbs, people.listing, scope)
            await same(dbs, devices.listing, scope)

        # Meta: named values, a claim that only the first wins, the server's node.
        assert await same(dbs, meta.get, "nothing") is None
        await same(dbs, meta.set, "demo_loaded", "1")
        await same(dbs, meta.set, "demo_loaded", "2")
        assert await same(dbs, meta.get, "demo_loaded") == "2"
        assert await same(dbs, meta.claim, "push_key", "first") == "first"
        assert await same(dbs, meta.claim, "push_key", "second") == "first"
        node = await same(dbs, meta.server_node)
        assert await same(dbs, meta.server_node) == node

        def inside(conn: Any) -> tuple[Any, ...]:
            meta.set_in(conn, "k_in", "v")
            return meta.get_in(conn, "k_in"), meta.get_in(conn, "none"), meta.server_node_in(conn)

        assert await same(dbs, lambda db: db.write_tx(inside)) == ("v", None, node)

    _twins(demo_twins, scenario)


LIMITS = [("login", 3, 60.0), ("login-day", 5, 3600.0)]


def test_rate_limits_refuse_at_the_same_request_on_both(demo_twins: tuple[str, str]) -> None:
    async def scenario(dbs: Twins) -> None:
        t0 = 1_764_489_600.25  # float seconds, as time.time() gives them
        tickets = []
        for i in range(4):
            now = t0 + i * 0.5
            assert await same(dbs, ratelimits.quiet, LIMITS, now) == (
                ["login", "login-day"] if i == 0 else ["login-day"]
            )
            await same(dbs, ratelimits.exhausted, "1.2.3.4", LIMITS, now)
            got = await same(dbs, ratelimits.begin, "1.2.3.4", LIMITS, [True, False], now)
            tickets.append(got)
        # The fourth attempt within the minute is refused, from the first one's time.
        assert tickets[3] == (0, t0)
        assert all(isinstance(t, list) and t[1] is None for t in tickets[:3])
        assert await same(dbs, ratelimits.exhausted, "1.2.3.4", LIMITS, t0 + 2) == (0, t0)
        # Another client is not limited by the first.
        assert await same(dbs, ratelimits.exhausted, "5.6.7.8", LIMITS, t0 + 2) is None
        # A give-back frees a slot; the day rule counts at the answer.
        give = [tickets[0][0]]
        await same(dbs, ratelimits.settle, "1.2.3.4", ["login-day"], give, t0 + 2)
        assert await same(dbs, ratelimits.exhausted, "1.2.3.4", LIMITS, t0 + 2) is None
        assert await same(dbs, ratelimits.quiet, LIMITS, t0 + 2) == []
        await same(dbs, ratelimits.settle, "1.2.3.4", ["login-day"] * 4, [], t0 + 3)
        assert await same(dbs, ratelimits.exhausted, "1.2.3.4", LIMITS, t0 + 3) == (1, t0 + 2)
        got = await same(dbs, ratelimits.begin, "1.2.3.4", LIMITS, [True, False], t0 + 3)
        assert got == (1, t0 + 2)
        # A minute later the first rule's window is empty again; the day's is not.
        assert await same(dbs, ratelimits.quiet, LIMITS, t0 + 63) == ["login"]
        # A prune removes what is older than the longest window, on both.
        await same(dbs, ratelimits.settle, "9.9.9.9", [], [], t0 + 4000, t0 + 4000 - 3600)
        assert await same(dbs, ratelimits.quiet, LIMITS, t0 + 4000) == ["login", "login-day"]
        # Tickets are opaque: SQLite hands out the rowids of deleted rows again, a
        # PostgreSQL identity never does; what matters is that each one gives back.
        for db in dbs:
            got = await ratelimits.begin(db, "1.2.3.4", LIMITS, [True, True], t0 + 4000, t0)
            assert isinstance(got, list) and len(set(got)) == 2 and None not in got
            await ratelimits.settle(db, "1.2.3.4", [], got, t0 + 4000)
        assert await same(dbs, ratelimits.quiet, LIMITS, t0 + 4000) == ["login", "login-day"]
        assert await same(dbs, ratelimits.exhausted, "1.2.3.4", [], t0) is None

    _twins(demo_twins, scenario)


def test_concurrent_attempts_on_three_servers_never_pass_the_limit(pg_url: str) -> None:
    # 30 attempts at once over three pools (three app servers): exactly the limit passes.
    limits = [("enroll", 5, 60.0)]

    async def main() -> list[Any]:
        async with (
            PgDatabase(pg_url) as one,
            PgDatabase(pg_url) as two,
            PgDatabase(pg_url) as three,
        ):
            servers = (one, two, three)

            async def attempt(i: int) -> Any:
                db = servers[i % 3]
                return await ratelimits.begin(db, "10.0.0.1", limits, [True], 1000.0 + i / 100)

            return await asyncio.gather(*(attempt(i) for i in range(30)))

    for _ in range(3):
        got = run_async(main())
        passed = [g for g in got if isinstance(g, list)]
        assert len(passed) == 5, got
        assert all(isinstance(g, tuple) and g[0] == 0 for g in got if g not in passed)
        limits = [(f"{limits[0][0]}x", 5, 60.0)]  # a fresh rule for the next round


def test_an_attempt_waits_for_the_one_counting_before_it(pg_url: str) -> None:
    # Deterministic, no timing: a transaction holding (rule, client)'s lock takes the
    # last slot; the concurrent attempt waits for it and then sees the limit reached.
    limits = [("enroll", 1, 60.0)]

    async def main() -> tuple[Any, Any]:
        async with PgDatabase(pg_url) as one, PgDatabase(pg_url) as two:
            first_in = threading.Event()
            release = threading.Event()

            def first(conn: Any) -> None:
                conn.dialect.rate_lock_in(conn, "c", ["enroll"])
                conn.execute(
                    "INSERT INTO rate_hits (rule, client, at) VALUES ('enroll', 'c', 1000.0)"
                )
                first_in.set()
                release.wait(60)

            holder = asyncio.create_task(one.write_tx(first))
            await asyncio.to_thread(first_in.wait, 60)
            second = asyncio.create_task(ratelimits.begin(two, "c", limits, [True], 1000.5))
            while not await one.select(
                "SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
                "AND classid = ?::oid",
                (RATE_LOCK,),
            ):
                await asyncio.sleep(0.01)
            waiting = not second.done()
            release.set()
            await holder
            return waiting, await second

    waiting, got = run_async(main())
    assert waiting
    assert got == (0, 1000.0)


def test_console_export_and_the_small_modules_are_the_same_on_both(
    demo_twins: tuple[str, str], repeatable: None
) -> None:
    async def scenario(dbs: Twins) -> None:
        incidents = await _incidents(dbs[0])
        inc = incidents[0]
        communities = sorted(await _community_of_buildings(dbs[0]))

        # Volunteers with devices that report pending changes: the console's roster.
        code_a, pa = await same(dbs, people.create_invite, "volunteer", name="王芳")
        code_b, pb = await same(dbs, people.create_invite, "volunteer", name="")
        pc = await same(dbs, people.add_coordinator, "li", "h", name="李", community=communities[0])
        now = changes.iso_now()
        _, dev_a = await same(dbs, devices.enroll, code_a, "Redmi", now)
        _, dev_b = await same(dbs, devices.enroll, code_b, "Honor", now)
        for db in dbs:
            for node, pending in ((dev_a.node, 3), (dev_b.node, 4)):
                await db.execute(
                    "UPDATE devices SET pending = ?, pending_at = ? WHERE node = ?",
                    (pending, AT, node),
                )
        everyone = Scope(pc, "coordinator", None, None, None)
        for community in (communities[0], "no-such-community"):
            limited = Scope(pc, "coordinator", frozenset(), frozenset(), frozenset(), community)
            await same(dbs, console.roster, limited)
        rows = await same(dbs, console.roster, everyone)
        assert [r[4] for r in rows] == [4, 3]  # sums are integers on both

        # A visit by a known volunteer, a change that loses to a newer one, a public link.
        hid = sorted((await log.incident_inputs(dbs[0], inc)).households)[0]  # type: ignore[union-attr]
        await append(
            dbs,
            [
                _by(pa, change(20, "visits", "v-pa", "incident", f'"{inc}"')),
                _by(pa, change(21, "visits", "v-pa", "household", f'"{hid}"')),
                _by(pa, change(22, "visits", "v-pa", "at", f'"{AT}"')),
                change(24, "incidents", inc, "status", '"restored"'),
                change(23, "incidents", inc, "status", '"repairing"'),  # older: loses
                change(25, "incidents", inc, f"restored_buildings.{hid}", "true"),
            ],
        )
        for incident in [*incidents, "no-such-incident"]:
            await same(dbs, console.brief_rows, incident)
            await same(dbs, export.tables, incident)
        tables = await export.tables(dbs[1], inc)
        assert tables is not None
        assert [v["recorded_by"] for v in tables["visits"] if v["id"] == "v-pa"] == ["王芳"]
        await same(dbs, console.incident_names, None)
        await same(dbs, console.incident_names, frozenset([inc, "no-such-incident"]))
        assert await same(dbs, console.incident_names, frozenset()) == []
        rows = await same(dbs, history.of_record, "incidents", inc, 100)
        assert {r[8] for r in rows if r[1] == "status"} == {0, 1}
        await same(dbs, history.of_record, "incidents", inc, 2)
        await same(dbs, history.of_record, "visits", "v-pa", 100)

        # Residents' links.
        assert await same(dbs, shares.of_incident, inc) is None
        await same(dbs, shares.add, "tok-1", inc, pc, AT)
        await same(dbs, shares.add, "tok-0", inc, None, "2026-11-30T07:00:00.000Z")
        assert await same(dbs, shares.of_incident, inc) == "tok-0"
        assert await same(dbs, shares.incident_of, "tok-1") == inc
        assert await same(dbs, shares.incident_of, "nope") is None
        assert await same(dbs, shares.incident_exists, inc) is True
        assert await same(dbs, shares.incident_exists, "no-such-incident") is False

        # Push subscriptions and the one-sender claim.
        sub = push.PushSub("https://push.example/1", "p256", "auth")
        await same(dbs, push.add, inc, sub, AT)
        await same(dbs, push.add, inc, push.PushSub("https://push.example/2", "k", "a"), AT)
        await same(dbs, push.failed, sub.endpoint, False)
        await same(dbs, push.add, inc, sub, AT)  # a re-subscription resets failures
        # In no particular order on either backend.
        for db in dbs:
            assert sorted(await push.subs(db, inc), key=repr) == sorted(
                [sub, push.PushSub("https://push.example/2", "k", "a")], key=repr
            )
        assert await same(dbs, push.claim, "k1", inc, AT) is True
        assert await same(dbs, push.claim, "k1", inc, AT) is False
        assert await same(dbs, push.remove, sub.endpoint, "other-incident") is False
        assert await same(dbs, push.remove, sub.endpoint, inc) is True
        assert await same(dbs, push.remove, sub.endpoint) is False
        await same(dbs, push.failed, "https://push.example/2", True)
        assert await same(dbs, push.subs, inc) == []

        # The quarantine, and the operator's health figures that count it.
        await same(dbs, ops.health)
        for db in dbs:
            for qid, person, coll, rid in (
                (1, pa, "visits", "v-pa"),
                (2, pb, "households", hid),
                (3, None, "visits", "v-unknown"),
                (4, "someone-else", "incidents", inc),
            ):
                await db.execute(
                    "INSERT INTO quarantine (qid, hlc, node, person, coll, id, field, raw, "
                    "error, message, received_at) VALUES (?, ?, ?, ?, ?, ?, 'note', '\"x\"', "
                    "'bad_value', 'a message', ?)",
                    (qid, f"hlc{qid}", NODE, person, coll, rid, AT),
                )
        assert (await same(dbs, ops.health))[0] == 4
        c1 = await dbs[0].read_tx(lambda c: scopes.compute_scope(c, pc, "coordinator"))
        vol = await dbs[0].read_tx(lambda c: scopes.compute_scope(c, pa, "volunteer"))
        for scope in (None, c1, vol):
            for include in (False, True):
                await same(dbs, quarantine.listing, 100, include, scope)
            await same(dbs, quarantine.listing, 2, True, scope)
        assert await same(dbs, quarantine.resolve, 3, AT, c1) is False  # not within
        assert await same(dbs, quarantine.resolve, 2, AT, c1) is True
        assert await same(dbs, quarantine.resolve, 2, AT, c1) is False  # already
        assert await same(dbs, quarantine.resolve, 99, AT) is False
        assert await same(dbs, quarantine.resolve, 3, AT) is True
        for include in (False, True):
            await same(dbs, quarantine.listing, 100, include, c1)
        seen = {r[0] for r in await quarantine.listing(dbs[1], 100, True, c1)}
        assert {1, 2} <= seen and 3 not in seen
        await same(dbs, meta.set, "last_backup_at", AT)
        assert await same(dbs, ops.health) == (2, AT, await log.max_seq(dbs[0]))

    _twins(demo_twins, scenario)


def _by(person: str, row: tuple) -> tuple:
    """A change as ``person`` made it."""
    return (*row[:6], person, row[7])


def test_one_invite_enrols_one_device_when_two_servers_spend_it_at_once(
    pg_url: str,
) -> None:
    # A double tap reaching two app servers: READ COMMITTED alone would let both read
    # the invite unused; the row lock lets exactly one enrol.
    async def main() -> list[Any]:
        async with PgDatabase(pg_url) as one, PgDatabase(pg_url) as two:
            codes = [
                (await people.create_invite(one, "volunteer", name=f"v{i}"))[0] for i in range(5)
            ]
            now = changes.iso_now()
            tries = [
                devices.enroll(db, code, "phone", now)
                for code in codes
                for db in (one, two, one, two)
            ]
            got = await asyncio.gather(*tries)
            count = await one.select("SELECT count(*) FROM devices")
            return [got, count[0][0]]

    got, count = run_async(main())
    per_code = [got[i : i + 4] for i in range(0, len(got), 4)]
    for attempts in per_code:
        assert sum(isinstance(a, tuple) for a in attempts) == 1, attempts
        assert sorted(a for a in attempts if isinstance(a, str)) == ["invite_used"] * 3
    assert count == 5
