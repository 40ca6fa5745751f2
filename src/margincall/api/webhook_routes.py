"""The webhook endpoints: ``POST /v1/webhooks``, ``GET /v1/webhooks``, ``GET|DELETE /v1/webhooks/{id}``.

Admins and traders only. A trader subscribes its own account (its webhooks carry what ``GET /v1/events`` shows it);
an admin subscribes any account, or every account with ``account: null``. A trader lists and deletes the webhooks
its account's keys created; an admin, every webhook. Delivery: :mod:`margincall.api.webhooks`.
"""

from __future__ import annotations

import secrets
import time
from typing import Annotated, Any

import httpx
from fastapi import APIRouter, Path, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import Field, field_validator

from margincall.api.auth import own_account, service_of
from margincall.api.errors import ApiError
from margincall.api.keys import Principal, Role
from margincall.api.models import Body, Id
from margincall.api.routes import AdminOrTrader
from margincall.api.service import Service
from margincall.api.webhook_store import DeliveryState, Webhook
from margincall.api.webhooks import DELIVERABLE

v1 = APIRouter(prefix="/v1", tags=["webhooks"])

HookPath = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_]+$")]


class WebhookIn(Body):
    """A subscription: the events of ``types`` concerning ``account`` (null: every account, admins only), POSTed
    to ``url`` and signed with ``secret`` (generated when omitted; returned only by this request), from the event
    after seq ``after`` on (default: the events stored from now on)."""

    url: Annotated[str, Field(min_length=1, max_length=2048, examples=["https://example.com/margincall"])]
    account: Id | None = None
    types: list[str] = Field(default_factory=lambda: ["margin_call"], min_length=1, max_length=32,
                             description=f"event types, from: {', '.join(sorted(DELIVERABLE))}")
    secret: Annotated[str, Field(min_length=16, max_length=256, pattern=r"^[\x21-\x7e]+$")] | None = None
    after: Annotated[int, Field(ge=0, lt=2**63, description="deliver events with seq > after")] | None = None

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        try:
            url = httpx.URL(value)
        except (httpx.InvalidURL, TypeError, ValueError) as exc:
            raise ValueError(f"url: not a valid URL ({exc})") from None
        if url.scheme not in ("http", "https"):
            raise ValueError(f"url: the scheme must be http or https, not {url.scheme or 'missing'!r}")
        if not url.host:
            raise ValueError("url: no host")
        if any(c.isspace() for c in value):
            raise ValueError("url: must not contain whitespace")
        return value

    @field_validator("types")
    @classmethod
    def _types(cls, value: list[str]) -> list[str]:
        for t in value:
            if t not in DELIVERABLE:
                raise ValueError(f"types: {t!r} is not an event type webhooks carry (one of "
                                 f"{', '.join(sorted(DELIVERABLE))})")
        return sorted(set(value))


def webhook_view(service: Service, hook: Webhook, state: DeliveryState) -> dict[str, Any]:
    """A subscription and its delivery state (``cursor``: every event up to it was delivered or is not wanted)."""
    return {
        "id": hook.id, "url": hook.url, "account": hook.account, "types": sorted(hook.types),
        "owner_role": hook.owner_role.value, "created_ms": hook.created_ms,
        "delivery": {
            "status": service.webhooks.status(hook.id), "cursor": state.cursor, "log_seq": service.last_seq,
            "failing_seq": state.failing_seq, "attempts": state.attempts,
            "next_retry_ms": state.next_retry_ms or None, "last_error": state.last_error,
            "last_error_ms": state.last_error_ms, "delivered": state.delivered,
            "last_delivered_ms": state.last_delivered_ms,
        },
    }


def _visible(who: Principal, hook: Webhook) -> bool:
    if who.role is Role.ADMIN:
        return True
    return hook.owner_role is Role.TRADER and hook.account is not None and hook.account == who.account


async def _get(service: Service, who: Principal, hook_id: str) -> tuple[Webhook, DeliveryState]:
    found = await run_in_threadpool(service.webhooks.store.get, hook_id)
    if found is None or not _visible(who, found[0]):  # another account's webhook: as if it did not exist
        raise ApiError(404, "unknown_webhook", f"unknown webhook {hook_id!r}", "id")
    return found


@v1.post("/webhooks")
async def create_webhook(request: Request, body: WebhookIn, who: AdminOrTrader) -> dict[str, Any]:
    """Subscribe ``url`` to events; the response carries the signing ``secret`` (the only time it is shown)."""
    service = service_of(request)
    account = body.account
    if who.role is Role.TRADER:
        if account is None:
            raise ApiError(403, "forbidden", "account: a trader key subscribes its own account only", "account")
        own_account(who, account)
    elif account is not None:
        exists = await run_in_threadpool(service.read, lambda e: account in e.ledger.accounts)
        if not exists:
            raise ApiError(404, "unknown_account", f"unknown account {account!r}", "account")
    store = service.webhooks.store
    limit = service.settings.webhook_max_per_account
    if account is not None and await run_in_threadpool(store.count_for, account) >= limit:
        raise ApiError(409, "too_many_webhooks", f"account: {account!r} has {limit} webhooks already", "account")
    last = service.last_seq
    after = last if body.after is None else body.after
    if after > last:
        raise ApiError(422, "validation_error", f"after: {after} is beyond the last stored event ({last})", "after")
    secret = body.secret or f"whsec_{secrets.token_urlsafe(32)}"
    hook = Webhook(f"wh_{secrets.token_hex(8)}", body.url, account, frozenset(body.types), secret, who.key_id,
                   who.role, time.time_ns() // 1_000_000)
    state = await run_in_threadpool(store.create, hook, after)
    service.webhooks.add(hook, state)
    return {**webhook_view(service, hook, state), "secret": secret}


@v1.get("/webhooks")
async def list_webhooks(request: Request, who: AdminOrTrader) -> dict[str, Any]:
    """The webhooks this key may see, with their delivery state."""
    service = service_of(request)
    rows = await run_in_threadpool(service.webhooks.store.all)
    return {"webhooks": [webhook_view(service, h, s) for h, s in rows if _visible(who, h)]}


@v1.get("/webhooks/{hook_id}")
async def get_webhook(request: Request, hook_id: HookPath, who: AdminOrTrader) -> dict[str, Any]:
    service = service_of(request)
    return webhook_view(service, *await _get(service, who, hook_id))


@v1.delete("/webhooks/{hook_id}")
async def delete_webhook(request: Request, hook_id: HookPath, who: AdminOrTrader) -> dict[str, Any]:
    """Stop and forget a webhook (a delivery in flight may still arrive)."""
    service = service_of(request)
    await _get(service, who, hook_id)
    await service.webhooks.remove(hook_id)
    deleted = await run_in_threadpool(service.webhooks.store.delete, hook_id)
    return {"id": hook_id, "deleted": deleted}
