"""Domain errors carry their HTTP status; one handler turns every failure into one shape.

``{"error": code, "message": text, "details": ...}`` — pinned for every route by
tests/test_errors.py. An unexpected error is logged with context and answered with a
reference, never a stack trace.
"""

import logging
import re
import secrets
from typing import TYPE_CHECKING, Any

import msgspec

from schemas.errors import ErrorBody

if TYPE_CHECKING:  # the CLI imports the domain errors without loading the web framework
    from litestar import Request, Response
    from litestar.exceptions import HTTPException

__all__ = [
    "CLIENT_GONE",
    "CLOSED_BY_SERVER",
    "BadRequestError",
    "DoorstepError",
    "ForbiddenRequestError",
    "NotFoundError",
    "PayloadTooLargeError",
    "RateLimitedError",
    "RevokedError",
    "StorageFullError",
    "UnauthorizedError",
    "decode_body",
    "exception_handlers",
    "mark_client_gone",
]

log = logging.getLogger("doorstep")


class DoorstepError(Exception):
    """An error a client can act on. Subclasses fix ``status`` and ``code``."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, code: str | None = None, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        if code is not None:
            self.code = code


class BadRequestError(DoorstepError):
    status, code = 400, "bad_request"


class UnauthorizedError(DoorstepError):
    status, code = 401, "unauthorized"


class RevokedError(DoorstepError):
    status, code = 401, "revoked"


class ForbiddenRequestError(DoorstepError):
    status, code = 403, "forbidden"


class NotFoundError(DoorstepError):
    status, code = 404, "not_found"


class PayloadTooLargeError(DoorstepError):
    status, code = 413, "too_large"


class RateLimitedError(DoorstepError):
    status, code = 429, "rate_limited"


class StorageFullError(DoorstepError):
    """The database cannot grow (disk full, or the configured size cap reached)."""

    status, code = 507, "storage_full"


def decode_body(decoder: msgspec.json.Decoder, body: bytes, what: str, example: str) -> Any:
    """Decode a JSON request body, or raise the 400 a client can act on.

    Args:
        decoder: A typed msgspec decoder.
        body: The raw request body.
        what: What the body is, for the message ("enrolment", "login").
        example: The expected shape, shown when the body is not JSON at all.
    """
    try:
        return decoder.decode(body)
    except msgspec.ValidationError as exc:
        raise BadRequestError(f"{what}: {exc}", code="invalid_request") from None
    except msgspec.DecodeError:
        raise BadRequestError(f"{what} body must be JSON {example}", code="invalid_json") from None


_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "body_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
}

_HTTP_MESSAGES = {
    404: "no such page or endpoint; check the address",
    405: "this endpoint does not accept that method",
    413: "request body is larger than the server accepts (4 MiB); send fewer changes per request",
}


def _respond(status: int, body: ErrorBody, headers: dict[str, str] | None = None) -> "Response":
    from litestar import Response

    return Response(
        content=msgspec.json.encode(body),
        status_code=status,
        media_type="application/json",
        headers=headers,
    )


def _domain(_: "Request", exc: DoorstepError) -> "Response":
    return _respond(exc.status, ErrorBody(exc.code, exc.message, exc.details))


def _http(request: "Request", exc: "HTTPException") -> "Response":
    status = exc.status_code
    if status >= 500:
        return _unexpected(request, exc)
    code = _HTTP_CODES.get(status, "bad_request")
    message = _HTTP_MESSAGES.get(status) or str(exc.detail)
    details = getattr(exc, "extra", None) or None
    return _respond(status, ErrorBody(code, message, details), exc.headers)


_SECRET_PATH = re.compile(r"^(/r/|/api/v1/public/)[^/]+")


def _redact(path: str) -> str:
    """Resident links are read capabilities: never write them to a log (#5)."""
    return _SECRET_PATH.sub(r"\1<token>", path)


#: Set in the ASGI scope once the client has gone away (``http.disconnect`` received).
CLIENT_GONE = "doorstep.client_gone"
#: Set by server/http/listener.py when it closed the connection itself (a slow body): counted
#: in its one summary line, so not logged again per request.
CLOSED_BY_SERVER = "doorstep.closed_by_server"


def mark_client_gone(app: Any) -> Any:
    """ASGI middleware: note in the scope when the client disconnects mid-request, so an
    aborted upload is logged as one line, not as an unexpected error with a traceback."""

    async def middleware(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return

        async def watch() -> Any:
            message = await receive()
            if message["type"] == "http.disconnect":
                scope[CLIENT_GONE] = True
            return message

        await app(scope, watch, send)

    return middleware


def _unexpected(request: "Request", exc: Exception) -> "Response":
    if request.scope.get(CLIENT_GONE):  # type: ignore[call-overload]
        # Nobody will read the answer; a phone losing signal mid-upload is not a bug.
        if not request.scope.get(CLOSED_BY_SERVER):  # type: ignore[call-overload]
            log.info("client went away during %s %s", request.method, _redact(request.url.path))
        return _respond(400, ErrorBody("client_gone", "the client closed the connection"))
    ref = secrets.token_hex(4)
    log.error(
        "unexpected error ref=%s %s %s",
        ref,
        request.method,
        _redact(request.url.path),
        exc_info=exc,
    )
    return _respond(
        500,
        ErrorBody("internal", f"unexpected server error (ref {ref}); it was logged; try again"),
    )


def exception_handlers() -> dict[type[Exception], Any]:
    """The app's handlers: domain errors, the framework's own, and everything else."""
    from litestar.exceptions import HTTPException

    return {DoorstepError: _domain, HTTPException: _http, Exception: _unexpected}
