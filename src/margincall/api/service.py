"""The service behind the app: one durable engine, the key store, the writer thread, the bus and the metrics.

Everything that changes the engine goes through :meth:`Service.submit` (the single writer), so every stored
event reaches the bus in sequence order. In-process producers (the demo's feed) use the same door:
``await service.submit([...])`` on the app's loop, or ``service.submit_from_thread([...])`` from another thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import TypeVar

from margincall.api.keys import KeyStore, Role
from margincall.api.liquidation_map import BookCache
from margincall.api.metrics import ServiceMetrics
from margincall.api.pricing import PriceDesk
from margincall.api.ratelimit import TokenBuckets
from margincall.api.tickets import Tickets
from margincall.api.views import InsuranceHistory
from margincall.api.webhook_store import WebhookStore
from margincall.api.webhooks import Dispatcher, Options
from margincall.api.writer import Stored, Writer
from margincall.bus import Bus, topic_of
from margincall.config import Settings
from margincall.risk.engine import RiskEngine
from margincall.store.engine import open_engine
from margincall.store.journal import Ack, Command, Journal, Outcome

_log = logging.getLogger(__name__)
T = TypeVar("T")


class Service:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.started = time.time()
        self.journal: Journal = open_engine(settings.database, settings.engine.to_config(),
                                            snapshot_every=settings.snapshot_every)
        try:
            self.keys = KeyStore(settings.database)
        except Exception:
            self.journal.log.close()
            raise
        try:
            hooks = WebhookStore(settings.database)
        except Exception:
            self.keys.close()
            self.journal.log.close()
            raise
        #: The bootstrap admin key when it is known in clear: from the settings, or generated now because the
        #: database had no admin key. None when an earlier run created it (only its hash is stored).
        self.admin_key: str | None = None
        self.admin_key_generated = False
        if settings.admin_key is not None:
            self.admin_key = settings.admin_key.get_secret_value()
            self.keys.set_config_admin(self.admin_key)
        elif not self.keys.has_admin():
            self.admin_key = self.keys.create(Role.ADMIN)
            self.admin_key_generated = True
        self.metrics = ServiceMetrics()
        #: Webhook delivery (started and stopped by the app's lifespan, on its loop).
        self.webhooks = Dispatcher(hooks, self.journal.log, self.metrics, Options(
            timeout=settings.webhook_timeout, retry_first=settings.webhook_retry_first,
            retry_max=settings.webhook_retry_max, poll_interval=settings.webhook_poll_interval),
            owner_active=self.keys.principal_active)
        self.bus = Bus()
        self.tickets = Tickets()
        self.limits = TokenBuckets(settings.rate_limit_per_second, settings.rate_limit_burst)
        #: Read rate limits: one set of token buckets (per key) for each role, at that role's rate.
        self.read_limits = {role: TokenBuckets(*settings.read_limits.of(role.value)) for role in Role}
        self.insurance = InsuranceHistory(settings.insurance_history)
        #: The book's map rows at the last sequence number read (``GET /v1/liquidation-map``).
        self.book_cache = BookCache(settings.liquidation_map_max_age_ms / 1000)
        after = 0
        while True:  # only the events that moved the fund, through the log's index of them
            page = self.journal.log.page(after, 1000, fund=True)
            self.insurance.fold_all(page.events)
            if not page.more:
                break
            after = page.next_after
        for asset, bal in self.insurance.balances.items():
            self.metrics.insurance.labels(asset).set(float(bal))
        self.loop: asyncio.AbstractEventLoop | None = None
        self.writer = Writer(self.journal, self._publish, self._observe, max_batch=settings.commit_max_batch)
        self.prices = PriceDesk(
            self.read, sources=settings.index_sources, max_move=settings.mark_max_move, breaker=settings.mark_breaker,
            max_age_ms=settings.mark_max_age_ms, index_max_age_ms=settings.index_max_age_ms,
            outlier_band=settings.index_outlier_band, min_sources=settings.index_min_sources,
            key_seen=lambda key: self.journal.log.by_key(key) is not None,
            ts_max_ahead_ms=settings.ts_max_ahead_ms, ts_max_behind_ms=settings.ts_max_behind_ms)
        self._closed = False

    # -- writing ----------------------------------------------------------------------------------------
    async def submit(self, commands: list[Command]) -> list[Outcome]:
        """Apply and store ``commands`` in order (with everything they cause); one outcome per command."""
        self.loop = asyncio.get_running_loop()
        return await self.writer.submit(commands)

    def submit_from_thread(self, commands: list[Command], timeout: float | None = 60) -> list[Outcome]:
        """:meth:`submit` from a thread other than the app's event loop (needs the app to be serving)."""
        if self.loop is None:
            raise RuntimeError("the app has not started serving yet")
        return asyncio.run_coroutine_threadsafe(self.submit(commands), self.loop).result(timeout)

    # -- reading ----------------------------------------------------------------------------------------
    @property
    def engine(self) -> RiskEngine:
        engine = self.journal.ledger
        assert isinstance(engine, RiskEngine)
        return engine

    def read(self, fn: Callable[[RiskEngine], T]) -> T:
        """Run ``fn`` on the engine under the journal's lock (call it in a worker thread)."""
        with self.journal._lock:
            return fn(self.engine)

    @property
    def last_seq(self) -> int:
        return self.journal.last_seq

    # -- bus and metrics --------------------------------------------------------------------------------
    def _publish(self, events: list[Stored]) -> None:
        """On the event loop: every stored event to its topic, and the insurance fund's balance changes; the
        webhook workers that want one of the events are woken."""
        self.webhooks.notify(events)
        for ev in events:
            d = ev.to_dict()
            topic = topic_of(ev.type)
            if topic is not None:
                self.bus.publish(topic, {"topic": topic, **d})
            for asset, (change, balance) in self.insurance.fold(ev.ts, ev.result).items():
                self.metrics.insurance.labels(asset).set(float(balance))
                self.bus.publish("insurance_fund", {
                    "topic": "insurance_fund", "seq": ev.seq, "ts": ev.ts, "type": "insurance_fund",
                    "payload": {"asset": asset, "balance": format(balance, "f"), "change": format(change, "f"),
                                "cause": ev.type}})

    def _observe(self, commands: list[Command], outcomes: list[Outcome], enqueued: list[float]) -> None:
        """In the writer thread, right after a batch is durable."""
        now = time.perf_counter()
        m = self.metrics
        for c, o, t0 in zip(commands, outcomes, enqueued, strict=True):
            if not isinstance(o, Ack) or o.duplicate:
                continue
            m.events.labels(c.type).inc()
            for e in o.caused:
                m.events.labels(e.type).inc()
                if e.type == "liquidation_started":
                    m.liquidations.inc()
            if c.type == "mark" or c.type == "marks":
                m.tick_latency.observe(now - t0)
        m.carried.set(self.engine.metrics.carried)

    # -- shutdown ---------------------------------------------------------------------------------------
    def close(self) -> None:
        """Write what is queued, snapshot, and close the log, the key store and the webhook table (idempotent;
        stop the webhook workers first: ``await service.webhooks.stop()``)."""
        if self._closed:
            return
        self._closed = True
        self.writer.close()
        with contextlib.suppress(Exception):
            if self.journal.log.last_seq() > 0:
                self.journal.snapshot_now()
        self.keys.close()
        self.webhooks.store.close()
        self.journal.log.close()

    def __enter__(self) -> Service:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

