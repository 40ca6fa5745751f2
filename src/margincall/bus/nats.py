"""Forward the service's events to NATS JetStream, so other processes (a venue's matching engine, a desk's
risk dashboards, an audit store) can consume margin calls and liquidations durably.

Every message of the in-process :class:`~margincall.bus.Bus` is published, in order, to the subject
``<prefix>.<topic>`` (``margincall.marks``, ``margincall.margin_calls``, ``margincall.liquidations``,
``margincall.adl``, ``margincall.insurance_fund``) of a JetStream stream that captures ``<prefix>.>``. The
message id header (``Nats-Msg-Id`` = topic, seq and type) lets JetStream drop duplicates if the forwarder
reconnects and publishes again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

from margincall.bus import TOPICS, Bus, Subscription

_log = logging.getLogger("margincall.bus.nats")


class NatsForwarder:
    def __init__(self, bus: Bus, url: str, *, stream: str = "MARGINCALL", prefix: str = "margincall") -> None:
        self.bus, self.url, self.stream, self.prefix = bus, url, stream, prefix
        self.published = 0
        self._sub: Subscription | None = None
        self._task: asyncio.Task[None] | None = None
        self._nc: Any = None

    async def start(self) -> None:
        """Connect, make sure the stream exists, and start forwarding (raises if NATS is unreachable)."""
        import nats
        from nats.js.api import StreamConfig

        self._nc = await nats.connect(self.url, connect_timeout=5, max_reconnect_attempts=-1)
        js = self._nc.jetstream()
        config = StreamConfig(name=self.stream, subjects=[f"{self.prefix}.>"])
        try:
            await js.add_stream(config)
        except Exception:  # exists with another config: keep its retention, make sure it has our subjects
            await js.update_stream(config)
        self._sub = self.bus.subscribe(TOPICS, maxsize=100_000)
        self._task = asyncio.create_task(self._run(js))

    async def _run(self, js: Any) -> None:
        assert self._sub is not None
        while True:
            msg = await self._sub.get()
            subject = f"{self.prefix}.{msg['topic']}"
            msg_id = f"{msg['topic']}:{msg.get('seq')}:{msg.get('type')}"
            data = json.dumps(msg, sort_keys=True, separators=(",", ":"), default=str).encode()
            try:
                await js.publish(subject, data, headers={"Nats-Msg-Id": msg_id})
                self.published += 1
            except Exception:
                _log.exception("nats: publishing %s failed", msg_id)

    async def close(self) -> None:
        """Publish what is queued, then disconnect."""
        if self._sub is not None:
            for _ in range(200):
                if self._sub.queue.empty():
                    break
                await asyncio.sleep(0.01)
            self._sub.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._nc is not None:
            await self._nc.drain()
