"""Prometheus metrics of one service (its own registry, so several apps can live in one process)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics, generate_latest

# The *_created gauges (counter creation times) only add noise to a dashboard.
disable_created_metrics()  # type: ignore[no-untyped-call]

#: Tick latency buckets in seconds: sub-millisecond ticks up to multi-second cascades.
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class ServiceMetrics:
    """``margincall_tick_latency_seconds``: from a mark's arrival at the writer queue to the moment it and every
    event it caused are durable; ``margincall_events_total{type}``: stored events (rate() gives events/s);
    ``margincall_liquidations_total``: liquidations started; ``margincall_refused_total{code}``: inputs refused;
    ``margincall_rate_limited_total`` and ``margincall_read_rate_limited_total{role}``: requests refused by the
    ingestion and the read rate limits; ``margincall_carried_work``: watches the engine left for the next tick
    (``max_steps_per_tick``); ``margincall_insurance_fund{asset}``: the fund's balance;
    ``margincall_webhook_deliveries_total`` and ``margincall_webhook_failures_total``: webhook deliveries (2xx)
    and failed attempts; ``margincall_webhooks_failing``: subscriptions whose last attempt failed."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.tick_latency = Histogram("margincall_tick_latency_seconds",
                                      "Time to process one mark including the events it caused (durable)",
                                      buckets=LATENCY_BUCKETS, registry=r)
        self.events = Counter("margincall_events", "Stored events by type", ["type"], registry=r)
        self.liquidations = Counter("margincall_liquidations", "Liquidations started", registry=r)
        self.carried = Gauge("margincall_carried_work", "Watches queued for liquidation work carried to the next "
                             "tick", registry=r)
        self.insurance = Gauge("margincall_insurance_fund", "Insurance fund balance", ["asset"], registry=r)
        self.refused = Counter("margincall_refused", "Inputs refused, by code (out_of_order, stale, clock_skew, "
                               "insufficient_margin, ...)", ["code"], registry=r)
        self.webhook_delivered = Counter("margincall_webhook_deliveries", "Webhook deliveries answered with a 2xx",
                                         registry=r)
        self.webhook_failed = Counter("margincall_webhook_failures", "Webhook delivery attempts that failed "
                                      "(non-2xx answer, timeout, network error); each is retried", registry=r)
        self.webhook_failing = Gauge("margincall_webhooks_failing", "Webhook subscriptions whose last delivery "
                                     "attempt failed", registry=r)
        self.http_rejected = Counter("margincall_rate_limited", "Requests refused by the rate limiter",
                                     registry=r)
        self.read_rejected = Counter("margincall_read_rate_limited", "Reads refused by the read rate limit of "
                                     "the key's role", ["role"], registry=r)

    def render(self) -> bytes:
        return generate_latest(self.registry)
