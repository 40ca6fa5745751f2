"""``WS /v1/stream?topics=marks,liquidations&key=...``: stored events as JSON ``{"topic", "seq", "ts", "type",
"payload", ...}``, filtered per role like ``GET /v1/events`` (see :mod:`margincall.api.views`).

Marks and insurance-fund changes may be streamed by every role; margin calls, liquidations and ADL by admins,
traders (their own) and viewers (public types, no account ids). A bad or forbidden request is answered with
one ``{"error": ...}`` message and the close codes 4400 (bad topics), 4401 (no or unknown key), 4403
(forbidden topic). A client that falls ``stream_buffer`` messages behind is closed with 1013 (try again).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from margincall.api.errors import ApiError, error_body
from margincall.api.keys import Principal, Role
from margincall.api.service import Service
from margincall.api.views import view_event
from margincall.bus import TOPICS, Subscription

router = APIRouter()

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
    key = ws.query_params.get("key") or ws.headers.get("x-api-key")
    auth = ws.headers.get("authorization", "")
    if not key and auth.lower().startswith("bearer "):
        key = auth[7:].strip()
    try:
        from margincall.api.auth import authenticate

        who = authenticate(service, key)
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
