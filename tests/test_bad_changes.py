"""One bad change is rejected and quarantined alone; the rest of its batch is applied
(#9, hole 5). Sent as raw bytes to a real server process."""

import json

import httpx
import pytest
from conftest import LiveServer, Phone, Stamper

from sync.ids import uuid7


def _change(stamp: Stamper, rid: str, value: str) -> bytes:
    """A households.notes change with ``value`` spliced in as raw JSON text."""
    head = json.dumps({"coll": "households", "id": rid, "field": "notes", "hlc": stamp()})
    return head[:-1].encode() + b', "value": ' + value.encode("utf-8", "surrogatepass") + b"}"


def _post(server: LiveServer, phone: Phone, changes: list[bytes], cursor: str = "0"):
    body = (
        b'{"node": "'
        + phone.node.encode()
        + b'", "cursor": '
        + cursor.encode()
        + b', "changes": ['
        + b", ".join(changes)
        + b"]}"
    )
    return httpx.post(
        f"{server.url}/api/v1/sync",
        content=body,
        headers={**phone.headers, "Content-Type": "application/json"},
        timeout=30,
    )


def _notes(server: LiveServer, rid: str) -> list[str]:
    return [
        json.loads(v)
        for (v,) in server.query(
            "SELECT value FROM winners WHERE coll = 'households' AND id = ? AND field = 'notes'",
            (rid,),
        )
    ]


@pytest.fixture(scope="module")
def empty_server(module_empty_server: LiveServer) -> LiveServer:
    """One empty server for the module: each test uses its own devices and ids."""
    return module_empty_server


BAD_VALUES = {
    "invalid utf-8 byte": '"caf\udcff"',  # surrogateescape of byte 0xFF: raw 0xFF on the wire
    "lone surrogate": '"\\ud83d"',
    "nested 1000 levels": "[" * 1000 + "]" * 1000,
}


@pytest.mark.parametrize("kind", sorted(BAD_VALUES))
def test_rejected_change_does_not_block_the_batch(empty_server: LiveServer, kind: str) -> None:
    phone = empty_server.enroll("coordinator", "街道办")
    stamp = Stamper(phone.node)
    good_1, bad, good_2 = uuid7(), uuid7(), uuid7()
    value = BAD_VALUES[kind]
    raw = (
        value.encode("utf-8", "surrogateescape") if kind == "invalid utf-8 byte" else value.encode()
    )
    head = json.dumps({"coll": "households", "id": bad, "field": "notes", "hlc": stamp()})
    bad_change = head[:-1].encode() + b', "value": ' + raw + b"}"
    r = _post(
        empty_server,
        phone,
        [_change(stamp, good_1, '"first"'), bad_change, _change(stamp, good_2, '"second"')],
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["accepted"] == 2
    assert [x["index"] for x in body["rejected"]] == [1]
    assert _notes(empty_server, good_1) == ["first"] and _notes(empty_server, good_2) == ["second"]
    assert _notes(empty_server, bad) == []
    [(n,)] = empty_server.query("SELECT count(*) FROM quarantine WHERE node = ?", (phone.node,))
    assert n == 1


def test_an_id_with_a_newline_is_rejected_alone(empty_server: LiveServer) -> None:
    phone = empty_server.enroll("coordinator", "街道办")
    stamp = Stamper(phone.node)
    good = uuid7()
    r = _post(
        empty_server,
        phone,
        [_change(stamp, good, '"ok"'), _change(stamp, uuid7() + "\n", '"bad"')],
    )
    assert r.status_code == 200, r.text
    assert [(x["index"], x["error"]) for x in r.json()["rejected"]] == [(1, "invalid_id")]
    assert _notes(empty_server, good) == ["ok"]


def test_a_cursor_beyond_sqlite_integers_is_a_400_and_saves_nothing(
    empty_server: LiveServer,
) -> None:
    phone = empty_server.enroll("coordinator", "街道办")
    stamp = Stamper(phone.node)
    rid = uuid7()
    r = _post(empty_server, phone, [_change(stamp, rid, '"x"')], cursor=str(2**63))
    assert r.status_code == 400, r.text
    assert r.json()["error"] == "invalid_request"
    assert _notes(empty_server, rid) == []
