"""Webhook delivery: at least once, from the event log, by a durable cursor per subscription.

Each subscription has a worker (an asyncio task on the app's loop). It reads the log after its cursor — only the
event types it wants, straight from the database (:meth:`EventLog.read_types`) — keeps the events of its account
(all accounts for an admin's subscription without one) that its owner may see
(:func:`margincall.api.views.view_event`: a trader's webhook never carries another account), and POSTs them one
at a time, in sequence order. The cursor moves durably only after a 2xx answer; any other answer, a timeout or a
network error is retried after a wait that doubles per failure (``webhook_retry_first`` up to
``webhook_retry_max``, times a random factor in [0.5, 1] so that many failing receivers do not retry in step).
The wait is stored, so a restart keeps it. Events before a failing one are never skipped: a subscription's
deliveries stay in sequence order.

A worker is woken when the writer stores an event it wants (:meth:`Dispatcher.notify`, called by the service on
the loop after each durable batch) and scans the log every ``webhook_poll_interval`` seconds anyway.

Each POST carries the event exactly as ``GET /v1/events`` shows it to the subscription's owner, as compact JSON,
with the headers:

* ``X-Margincall-Event-Id: <seq>`` — the event's sequence number: receivers de-duplicate on it (at least once
  means a delivery may repeat, e.g. when the service stopped between the receiver's 2xx and the cursor's write);
* ``X-Margincall-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`` — verify it with the
  subscription's secret over the raw body bytes, compare in constant time, and refuse a ``t`` far from now
  (:func:`verify` does all three);
* ``X-Margincall-Event-Type`` and ``X-Margincall-Webhook-Id``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import httpx

from margincall.api.metrics import ServiceMetrics
from margincall.api.views import concerns, view_event
from margincall.api.webhook_store import DeliveryState, Webhook, WebhookStore
from margincall.risk.engine import RISK_EVENTS
from margincall.store.log import EventLog

_log = logging.getLogger(__name__)

#: The event types a webhook may carry: margin calls and every step of a liquidation (ADL included).
DELIVERABLE = RISK_EVENTS
SIGNATURE_HEADER = "X-Margincall-Signature"
EVENT_ID_HEADER = "X-Margincall-Event-Id"
EVENT_TYPE_HEADER = "X-Margincall-Event-Type"
WEBHOOK_ID_HEADER = "X-Margincall-Webhook-Id"
#: Events one scan of the log hands a worker (then it scans again after them).
SCAN_LIMIT = 200
#: How often a worker writes a cursor moved only past events it does not want (a cheap write, but one per
#: stored batch would compete with the engine's own writes for nothing: a lagging cursor costs only a re-scan).
ADVANCE_EVERY = 1.0
#: The most of an error message kept in the table.
ERROR_CHARS = 300


# -- signing ----------------------------------------------------------------------------------------------


def signature(secret: str, ts: int, body: bytes) -> str:
    """The signature header's value: ``t=<ts>,v1=<hex HMAC-SHA256(secret, "<ts>." + body)>``."""
    mac = hmac.new(secret.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={ts},v1={mac}"


def verify(secret: str, header: str, body: bytes, *, now: float | None = None, tolerance: float = 300) -> bool:
    """Whether ``header`` (an ``X-Margincall-Signature`` value) signs ``body`` with ``secret`` at a time within
    ``tolerance`` seconds of ``now``: what a receiver checks before trusting a delivery."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        ts = int(parts["t"])
        given = parts["v1"]
    except (KeyError, ValueError):
        return False
    if abs((time.time() if now is None else now) - ts) > tolerance:
        return False
    return hmac.compare_digest(signature(secret, ts, body).split("v1=", 1)[1], given)


def backoff(attempts: int, first: float, cap: float, jitter: float = 1.0) -> float:
    """Seconds to wait after the ``attempts``-th failure in a row: ``first · 2^(attempts − 1)``, at most ``cap``,
    times ``jitter`` (a factor the caller draws in [0.5, 1])."""
    return min(cap, first * 2.0 ** min(attempts - 1, 62)) * jitter


def body_of(view: dict[str, Any]) -> bytes:
    """The bytes a delivery POSTs (and signs): compact JSON, UTF-8."""
    return json.dumps(view, separators=(",", ":"), ensure_ascii=False).encode()


# -- delivery ---------------------------------------------------------------------------------------------


class _Published(Protocol):
    """What :meth:`Dispatcher.notify` reads of a stored event (the writer's ``Stored``)."""

    @property
    def type(self) -> str: ...

    @property
    def payload(self) -> dict[str, Any]: ...


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(frozen=True, slots=True)
class Options:
    timeout: float = 10.0
    retry_first: float = 1.0
    retry_max: float = 300.0
    poll_interval: float = 5.0


@dataclass(eq=False)
class _Worker:
    hook: Webhook
    state: DeliveryState
    #: Every event up to here was delivered or is not wanted (ahead of the durable cursor by skipped events).
    scanned: int
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None
    persisted_at: float = 0.0
    busy: bool = False
    paused: bool = False


class Dispatcher:
    """The workers of every subscription (see the module docstring). :meth:`start`, :meth:`add`,
    :meth:`remove`, :meth:`notify` and :meth:`stop` run on the app's event loop."""

    def __init__(self, store: WebhookStore, log: EventLog, metrics: ServiceMetrics, options: Options,
                 owner_active: Callable[[str], bool] = lambda key_id: True) -> None:
        #: Whether the principal of the key that made a subscription still holds a valid key: a subscription
        #: whose owner was revoked is paused (nothing is delivered; its cursor waits) until the owner is again.
        self.owner_active = owner_active
        self.store = store
        self.log = log
        self.metrics = metrics
        self.options = options
        self._workers: dict[str, _Worker] = {}
        self._client: httpx.AsyncClient | None = None
        self._rng = random.Random()

    @property
    def running(self) -> bool:
        return self._client is not None

    async def start(self) -> None:
        """Start a worker for every stored subscription, each after its durable cursor."""
        if self._client is not None:
            return
        self._client = httpx.AsyncClient(timeout=self.options.timeout, follow_redirects=False,
                                         headers={"User-Agent": "margincall-webhooks"})
        for hook, state in await asyncio.to_thread(self.store.all):
            self.add(hook, state)

    def add(self, hook: Webhook, state: DeliveryState) -> None:
        """Start delivering ``hook`` after ``state.cursor`` (nothing happens before :meth:`start`)."""
        if self._client is None or hook.id in self._workers:
            return
        w = _Worker(hook, state, state.cursor)
        w.task = asyncio.get_running_loop().create_task(self._run(w), name=f"webhook-{hook.id}")
        self._workers[hook.id] = w
        self._gauge()

    async def remove(self, hook_id: str) -> None:
        w = self._workers.pop(hook_id, None)
        if w is not None and w.task is not None:
            w.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await w.task
        self._gauge()

    def notify(self, events: Sequence[_Published]) -> None:
        """Wake the workers that want one of ``events`` (just stored, in sequence order)."""
        wanted = [ev for ev in events if ev.type in DELIVERABLE]
        if not wanted:
            return
        for w in self._workers.values():
            hook = w.hook
            if any(ev.type in hook.types and (hook.account is None or concerns(ev.payload, hook.account))
                   for ev in wanted):
                w.wake.set()

    def status(self, hook_id: str) -> str:
        """``failing`` (the last attempt failed), ``delivering``, ``idle`` (caught up), ``paused`` (its owner's
        key was revoked) or ``stopped`` (no worker: the service is not serving)."""
        w = self._workers.get(hook_id)
        if w is None:
            return "stopped"
        if w.paused:
            return "paused"
        return "failing" if w.state.attempts > 0 else "delivering" if w.busy else "idle"

    async def stop(self) -> None:
        """Stop every worker (a delivery in flight is abandoned: it is repeated after the restart) and write the
        cursors moved past unwanted events."""
        workers = list(self._workers.values())
        self._workers.clear()
        for w in workers:
            if w.task is not None:
                w.task.cancel()
        await asyncio.gather(*(w.task for w in workers if w.task is not None), return_exceptions=True)
        for w in workers:
            if w.scanned > w.state.cursor and w.state.attempts == 0:
                with contextlib.suppress(Exception):
                    await asyncio.to_thread(self.store.advance, w.hook.id, w.scanned)
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    # -- a worker ---------------------------------------------------------------------------------------
    async def _run(self, w: _Worker) -> None:
        while True:
            try:
                await self._round(w)
            except asyncio.CancelledError:
                raise
            except Exception:  # the database is unreachable, ...: try again later, from the durable state
                _log.exception("webhook %s: delivery round failed", w.hook.id)
                w.busy = False
                await asyncio.sleep(self.options.poll_interval)

    async def _round(self, w: _Worker) -> None:
        due = w.state.next_retry_ms - _now_ms()
        if w.state.attempts > 0 and due > 0:  # a wait stored before a restart
            await asyncio.sleep(due / 1000)
        w.wake.clear()
        w.paused = not await asyncio.to_thread(self.owner_active, w.hook.owner_key)
        if w.paused:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(w.wake.wait(), self.options.poll_interval)
            return
        events, through = await asyncio.to_thread(self._scan, w.hook, w.scanned)
        w.busy = bool(events)
        for seq, view in events:
            await self._deliver(w, seq, view)
            w.scanned = seq
        w.busy = False
        w.scanned = max(w.scanned, through)
        if w.scanned > w.state.cursor and time.monotonic() - w.persisted_at >= ADVANCE_EVERY:
            await asyncio.to_thread(self.store.advance, w.hook.id, w.scanned)
            w.state = replace(w.state, cursor=w.scanned)
            w.persisted_at = time.monotonic()
        if not events:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(w.wake.wait(), self.options.poll_interval)

    def _scan(self, hook: Webhook, after: int) -> tuple[list[tuple[int, dict[str, Any]]], int]:
        """(In a thread.) The next events ``hook`` delivers after ``after``, as its owner sees them, and the seq
        through which the log was scanned."""
        last = self.log.last_seq()
        rows = self.log.read_types(after, last, hook.types, SCAN_LIMIT)
        who = hook.principal
        out = []
        for ev in rows:
            if hook.account is not None and not concerns(ev.payload, hook.account):
                continue
            seen = view_event({"seq": ev.seq, "ts": ev.ts, "type": ev.type, "key": ev.key, "payload": ev.payload,
                               "result": ev.result}, who)
            if seen is not None:
                out.append((ev.seq, seen))
        return out, (rows[-1].seq if len(rows) == SCAN_LIMIT else last)

    async def _deliver(self, w: _Worker, seq: int, view: dict[str, Any]) -> None:
        """POST event ``seq`` until a 2xx answer, then move the cursor to it durably."""
        body = body_of(view)
        attempts = w.state.attempts if w.state.failing_seq == seq else 0
        while True:
            error = await self._post(w.hook, seq, view["type"], body)
            now = _now_ms()
            if error is None:
                await asyncio.to_thread(self.store.delivered, w.hook.id, seq, now)
                w.state = replace(w.state, cursor=max(seq, w.state.cursor), attempts=0, failing_seq=None,
                                  next_retry_ms=0, delivered=w.state.delivered + 1, last_delivered_ms=now)
                self.metrics.webhook_delivered.inc()
                self._gauge()
                return
            attempts += 1
            self.metrics.webhook_failed.inc()
            delay = backoff(attempts, self.options.retry_first, self.options.retry_max, self._rng.uniform(0.5, 1))
            due = now + int(delay * 1000)
            error = error[:ERROR_CHARS]
            await asyncio.to_thread(self.store.failed, w.hook.id, seq, attempts, due, error, now)
            w.state = replace(w.state, attempts=attempts, failing_seq=seq, next_retry_ms=due, last_error=error,
                              last_error_ms=now)
            self._gauge()
            await asyncio.sleep(delay)

    async def _post(self, hook: Webhook, seq: int, type_: str, body: bytes) -> str | None:
        """One attempt; None on a 2xx answer, else what went wrong. The answer's body is never read."""
        assert self._client is not None
        headers = {"Content-Type": "application/json", EVENT_ID_HEADER: str(seq), EVENT_TYPE_HEADER: type_,
                   WEBHOOK_ID_HEADER: hook.id, SIGNATURE_HEADER: signature(hook.secret, int(time.time()), body)}
        try:
            async with self._client.stream("POST", hook.url, content=body, headers=headers) as r:
                if 200 <= r.status_code < 300:
                    return None
                return f"HTTP {r.status_code}"
        except httpx.HTTPError as exc:
            return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__

    def _gauge(self) -> None:
        self.metrics.webhook_failing.set(sum(1 for w in self._workers.values() if w.state.attempts > 0))
