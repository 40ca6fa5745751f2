"""The key endpoints (admin): create, list, revoke and rotate API keys; each act recorded in the event log as an
``audit`` event (:mod:`margincall.api.keys` holds the keys, hashed)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from fastapi.concurrency import run_in_threadpool

from margincall.api.auth import require, service_of
from margincall.api.errors import ApiError
from margincall.api.keys import CONFIG_ADMIN_ID, KeyInfo, Principal, Role, key_id_of
from margincall.api.models import KeyIn, RotateIn
from margincall.api.service import Service
from margincall.model.errors import MarginCallError
from margincall.store.journal import Command

v1 = APIRouter(prefix="/v1")

Admin = Annotated[Principal, Depends(require(Role.ADMIN))]


@v1.post("/keys", tags=["admin"])
async def create_key(request: Request, body: KeyIn, who: Admin) -> dict[str, Any]:
    """A new API key (shown only in this response). A trader key is bound to an existing account."""
    service = service_of(request)
    if body.role is Role.TRADER:
        account = body.account
        if account is None:
            raise ApiError(422, "validation_error", "account: a trader key needs an account", "account")
        exists = await run_in_threadpool(service.read, lambda e: account in e.ledger.accounts)
        if not exists:
            raise ApiError(404, "unknown_account", f"unknown account {account!r}", "account")
    elif body.account is not None:
        raise ApiError(422, "validation_error", "account: only trader keys are bound to an account", "account")
    key = await run_in_threadpool(service.keys.create, body.role, body.account)
    info = await run_in_threadpool(service.keys.info, key_id_of(key))
    assert info is not None
    await audit(service, who, "key_created", info)
    return {"key": key, "id": info.key_id, "role": body.role.value, "account": body.account}


async def audit(service: Service, who: Principal, action: str, info: KeyInfo) -> None:
    """Record a key's creation, revocation or rotation in the event log (an ``audit`` event)."""
    payload: dict[str, Any] = {"action": action, "key_id": info.key_id, "principal": info.principal,
                               "role": info.role.value, "by": who.key_id}
    if info.account is not None:
        payload["key_account"] = info.account
    if info.revoked_ms is not None:
        payload["revoked_ms"] = info.revoked_ms
    (outcome,) = await service.submit([Command("audit", payload)])
    if isinstance(outcome, MarginCallError):
        raise outcome


def key_json(info: KeyInfo) -> dict[str, Any]:
    return {"id": info.key_id, "principal": info.principal, "role": info.role.value, "account": info.account,
            "created_ms": info.created_ms, "revoked_ms": info.revoked_ms}


def no_config_key(key_id: str) -> None:
    if key_id == CONFIG_ADMIN_ID:
        raise ApiError(409, "config_key", "the bootstrap admin key is set by the service's settings "
                       "(admin_key): change it there", "key_id")


KeyIdPath = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9-]+$")]


@v1.get("/keys", tags=["admin"])
async def list_keys(request: Request, who: Admin) -> dict[str, Any]:
    """Every key's id, principal, role, account and revocation time (never the key or its hash)."""
    infos = await run_in_threadpool(service_of(request).keys.list)
    return {"keys": [key_json(i) for i in infos]}


@v1.delete("/keys/{key_id}", tags=["admin"])
async def revoke_key(request: Request, key_id: KeyIdPath, who: Admin) -> dict[str, Any]:
    """Revoke a key now: it is refused from the next request on. Recorded in the log. The bootstrap admin key
    of the settings is replaced by changing the settings, not revoked here."""
    service = service_of(request)
    no_config_key(key_id)
    try:
        info = await run_in_threadpool(service.keys.revoke, key_id)
    except KeyError:
        raise ApiError(404, "unknown_key", f"unknown key id {key_id!r}", "key_id") from None
    await audit(service, who, "key_revoked", info)
    return key_json(info)


@v1.post("/keys/{key_id}/rotate", tags=["admin"])
async def rotate_key(request: Request, key_id: KeyIdPath, body: RotateIn, who: Admin) -> dict[str, Any]:
    """A new key for the same principal (role, account, idempotency scope); the old one is revoked after
    ``grace_seconds`` (0: now). The new key is shown only in this response. Recorded in the log."""
    service = service_of(request)
    no_config_key(key_id)
    try:
        key, old = await run_in_threadpool(service.keys.rotate, key_id, body.grace_seconds * 1000)
    except KeyError:
        raise ApiError(404, "unknown_key", f"unknown key id {key_id!r}", "key_id") from None
    except ValueError as exc:
        raise ApiError(409, "key_revoked", str(exc), "key_id") from None
    new = await run_in_threadpool(service.keys.info, key_id_of(key))
    assert new is not None
    await audit(service, who, "key_rotated", old)
    await audit(service, who, "key_created", new)
    return {"key": key, "id": new.key_id, "role": new.role.value, "account": new.account,
            "old": key_json(old)}
