"""Security headers on every response, and the Content Security Policy the PWA satisfies.

The PWA loads only its own ES modules and stylesheets (no eval, no inline handlers or style
attributes), so the policy allows nothing but 'self'. One exception, for speed on a slow
link: the release build (tools/build-pwa.mjs) inlines the volunteer app's stylesheet and
module into ``index.html``, and that page's policy adds exactly those two blocks by their
SHA-256 hash ('unsafe-inline' is never allowed). ``Referrer-Policy: no-referrer`` keeps
resident links (``/r/<token>``) out of other sites' logs.
"""

import base64
import hashlib
import logging
import re
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec

from schemas.errors import ErrorBody

__all__ = [
    "CSP",
    "HEADERS",
    "HSTS",
    "InlineHashes",
    "csp_allowing",
    "escape_control",
    "escape_logged_text",
    "inline_hashes",
    "path_guard_middleware",
    "security_headers_hook",
    "security_headers_middleware",
]

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; manifest-src 'self'; worker-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)

HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(self), geolocation=(), microphone=(), payment=()"),
)
HSTS = (b"strict-transport-security", b"max-age=31536000")
_INLINE = re.compile(rb"<(script|style)\b[^>]*>(.*?)</\1>", re.S | re.I)
#: The paths that answer with pwa/index.html (the page with inline blocks).
INDEX_PATHS = frozenset({"/", "/index.html"})


def inline_hashes(html: bytes) -> dict[str, list[str]]:
    """CSP sources ('sha256-…') of the non-empty inline <script> and <style> blocks."""
    found: dict[str, list[str]] = {"script": [], "style": []}
    for m in _INLINE.finditer(html):
        body = m.group(2)
        if body:
            digest = base64.b64encode(hashlib.sha256(body).digest()).decode()
            found[m.group(1).decode().lower()].append(f"'sha256-{digest}'")
    return found


def csp_allowing(hashes: dict[str, list[str]]) -> str:
    """``CSP`` with script-src and style-src extended by the given hashes."""
    csp = CSP
    for kind in ("script", "style"):
        if hashes.get(kind):
            csp = csp.replace(f"{kind}-src 'self';", f"{kind}-src 'self' {' '.join(hashes[kind])};")
    return csp


class InlineHashes:
    """The policy for index.html, recomputed when the file changes (a rebuild while the
    server runs, as `node tools/build-pwa.mjs --watch` does)."""

    def __init__(self, index: Path) -> None:
        self.index = index
        self._seen: tuple[float, int] | None = None
        self._header = CSP.encode()

    def header(self) -> bytes:
        try:
            st = self.index.stat()
        except OSError:
            return CSP.encode()
        if self._seen != (st.st_mtime, st.st_size):
            self._header = csp_allowing(inline_hashes(self.index.read_bytes())).encode()
            self._seen = (st.st_mtime, st.st_size)
        return self._header


ASGIApp = Callable[..., Any]


def security_headers_middleware(https: bool = False) -> Callable[[ASGIApp], ASGIApp]:
    """Add ``HEADERS`` (and HSTS when served over https) to every HTTP response."""
    extra = (*HEADERS, HSTS) if https else HEADERS
    names = {k for k, _ in extra}

    def wrap(app: ASGIApp) -> ASGIApp:
        async def middleware(scope: dict[str, Any], receive: Any, send: Any) -> None:
            if scope["type"] != "http":
                await app(scope, receive, send)
                return

            async def add(message: dict[str, Any]) -> None:
                if message["type"] == "http.response.start":
                    headers = [h for h in message.get("headers", []) if h[0].lower() not in names]
                    message = {**message, "headers": [*headers, *extra]}
                await send(message)

            await app(scope, receive, add)

        return middleware

    return wrap


def security_headers_hook(https: bool = False, index: Path | None = None) -> Callable[..., Any]:
    """The same headers as a Litestar ``before_send`` hook, which also sees the answers
    routing gives before any middleware runs (404, 405). ``index`` is pwa/index.html:
    its answers allow its own inline blocks by hash."""
    extra = (*HEADERS, HSTS) if https else HEADERS
    names = {k for k, _ in extra}
    inline = InlineHashes(index) if index is not None else None

    async def hook(message: dict[str, Any], scope: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            headers = [h for h in message.get("headers", []) if h[0].lower() not in names]
            added = extra
            if inline is not None and scope.get("path") in INDEX_PATHS:
                csp = (b"content-security-policy", inline.header())
                added = tuple(csp if k == b"content-security-policy" else (k, v) for k, v in extra)
            message["headers"] = [*headers, *added]

    return hook


# -- odd paths and log lines (#22 M3) ---------------------------------------------------

#: Control characters (C0, DEL, C1): never part of a path the app serves, never written raw
#: to a log (a ``%0a`` in a path would start a forged log line).
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
#: The longest path segment answered (a file name's limit on every file system here).
MAX_SEGMENT = 255


def escape_control(text: str) -> str:
    """``text`` with every control character written as ``\\xNN`` (one line, always)."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def _bad_path(path: str) -> str | None:
    """Why the server refuses ``path`` before routing it, or None."""
    if _CONTROL.search(path):
        return "the address contains control characters; check the link"
    if any(len(part.encode()) > MAX_SEGMENT for part in path.split("/")):
        return f"a part of the address is longer than {MAX_SEGMENT} bytes; check the link"
    return None


def path_guard_middleware(app: ASGIApp) -> ASGIApp:
    """ASGI middleware: 400 ``bad_path`` (one error shape) for a path with a control
    character or a segment over 255 bytes. The static-file router would pass such a path
    to the file system and answer 500 with a traceback (``GET /x%00``)."""

    async def middleware(scope: dict[str, Any], receive: Any, send: Any) -> None:
        why = _bad_path(scope["path"]) if scope["type"] in ("http", "websocket") else None
        if why is None:
            await app(scope, receive, send)
            return
        if scope["type"] != "http":
            await send({"type": "websocket.close", "code": 1008})
            return
        body = msgspec.json.encode(ErrorBody("bad_path", why))
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ]
        await send({"type": "http.response.start", "status": 400, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return middleware


class _EscapedRecord(logging.LogRecord):
    """A log record whose text cannot span lines: the message, and the exception's own
    message in a traceback, have their control characters escaped (frames are code)."""

    def getMessage(self) -> str:
        return escape_control(super().getMessage())

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.exc_info and self.exc_info[1] is not None and not self.exc_text:
            self.exc_text = _traceback_text(self.exc_info[1])


def _traceback_text(exc: BaseException) -> str:
    tb = traceback.TracebackException.from_exception(exc)
    seen: set[int] = set()
    todo = [tb]
    while todo:  # the exception, its cause and context: their messages are data
        one = todo.pop()
        if id(one) in seen:
            continue
        seen.add(id(one))
        if isinstance(getattr(one, "_str", None), str):
            one._str = escape_control(one._str)  # type: ignore[attr-defined]
        todo += [t for t in (one.__cause__, one.__context__) if t is not None]
    return "".join(tb.format()).rstrip("\n")


def escape_logged_text() -> None:
    """Make every log record of this process escape control characters (one place for
    the app's, Litestar's, uvicorn's and asyncio's lines)."""
    logging.setLogRecordFactory(_EscapedRecord)
