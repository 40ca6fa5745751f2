"""Who is calling: ``Authorization: Bearer <key>`` or ``X-API-Key: <key>``; role checks; rate limits."""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from typing import Annotated, Literal

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from margincall.api.errors import ApiError
from margincall.api.keys import Principal, Role
from margincall.api.service import Service

_bearer = HTTPBearer(auto_error=False, description="API key as a bearer token")
_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="API key")


def service_of(request: Request) -> Service:
    svc: Service = request.app.state.service
    return svc


def authenticate(service: Service, key: str | None) -> Principal:
    if not key:
        raise ApiError(401, "unauthorized", "an API key is required (Authorization: Bearer <key> or X-API-Key)")
    who = service.keys.lookup(key)
    if who is None:
        raise ApiError(401, "unauthorized", "unknown API key")
    return who


async def principal(request: Request,
                    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
                    header: Annotated[str | None, Depends(_header)]) -> Principal:
    checked = getattr(request.state, "principal", None)  # the request guard authenticated it already
    if isinstance(checked, Principal):
        return checked
    key = bearer.credentials if bearer is not None else header
    return authenticate(service_of(request), key)


def require(*roles: Role) -> Callable[..., Awaitable[Principal]]:
    """A dependency admitting only ``roles`` (403 otherwise)."""
    allowed = frozenset(roles)

    async def check(who: Annotated[Principal, Depends(principal)]) -> Principal:
        if who.role not in allowed:
            raise ApiError(403, "forbidden", f"the {who.role.value} role may not do this")
        return who

    return check


def own_account(who: Principal, account: str) -> None:
    """Admins see every account, a trader only its own (403, whether or not the other account exists)."""
    if who.role is Role.ADMIN:
        return
    if who.role is Role.TRADER and who.account == account:
        return
    raise ApiError(403, "forbidden", "this key may not see that account", "account")


def charge(service: Service, who: Principal, items: int) -> None:
    """Take ``items`` tokens from the key's bucket or refuse with 429 and Retry-After."""
    wait = service.limits.take(who.key_id, items)
    if wait > 0:
        service.metrics.http_rejected.inc()
        retry = max(1, math.ceil(wait))
        raise ApiError(429, "rate_limited", f"rate limit of {service.limits.rate:g} items/s exceeded; retry in "
                       f"{retry} s", headers={"Retry-After": str(retry)})


def charge_read(service: Service, who: Principal, cost: int) -> None:
    """Take ``cost`` tokens from the key's read bucket (at its role's rate) or refuse with 429 and Retry-After."""
    buckets = service.read_limits[who.role]
    wait = buckets.take(who.key_id, cost)
    if wait > 0:
        service.metrics.read_rejected.labels(who.role.value).inc()
        retry = max(1, math.ceil(wait))
        raise ApiError(429, "rate_limited", f"read rate limit of the {who.role.value} role ({buckets.rate:g} per "
                       f"second, this read costs {cost}) exceeded; retry in {retry} s",
                       headers={"Retry-After": str(retry)})


def reads(cost: Literal["status_cost", "events_cost", "calculator_cost", "map_cost"],
          *roles: Role) -> Callable[..., Awaitable[Principal]]:
    """A dependency for a read: ``roles`` only (any role when none are given), charged ``cost`` (the name of
    its :class:`~margincall.config.ReadLimits` setting) on the key's read bucket."""
    admit = require(*roles) if roles else None

    async def check(request: Request, who: Annotated[Principal, Depends(principal)]) -> Principal:
        if admit is not None:
            who = await admit(who)
        service = service_of(request)
        charge_read(service, who, getattr(service.settings.read_limits, cost))
        return who

    return check
