"""Web Push end to end: a push service inside the test receives the notification, checks
the VAPID signature and decrypts the payload (RFC 8291) with the subscription's keys."""

import base64
import json
import queue
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import http_ece
import httpx
import pytest
from conftest import LiveServer, Phone, Stamper, free_port, load_demo
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from server.ops.demo import HEATING
from sync.ids import uuid7


def b64d(s: str) -> bytes:
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def b64e(b: bytes) -> str:
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


class PushService:
    """A local push service: records every POST it gets."""

    def __init__(self) -> None:
        self.port = free_port()
        self.got: queue.Queue[tuple[str, dict[str, str], bytes]] = queue.Queue()
        got = self.got

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                got.put((self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(201)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def next(self, timeout: float = 20.0) -> tuple[str, dict[str, str], bytes]:
        try:
            return self.got.get(timeout=timeout)
        except queue.Empty:
            pytest.fail("no push arrived")

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class Browser:
    """What a browser keeps for one push subscription: its ECDH key pair and auth secret."""

    def __init__(self, endpoint: str) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.auth = b"0123456789abcdef"
        point = self.key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        self.subscription = {
            "endpoint": endpoint,
            "expirationTime": None,
            "keys": {"p256dh": b64e(point), "auth": b64e(self.auth)},
        }

    def decrypt(self, body: bytes) -> dict:
        plain = http_ece.decrypt(
            body, private_key=self.key, auth_secret=self.auth, version="aes128gcm"
        )
        return json.loads(plain)


@pytest.fixture
def push_service() -> Iterator[PushService]:
    service = PushService()
    try:
        yield service
    finally:
        service.close()


@pytest.fixture
def server(tmp_path, monkeypatch, push_service: PushService, backend: str) -> Iterator[LiveServer]:
    monkeypatch.setenv("DOORSTEP_PUSH_HOSTS", f"127.0.0.1:{push_service.port}")
    db = str(tmp_path / "push.db")
    load_demo(db)
    s = LiveServer(db).start()
    try:
        yield s
    finally:
        s.stop()


def post_update(coord: Phone, stamp: Stamper, text: str, public: bool = True) -> None:
    at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    fields = {"incident": HEATING, "at": at, "text": text, "public": public}
    uid = uuid7()
    r = coord.sync(
        [
            {"coll": "updates", "id": uid, "field": f, "value": v, "hlc": stamp()}
            for f, v in fields.items()
        ]
    )
    assert r.status_code == 200 and r.json()["rejected"] == [], r.text


def verify_vapid(headers: dict[str, str], server_key: str, audience: str) -> dict:
    """Check the VAPID JWT (RFC 8292) is signed by the server's key; returns its claims."""
    scheme, _, params = headers["authorization"].partition(" ")
    assert scheme == "vapid"
    fields = dict(p.strip().split("=", 1) for p in params.split(","))
    assert fields["k"] == server_key
    head, claims, sig = fields["t"].split(".")
    raw = b64d(sig)
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b64d(server_key))
    public.verify(der, f"{head}.{claims}".encode(), ec.ECDSA(hashes.SHA256()))
    body = json.loads(b64d(claims))
    assert body["aud"] == audience and body["exp"] > time.time()
    return body


def subscribe(server: LiveServer, push_service: PushService) -> tuple[Phone, str, str, Browser]:
    coord = server.enroll("coordinator", "主任")
    r = httpx.post(f"{server.url}/api/v1/incidents/{HEATING}/share", headers=coord.headers)
    token = r.json()["token"]
    key = httpx.get(f"{server.url}/api/v1/public/{token}").json()["push_key"]
    assert len(b64d(key)) == 65  # an uncompressed P-256 point
    browser = Browser(f"http://127.0.0.1:{push_service.port}/push/{uuid7()}")
    r = httpx.post(f"{server.url}/api/v1/public/{token}/push", json=browser.subscription)
    assert r.status_code == 201, r.text
    return coord, token, key, browser


def test_a_public_update_reaches_the_push_service_signed_and_encrypted(
    server: LiveServer, push_service: PushService
) -> None:
    coord, token, key, browser = subscribe(server, push_service)
    stamp = Stamper(coord.node)
    post_update(coord, stamp, "内部：调拨电暖气40台", public=False)
    post_update(coord, stamp, "第二处漏点焊接完成，今晚恢复供暖。")

    path, headers, body = push_service.next()
    assert path == browser.subscription["endpoint"].split(str(push_service.port))[1]
    assert headers["content-encoding"] == "aes128gcm"
    assert int(headers["ttl"]) > 0
    verify_vapid(headers, key, f"http://127.0.0.1:{push_service.port}")
    payload = browser.decrypt(body)
    assert payload["kind"] == "update"
    assert payload["text"] == "第二处漏点焊接完成，今晚恢复供暖。"
    assert payload["url"] == f"{server.url}/r/{token}"
    assert "内部" not in json.dumps(payload, ensure_ascii=False)

    # A status change is news too; the internal update above never was.
    r = coord.sync(
        [
            {
                "coll": "incidents",
                "id": HEATING,
                "field": "status",
                "value": "restored",
                "hlc": stamp(),
            }
        ]
    )
    assert r.status_code == 200
    payload = browser.decrypt(push_service.next()[2])
    assert (payload["kind"], payload["status"]) == ("status", "restored")
    assert push_service.got.empty()


def test_two_processes_send_each_notification_once(
    server: LiveServer, push_service: PushService
) -> None:
    other = LiveServer(server.db_path).start()
    try:
        coord, _, _, browser = subscribe(server, push_service)
        stamp = Stamper(coord.node)
        texts = [f"第{n}次进度通报" for n in range(1, 4)]
        for text in texts:
            post_update(coord, stamp, text)
            assert browser.decrypt(push_service.next()[2])["text"] == text
        # A duplicate from the second process would have arrived before the next update's.
        assert push_service.got.empty()
    finally:
        other.stop()


@pytest.mark.parametrize(
    "endpoint",
    [
        "http://169.254.169.254/latest/meta-data",
        "https://evil.example/push",
        "file:///etc/passwd",
        "https://fcm.googleapis.com.evil.example/x",
    ],
)
def test_subscriptions_to_unknown_push_services_are_refused(
    empty_server: LiveServer, endpoint: str
) -> None:
    coord = empty_server.enroll("coordinator", "主任")
    stamp = Stamper(coord.node)
    iid = uuid7()
    coord.sync(
        [{"coll": "incidents", "id": iid, "field": "title", "value": "漏水", "hlc": stamp()}]
    )
    token = httpx.post(
        f"{empty_server.url}/api/v1/incidents/{iid}/share", headers=coord.headers
    ).json()["token"]
    sub = Browser(endpoint).subscription
    r = httpx.post(f"{empty_server.url}/api/v1/public/{token}/push", json=sub)
    assert r.status_code == 400 and r.json()["error"] == "invalid_endpoint"


def test_the_vapid_key_is_made_once_and_shared_by_processes(server: LiveServer) -> None:
    other = LiveServer(server.db_path).start()
    try:
        coord = server.enroll("coordinator", "主任")
        r = httpx.post(f"{server.url}/api/v1/incidents/{HEATING}/share", headers=coord.headers)
        token = r.json()["token"]
        keys = {
            httpx.get(f"{s.url}/api/v1/public/{token}").json()["push_key"] for s in (server, other)
        }
        assert len(keys) == 1
        stored = server.query("SELECT count(*) FROM meta WHERE key = 'vapid_private_pem'")
        assert stored == [(1,)]
    finally:
        other.stop()
