"""Security headers on every response, and the Content Security Policy the PWA satisfies.

The PWA loads only its own ES modules and stylesheets (no inline script or style, no
eval), so the policy allows nothing but 'self'. ``Referrer-Policy: no-referrer`` keeps
resident links (``/r/<token>``) out of other sites' logs.
"""

from collections.abc import Callable
from typing import Any

__all__ = ["CSP", "HEADERS", "security_headers_hook", "security_headers_middleware"]

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
_HSTS = (b"strict-transport-security", b"max-age=31536000")

ASGIApp = Callable[..., Any]


def security_headers_middleware(https: bool = False) -> Callable[[ASGIApp], ASGIApp]:
    """Add ``HEADERS`` (and HSTS when served over https) to every HTTP response."""
    extra = (*HEADERS, _HSTS) if https else HEADERS
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


def security_headers_hook(https: bool = False) -> Callable[..., Any]:
    """The same headers as a Litestar ``before_send`` hook, which also sees the answers
    routing gives before any middleware runs (404, 405)."""
    extra = (*HEADERS, _HSTS) if https else HEADERS
    names = {k for k, _ in extra}

    async def hook(message: dict[str, Any], scope: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            headers = [h for h in message.get("headers", []) if h[0].lower() not in names]
            message["headers"] = [*headers, *extra]

    return hook
