"""Limits before work: the request guard in front of every route, and the redaction of keys in the logs.

:class:`RequestGuard` is plain ASGI middleware, so it acts before FastAPI reads or parses anything:

* A request body larger than ``max_body_bytes`` is answered ``413 too_large`` before it is read: at once from its
  ``Content-Length``, or, for a chunked body, as soon as the bytes received pass the limit (the rest is never
  read). A body is never held beyond the limit.
* Every ``/v1/`` request must carry a known API key (``Authorization: Bearer`` or ``X-API-Key``): without one it
  is answered ``401`` before its body is read or parsed. Role checks stay with the routes.

:class:`RedactKeys` is a logging filter that rewrites anything that looks like an API key (``mc_<id>_<secret>``,
``key=…`` / ``ticket=…`` in a query, a bearer token) in every record, access log included.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson

from margincall.api.errors import error_body

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def key_of_headers(headers: list[tuple[bytes, bytes]]) -> str | None:
    """The API key a request carries in ``Authorization: Bearer`` or ``X-API-Key`` (never from the URL)."""
    bearer = api_key = None
    for name, value in headers:
        if name == b"authorization":
            text = value.decode("latin-1")
            if text[:7].lower() == "bearer ":
                bearer = text[7:].strip()
        elif name == b"x-api-key":
            api_key = value.decode("latin-1").strip()
    return bearer or api_key or None


async def _answer(send: Send, status: int, code: str, message: str, field: str | None = None) -> None:
    body = orjson.dumps(error_body(code, message, field))
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


class RequestGuard:
    """Body-size limit and authentication before the body (see the module docstring)."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int, lookup: Callable[[str], object | None]) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        #: the principal of a key, or None: kept in the request's state, so the route does not look it up again
        self.lookup = lookup

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers: list[tuple[bytes, bytes]] = scope.get("headers", [])
        limit = self.max_body_bytes
        length: int | None = None
        chunked = False
        for name, value in headers:
            if name == b"content-length":
                try:
                    length = int(value)
                except ValueError:
                    await _answer(send, 400, "bad_request", "Content-Length is not a number")
                    return
            elif name == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
        if length is not None and length > limit:
            await _answer(send, 413, "too_large", f"the request body has {length} bytes; at most {limit} are "
                          "accepted (send a smaller batch)")
            return
        if str(scope.get("path", "")).startswith("/v1/"):
            key = key_of_headers(headers)
            if not key:
                await _answer(send, 401, "unauthorized", "an API key is required (Authorization: Bearer <key> or "
                              "X-API-Key)", "key")
                return
            who = self.lookup(key)
            if who is None:
                await _answer(send, 401, "unauthorized", "unknown API key", "key")
                return
            scope.setdefault("state", {})["principal"] = who
        if length is None and chunked:
            body = bytearray()
            while True:
                message = await receive()
                if message["type"] != "http.request":
                    break
                body += message.get("body", b"")
                if len(body) > limit:
                    await _answer(send, 413, "too_large", f"the request body passed {limit} bytes; at most {limit} "
                                  "are accepted (send a smaller batch)")
                    return
                if not message.get("more_body", False):
                    break
            replayed = False

            async def replay() -> Message:
                nonlocal replayed
                if replayed:
                    return await receive()
                replayed = True
                return {"type": "http.request", "body": bytes(body), "more_body": False}

            await self.app(scope, replay, send)
            return
        await self.app(scope, receive, send)


_PATTERNS = (
    (re.compile(r"mc_([0-9a-f]{12})_[A-Za-z0-9_\-]+"), r"mc_\1_***"),
    (re.compile(r"((?:^|[?&\s])(?:key|ticket|api_key)=)[^&\s\"']+", re.IGNORECASE), r"\1***"),
    (re.compile(r"(bearer\s+)[^\s\"']+", re.IGNORECASE), r"\1***"),
)


def redact(text: str) -> str:
    """``text`` with every API key, key-like query value and bearer token replaced by ``***``."""
    for pattern, repl in _PATTERNS:
        text = pattern.sub(repl, text)
    return text


class RedactKeys(logging.Filter):
    """Rewrites a record's message and arguments so no API key reaches a log."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {k: redact(v) if isinstance(v, str) else v for k, v in record.args.items()}
        return True


def install_redaction(*names: str) -> RedactKeys:
    """Add :class:`RedactKeys` to the named loggers (and their handlers), e.g. uvicorn's access and error logs."""
    f = RedactKeys()
    for name in names:
        logger = logging.getLogger(name)
        if not any(isinstance(x, RedactKeys) for x in logger.filters):
            logger.addFilter(f)
        for h in logger.handlers:
            if not any(isinstance(x, RedactKeys) for x in h.filters):
                h.addFilter(f)
    return f
