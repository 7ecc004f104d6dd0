"""Every failure has one JSON shape and a 4xx status a client can act on; never a 500."""

import json

import pytest
from conftest import Phone, invite, query

SHAPE = {"error", "message", "details"}


@pytest.fixture(scope="module")
def client(shared_client):
    """One app for the module: each test enrolls its own phone and spends its own
    invites, so none sees another's state."""
    return shared_client


def assert_error(r, status: int, code: str) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert set(body) == SHAPE
    assert body["error"] == code
    assert isinstance(body["message"], str) and len(body["message"]) > 10
    assert "Traceback" not in r.text
    return body


def sync_body(phone: Phone, **over) -> dict:
    return {"node": phone.node, "cursor": 0, "changes": [], **over}


BAD_SYNC_BODIES = [
    ("not json", b"{nope", "invalid_json"),
    ("json array", b"[]", "invalid_request"),
    ("empty body", b"", "invalid_json"),
    ("cursor is a string", {"cursor": "0"}, "invalid_request"),
    ("negative cursor", {"cursor": -1}, "invalid_request"),
    ("changes not a list", {"changes": {"a": 1}}, "invalid_request"),
    ("unknown top-level key", {"filter": "all"}, "invalid_request"),
    ("limit zero", {"limit": 0}, "invalid_request"),
    ("limit too big", {"limit": 100000}, "invalid_request"),
]


@pytest.mark.parametrize(
    ("name", "body", "code"), BAD_SYNC_BODIES, ids=[b[0] for b in BAD_SYNC_BODIES]
)
def test_bad_sync_body_is_a_400_in_the_one_shape(phone: Phone, name: str, body, code: str) -> None:
    if isinstance(body, dict):
        body = json.dumps(sync_body(phone, **body)).encode()
    r = phone.client.post("/api/v1/sync", content=body, headers=phone.headers)
    assert_error(r, 400, code)


def test_missing_node_is_a_400(phone: Phone) -> None:
    r = phone.client.post("/api/v1/sync", json={"cursor": 0}, headers=phone.headers)
    assert_error(r, 400, "invalid_request")


@pytest.mark.parametrize(
    "header", [None, "Bearer", "Bearer ", "Basic abc", "Bearer not-a-real-token"]
)
def test_missing_or_wrong_token_is_a_401(phone: Phone, header: str | None) -> None:
    headers = {} if header is None else {"Authorization": header}
    r = phone.client.post("/api/v1/sync", json=sync_body(phone), headers=headers)
    assert_error(r, 401, "unauthorized")


def test_revoked_device_gets_401_with_an_instruction_to_wipe(client, phone: Phone) -> None:
    from server.ops.admin import revoke

    assert revoke(client.db_path, phone.node)
    body = assert_error(phone.sync(), 401, "revoked")
    assert body["details"] == {"wipe": True}


def test_too_many_changes_is_a_413_and_nothing_is_written(client, phone: Phone) -> None:
    change = {"coll": "visits", "id": "v", "field": "note", "value": "", "hlc": "x"}
    r = phone.sync([change] * 5001)
    assert_error(r, 413, "too_many_changes")
    held = "SELECT count(*) FROM quarantine WHERE node = ?"
    assert query(client.db_path, held, (phone.node,)) == [(0,)]


def test_oversize_body_is_a_413(phone: Phone) -> None:
    r = phone.client.post(
        "/api/v1/sync",
        content=b'{"node": "' + b"x" * (5 * 1024 * 1024) + b'"}',
        headers=phone.headers,
    )
    assert_error(r, 413, "body_too_large")


BAD_CHANGES = [
    ("not an object", 7, "malformed_change"),
    (
        "missing hlc",
        {"coll": "visits", "id": "v", "field": "note", "value": ""},
        "malformed_change",
    ),
    (
        "extra key",
        {"coll": "visits", "id": "v", "field": "note", "value": "", "hlc": "H", "x": 1},
        "malformed_change",
    ),
    (
        "hlc not a string",
        {"coll": "visits", "id": "v", "field": "note", "value": "", "hlc": 5},
        "malformed_change",
    ),
    (
        "malformed stamp",
        {"coll": "visits", "id": "v", "field": "note", "value": "", "hlc": "2026-11-22"},
        "malformed_stamp",
    ),
    (
        "unknown collection",
        {"coll": "nope", "id": "v", "field": "note", "value": "", "hlc": "H"},
        "unknown_collection",
    ),
    (
        "unknown field",
        {"coll": "visits", "id": "v", "field": "nope", "value": "", "hlc": "H"},
        "unknown_field",
    ),
    (
        "wrong type",
        {"coll": "visits", "id": "v", "field": "note", "value": 5, "hlc": "H"},
        "invalid_value",
    ),
    (
        "bad id",
        {"coll": "visits", "id": "a b", "field": "note", "value": "", "hlc": "H"},
        "invalid_id",
    ),
]


@pytest.mark.parametrize(("name", "change", "code"), BAD_CHANGES, ids=[b[0] for b in BAD_CHANGES])
def test_bad_change_is_answered_in_rejected_not_as_a_failed_request(
    phone: Phone, name: str, change, code: str
) -> None:
    from conftest import Stamper

    if isinstance(change, dict) and change.get("hlc") == "H":
        change = {**change, "hlc": Stamper(phone.node)()}
    r = phone.sync([change])
    assert r.status_code == 200
    [rej] = r.json()["rejected"]
    assert rej["error"] == code and rej["index"] == 0 and rej["message"]


def test_unknown_route_is_a_404_in_the_one_shape(client) -> None:
    assert_error(client.get("/api/v1/nothing-here"), 404, "not_found")


def test_wrong_method_is_a_405_in_the_one_shape(client) -> None:
    assert_error(client.get("/api/v1/sync"), 405, "method_not_allowed")


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b"nope", 400, "invalid_json"),
        (json.dumps({"code": ""}).encode(), 400, "invalid_request"),
        (json.dumps({"code": "ZZZZ-ZZZZ"}).encode(), 400, "invalid_unknown"),
    ],
)
def test_bad_enrolment_is_a_4xx(client, body: bytes, status: int, code: str) -> None:
    code = code.replace("invalid_unknown", "invite_unknown")
    assert_error(client.post("/api/v1/enroll", content=body), status, code)


def test_invite_code_is_single_use(client) -> None:
    code = invite(client.db_path)["code"]
    assert client.post("/api/v1/enroll", json={"code": code}).status_code == 200
    assert_error(client.post("/api/v1/enroll", json={"code": code}), 409, "invite_used")


def test_expired_invite_is_refused(client) -> None:
    code = invite(client.db_path, ttl_hours="-1")["code"]
    assert_error(client.post("/api/v1/enroll", json={"code": code}), 410, "invite_expired")


def test_invite_code_may_be_typed_in_lower_case_without_the_dash(client) -> None:
    code = invite(client.db_path)["code"]
    r = client.post("/api/v1/enroll", json={"code": code.replace("-", " ").lower()})
    assert r.status_code == 200


def test_unexpected_error_is_logged_and_answered_without_a_stack_trace(
    client, phone, monkeypatch, caplog, backend
) -> None:
    def boom(*a, **k):
        raise RuntimeError("disk on fire")

    from server.db import changes

    # The sync's write, inside its transaction on either engine (server.db.syncs).
    monkeypatch.setattr(changes, "apply_in", boom)
    r = phone.sync([])
    body = assert_error(r, 500, "internal")
    assert "disk on fire" not in r.text and "ref" in body["message"]
    assert any("unexpected error" in rec.message for rec in caplog.records)


def test_an_id_beyond_sqlite_integers_is_a_404_not_a_500(client) -> None:
    from conftest import enroll

    coord = enroll(client, client.db_path, role="coordinator")
    r = client.post("/api/v1/quarantine/9223372036854775808/resolve", headers=coord.headers)
    assert_error(r, 404, "no_quarantined")


def test_a_server_that_cannot_start_exits_instead_of_hanging(tmp_path) -> None:
    import subprocess
    import sys

    from conftest import ROOT, free_port

    not_a_db = tmp_path / "dir.db"
    not_a_db.mkdir()  # a directory where the database file should be
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "server.ops.cli",
            "serve",
            "--db",
            str(not_a_db),
            "--port",
            str(free_port()),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode != 0
