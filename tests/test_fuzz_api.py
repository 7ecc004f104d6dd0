"""Fuzz the HTTP API from its own OpenAPI description with schemathesis (a CI-sized run).

Every generated request, valid or not, must get an answer below 500, and every error
answer must be the one JSON shape ``{"error", "message", "details"}``. The sync, enrol and
login handlers read their raw body (each change is judged alone), so Litestar's generated
description has no request body for them; ``described_schema`` adds the bodies from the
msgspec Structs they decode. Endless SSE streams are left to tests/test_live*.py.
"""

from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest
import schemathesis
from conftest import db_for
from hypothesis import HealthCheck, settings
from litestar.testing import TestClient

from schemas.enroll import EnrollRequest
from schemas.ledger import LedgerUpload
from schemas.sync import SyncRequest
from server.guards.sessions import LoginRequest
from server.http.app import create_app
from server.ops.admin import create_invite

BODIES = {
    ("/api/v1/sync", "post"): SyncRequest,
    ("/api/v1/enroll", "post"): EnrollRequest,
    ("/api/v1/login", "post"): LoginRequest,
    ("/api/v1/ledger", "post"): LedgerUpload,
}


def described_schema() -> dict:
    """The app's OpenAPI document with the raw-body handlers' request bodies described."""
    app = create_app(db=str(Path("/nonexistent/never-opened.db")))  # no lifespan: no file
    raw = app.openapi_schema.to_schema()
    schemas, comps = msgspec.json.schema_components(
        list(BODIES.values()), ref_template="#/components/schemas/{name}"
    )
    raw.setdefault("components", {}).setdefault("schemas", {}).update(comps)
    for ((path, method), _), ref in zip(BODIES.items(), schemas, strict=True):
        raw["paths"][path][method]["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": ref}},
        }
    return raw


schema = schemathesis.openapi.from_dict(described_schema()).exclude(
    path_regex=r"/events$|/nudges$|/logout$"  # endless streams; logout revokes the fuzzer
)


@pytest.fixture(scope="module")
def fuzz_client(tmp_path_factory: pytest.TempPathFactory, backend: str) -> Iterator[TestClient]:
    db = db_for(str(tmp_path_factory.mktemp("fuzz") / "doorstep.db"))
    with TestClient(app=create_app(db=db)) as c:
        code, _ = create_invite(db, "coordinator", name="fuzz")
        token = c.post("/api/v1/enroll", json={"code": code}).json()["token"]
        c.headers["Authorization"] = f"Bearer {token}"
        yield c


@schema.parametrize()
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_request_gets_a_500_and_every_error_has_the_one_shape(case, fuzz_client) -> None:
    kwargs = case.as_transport_kwargs(base_url="http://testserver.local")
    kwargs.pop("url", None)
    headers = {
        k: v
        for k, v in (kwargs.pop("headers", None) or {}).items()
        if k.lower() not in ("user-agent",)
    }
    cookies = kwargs.pop("cookies", None) or {}
    if cookies:  # as a header: httpx deprecates per-request cookies=
        headers["cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
    r = fuzz_client.request(
        case.method,
        case.formatted_path,
        headers=headers,
        params=kwargs.pop("params", None),
        content=kwargs.pop("data", None) or kwargs.pop("content", None),
        json=kwargs.pop("json", None),
    )
    assert r.status_code < 500, (case.method, case.formatted_path, r.status_code, r.text)
    if r.status_code >= 400:
        assert r.headers["content-type"].startswith("application/json"), r.text
        body = r.json()
        assert set(body) == {"error", "message", "details"}, body
        assert isinstance(body["error"], str) and body["message"]
