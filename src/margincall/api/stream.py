"""``WS /v1/stream?topics=marks,liquidations``: stored events as JSON ``{"topic", "seq", "ts", "type",
"payload", ...}``, filtered per role like ``GET /v1/events`` (see :mod:`margincall.api.views`).

Marks and insurance-fund changes may be streamed by every role; margin calls, liquidations and ADL by admins,
traders (their own) and viewers (public types, no account ids). A bad or forbidden request is answered with
one ``{"error": ...}`` message and the close codes 4400 (bad topics), 4401 (no or unknown key), 4403
(forbidden topic). A client that falls ``stream_buffer`` messages behind is closed with 1013 (try again).

Keys never travel in URLs (where access logs and browser histories keep them). A client authenticates with a
header (``Authorization: Bearer <key>`` or ``X-API-Key``), or, where it cannot set headers (a browser), with a
ticket: ``POST /v1/stream/tickets`` (with the key in a header) answers a single-use ticket valid for
``margincall.api.tickets.TICKET_TTL_MS``, passed as ``?ticket=…``. A ``?key=`` in the URL is refused (4401).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, WebSocket, WebSocketDisconnect

from margincall.api.auth import authenticate, principal
from margincall.api.errors import ApiError, error_body
from margincall.api.guard import key_of_headers
from margincall.api.keys import Principal, Role
from margincall.api.service import Service
from margincall.api.views import view_event
from margincall.bus import TOPICS, Subscription

router = APIRouter()

@router.post("/v1/stream/tickets", tags=["events"])
async def stream_ticket(request: Request, who: Annotated[Principal, Depends(principal)]) -> dict[str, Any]:
    """A single-use ticket for ``WS /v1/stream?ticket=…`` (for browsers, which cannot set WebSocket headers);
    valid for ``expires_in_ms``, with the role and account of the key that asked for it."""
    service: Service = request.app.state.service
    return {"ticket": service.tickets.issue(who), "expires_in_ms": service.tickets.ttl_ms}

OPEN_TOPICS = frozenset({"marks", "insurance_fund"})
_ALLOWED = {
    Role.ADMIN: frozenset(TOPICS),
    Role.TRADER: frozenset(TOPICS),
    Role.VIEWER: frozenset({"marks", "insurance_fund", "liquidations", "adl"}),
    Role.FEEDER: OPEN_TOPICS,
}


def visible(message: dict[str, Any], who: Principal) -> dict[str, Any] | None:
    topic = message["topic"]
    if topic == "insurance_fund":
        return message
    if topic == "marks":
        return {k: message[k] for k in ("topic", "seq", "ts", "type", "payload")}
    seen = view_event(message, who)
    if seen is None:
        return None
    return {"topic": topic, **{k: v for k, v in seen.items() if k != "topic"}}


async def _refuse(ws: WebSocket, code: int, error: str, message: str) -> None:
    await ws.accept()
    await ws.send_json(error_body(error, message, "topics" if code in (4400, 4403) else "key"))
    await ws.close(code)


@router.websocket("/v1/stream")
async def stream(ws: WebSocket) -> None:
    service: Service = ws.app.state.service
    if ws.query_params.get("key") is not None:
        await _refuse(ws, 4401, "unauthorized", "keys never travel in URLs: send the key in a header "
                      "(Authorization: Bearer or X-API-Key) or connect with ?ticket= from POST /v1/stream/tickets")
        return
    ticket = ws.query_params.get("ticket")
    if ticket is not None:
        found = service.tickets.redeem(ticket)
        if found is None:
            await _refuse(ws, 4401, "unauthorized", "unknown, used or expired ticket")
            return
        who = found
    else:
        try:
            who = authenticate(service, key_of_headers(list(ws.scope.get("headers", []))))
        except ApiError as exc:
            await _refuse(ws, 4401, exc.code, exc.message)
            return
    raw = ws.query_params.get("topics")
    allowed = _ALLOWED[who.role]
    topics = allowed if not raw else frozenset(t.strip() for t in raw.split(",") if t.strip())
    unknown = topics - set(TOPICS)
    if unknown or not topics:
        await _refuse(ws, 4400, "unknown_topic", f"topics: unknown {', '.join(sorted(unknown)) or '(none)'}; "
                      f"known: {', '.join(TOPICS)}")
        return
    if not topics <= allowed:
        await _refuse(ws, 4403, "forbidden", f"topics: the {who.role.value} role may not stream "
                      f"{', '.join(sorted(topics - allowed))}")
        return
    await ws.accept()
    sub = service.bus.subscribe(topics, service.settings.stream_buffer)
    await ws.send_json({"topic": "hello", "seq": service.last_seq, "topics": sorted(topics),
                        "role": who.role.value})
    pump = asyncio.create_task(_pump(ws, sub, who))
    try:
        while True:
            msg = await ws.receive()
            if msg["type"] == "websocket.disconnect":
                break
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        sub.close()
        pump.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await pump


async def _pump(ws: WebSocket, sub: Subscription, who: Principal) -> None:
    while True:
        message = await sub.get()
        seen = visible(message, who)
        if seen is not None:
            await ws.send_json(seen)
        if sub.overflowed and sub.queue.empty():
            await ws.close(1013, "too slow: reconnect and catch up with GET /v1/events")
            return
