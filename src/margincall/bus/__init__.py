"""An in-process publish/subscribe bus: the service publishes every stored event, WebSocket clients subscribe.

Topics: ``marks``, ``margin_calls``, ``liquidations`` (liquidation_started, partial_liquidation, liquidation,
liquidation_finished, bankruptcy_settlement), ``adl`` (adl, socialized_loss) and ``insurance_fund`` (balance
changes). Publishing happens on the event loop; each subscriber has a bounded queue and is marked
``overflowed`` (and gets nothing more) when it falls that far behind, so a slow client never slows the engine.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

TOPICS = ("marks", "margin_calls", "liquidations", "adl", "insurance_fund")

_TOPIC_OF = {
    "mark": "marks",
    "marks": "marks",
    "margin_call": "margin_calls",
    "liquidation_started": "liquidations",
    "partial_liquidation": "liquidations",
    "liquidation": "liquidations",
    "liquidation_finished": "liquidations",
    "bankruptcy_settlement": "liquidations",
    "adl": "adl",
    "socialized_loss": "adl",
}


def topic_of(event_type: str) -> str | None:
    """The topic an event of ``event_type`` is published on (None: not streamed)."""
    return _TOPIC_OF.get(event_type)


class Subscription:
    """A subscriber's queue of ``{"topic", ...}`` messages."""

    def __init__(self, bus: Bus, topics: frozenset[str], maxsize: int) -> None:
        self.bus = bus
        self.topics = topics
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize)
        self.overflowed = False

    def offer(self, message: dict[str, Any]) -> None:
        if self.overflowed:
            return
        try:
            self.queue.put_nowait(message)
        except asyncio.QueueFull:
            self.overflowed = True

    async def get(self) -> dict[str, Any]:
        return await self.queue.get()

    def close(self) -> None:
        self.bus.unsubscribe(self)


class Bus:
    """Topic → subscribers. Not thread-safe: publish and subscribe on the event loop's thread."""

    def __init__(self) -> None:
        self._subs: dict[str, set[Subscription]] = {t: set() for t in TOPICS}

    def subscribe(self, topics: Iterable[str], maxsize: int = 10_000) -> Subscription:
        wanted = frozenset(topics)
        unknown = wanted - set(TOPICS)
        if unknown:
            raise ValueError(f"unknown topics: {', '.join(sorted(unknown))}")
        sub = Subscription(self, wanted, maxsize)
        for t in wanted:
            self._subs[t].add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        for t in sub.topics:
            self._subs[t].discard(sub)

    def publish(self, topic: str, message: dict[str, Any]) -> None:
        for sub in tuple(self._subs.get(topic, ())):
            sub.offer(message)

    def subscribers(self, topic: str) -> int:
        return len(self._subs.get(topic, ()))
