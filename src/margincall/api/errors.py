"""The error format of every response: ``{"error": {"code", "message", "field"}}`` with the contract's status:
400 bad input (the engine's rejections, malformed JSON), 401 no or unknown key, 403 role, 404 unknown
resource, 409 idempotency conflict, 422 request validation (pydantic; ``field`` is the dotted path),
429 rate limited (``Retry-After``), 503 the database is unreachable."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from margincall.model.errors import MarginCallError
from margincall.store.log import StoreError

_log = logging.getLogger(__name__)

_STATUS_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
                 405: "method_not_allowed", 409: "conflict", 413: "too_large", 415: "unsupported_media_type",
                 422: "validation_error", 429: "rate_limited"}


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, field: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.field, self.headers = status, code, message, field, headers


def error_body(code: str, message: str, field: str | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "field": field}}


def engine_error(exc: MarginCallError) -> dict[str, Any]:
    return error_body(exc.code, str(exc), exc.field)


def status_of(exc: MarginCallError) -> int:
    """409 for an idempotency conflict, 422 for a timestamp outside the clock-skew window, else 400."""
    return {"idempotency_conflict": 409, "clock_skew": 422}.get(exc.code, 400)


def _loc(loc: tuple[Any, ...]) -> str | None:
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:]
    return ".".join(parts) or None


def _message(field: str | None, error: Any) -> str:
    """pydantic's message without its "Value error, " prefix and our own repeated field name."""
    msg = str(error.get("msg", "invalid")).removeprefix("Value error, ")
    name = field.rsplit(".", 1)[-1] if field else None
    if name and msg.startswith(f"{name}: "):
        msg = msg[len(name) + 2:]
    return f"{field}: {msg}" if field else msg


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api(request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(error_body(exc.code, exc.message, exc.field), exc.status, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = list(exc.errors())
        for e in errors:
            if e.get("type") == "json_invalid":
                return JSONResponse(error_body("malformed_json", f"malformed JSON: {e.get('msg')}", None), 400)
        first = errors[0] if errors else {"loc": (), "msg": "invalid request"}
        field = _loc(tuple(first.get("loc", ())))
        message = _message(field, first)
        details = []
        for e in errors[:20]:
            where = _loc(tuple(e.get("loc", ())))
            details.append({"field": where, "message": _message(where, e)})
        return JSONResponse({"error": {"code": "validation_error", "message": message, "field": field,
                                       "errors": details}}, 422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _STATUS_CODES.get(exc.status_code, "error")
        return JSONResponse(error_body(code, str(exc.detail)), exc.status_code, headers=exc.headers)

    @app.exception_handler(MarginCallError)
    async def _engine(request: Request, exc: MarginCallError) -> JSONResponse:
        return JSONResponse(engine_error(exc), status_of(exc))

    @app.exception_handler(StoreError)
    async def _store(request: Request, exc: StoreError) -> JSONResponse:
        _log.error("store error: %s", exc)
        return JSONResponse(error_body(exc.code, "the event store is unavailable; retry with the same key"), 503)
