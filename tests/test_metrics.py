"""``/metrics`` against real server processes: what it counts, and who may read it."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from conftest import LiveServer, Stamper, run_cli
from httpx_sse import connect_sse
from prometheus_client.parser import text_string_to_metric_families

from sync.ids import uuid7


def scrape(server: LiveServer, **headers: str) -> dict[tuple[str, tuple], float]:
    r = httpx.get(f"{server.url}/metrics", headers=headers)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain")
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(r.text)
        for s in family.samples
    }


def test_metrics_count_syncs_changes_rejections_and_streams(
    empty_server: LiveServer, tmp_path: Path, backend: str
) -> None:
    server = empty_server
    coordinator = server.enroll(role="coordinator", name="值班")
    phone = server.enroll()
    stamp = Stamper(phone.node)
    before = scrape(server)
    assert before[("doorstep_backup_age_seconds", ())] == -1
    good = {"coll": "visits", "id": uuid7(), "field": "outcome", "value": "reached"}
    bad = {**good, "field": "no_such_field"}
    r = phone.sync([{**good, "hlc": stamp()}, {**bad, "hlc": stamp()}])
    assert r.status_code == 200 and len(r.json()["rejected"]) == 1
    code = r.json()["rejected"][0]["error"]
    assert phone.sync(cursor=0, limit=0).status_code == 400
    run_cli("backup", "--db", server.db_path, "--out", str(tmp_path / "b"))
    with (
        httpx.Client(base_url=server.url, timeout=20) as client,
        connect_sse(client, "GET", "/api/v1/events", headers=coordinator.headers) as source,
    ):
        events = source.iter_sse()  # kept: a dropped generator would close the stream
        next(events)  # the stream is open (retry frame)
        after = scrape(server)
    d = lambda name, **labels: (  # noqa: E731
        after.get((name, tuple(sorted(labels.items()))), 0)
        - before.get((name, tuple(sorted(labels.items()))), 0)
    )
    assert d("doorstep_sync_requests_total", outcome="ok") == 1
    assert d("doorstep_sync_requests_total", outcome="invalid_request") == 1
    assert d("doorstep_sync_changes_total", outcome="accepted") == 1
    assert d("doorstep_sync_changes_total", outcome="rejected") == 1
    assert d("doorstep_rejections_total", code=code) == 1
    q = ("doorstep_quarantine_open", ())
    assert after[q] == before[q] + 1
    assert after[("doorstep_open_streams", (("kind", "coordinator"),))] == 1
    assert after[("doorstep_database_bytes", ())] > 0
    if backend == "sqlite":  # PostgreSQL's disk is the database server's, watched there
        assert after[("doorstep_disk_free_bytes", ())] > 0
    assert 0 <= after[("doorstep_backup_age_seconds", ())] < 3600
    assert ("doorstep_tailer_lag", ()) in after


@pytest.mark.parametrize(
    "headers",
    [{"X-Forwarded-For": "203.0.113.9"}, {"Forwarded": "for=203.0.113.9"}],
)
def test_metrics_are_closed_to_requests_that_came_through_a_proxy(
    empty_server: LiveServer, headers: dict
) -> None:
    r = httpx.get(f"{empty_server.url}/metrics", headers=headers)
    assert r.status_code == 404
    assert r.json()["error"] == "not_found"
    assert "doorstep_" not in r.text


def test_with_a_metrics_token_only_its_bearer_may_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, backend: str
) -> None:
    monkeypatch.setenv("DOORSTEP_METRICS_TOKEN", "s3cret-metrics-token")
    server = LiveServer(str(tmp_path / "m.db")).start()
    try:
        assert httpx.get(f"{server.url}/metrics").status_code == 404
        wrong = {"Authorization": "Bearer nope"}
        assert httpx.get(f"{server.url}/metrics", headers=wrong).status_code == 404
        ok = scrape(server, Authorization="Bearer s3cret-metrics-token")
        assert ("doorstep_disk_free_bytes", ()) in ok
    finally:
        server.stop()


@pytest.mark.sqlite_only(reason="the low-disk watch is of the SQLite file's disk")
def test_low_disk_warns_the_coordinator_console(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Any real disk is "low" against an exabyte threshold.
    monkeypatch.setenv("DOORSTEP_LOW_DISK_BYTES", str(10**18))
    monkeypatch.setenv("DOORSTEP_DISK_CHECK_SECONDS", "0.2")
    server = LiveServer(str(tmp_path / "low.db")).start()
    try:
        coordinator = server.enroll(role="coordinator", name="值班")
        with (
            httpx.Client(base_url=server.url, timeout=20) as client,
            connect_sse(client, "GET", "/api/v1/events", headers=coordinator.headers) as source,
        ):
            for ev in source.iter_sse():
                if ev.event == "warning":
                    data = json.loads(ev.data)
                    assert data["type"] == "warning" and data["code"] == "low_disk"
                    assert data["free_mb"] >= 0
                    assert not ev.id  # not part of the change log: no resume id
                    break
        assert scrape(server)[("doorstep_disk_low", ())] == 1
    finally:
        server.stop()
