"""The risk engine: mark prices in; margin calls and the liquidation waterfall out.

A pure state machine over the ledger. :meth:`RiskEngine.process` takes one input event (a mark, a fill, a
deposit …), applies it, re-checks what it can affect, and returns every event it applied — the input and the
margin calls and liquidation steps it caused — for the caller to append to the log. :meth:`RiskEngine.apply`
applies one already-logged event (replay); the engine's own state (bands, liquidations in progress, the queue)
is a fold of the same events, so replaying a log gives the same engine.

The engine dispatches events, checks margins and keeps the margin-call bands, and queues the watches whose
equity ≤ MM at the mark for the liquidation waterfall (:mod:`margincall.risk.waterfall`: partial steps,
takeover, ADL, socialization; its arithmetic is :mod:`margincall.math.liquidation`). A side's ADL ranking is the
one at its first use in each :meth:`RiskEngine.process` call (like a venue's ADL queue refreshed once per tick);
it is kept between calls by :class:`~margincall.risk.adl_queue.AdlQueue`, which recomputes only the entries whose
inputs changed — the same ranking as a recomputation from scratch (``EngineConfig.adl_incremental=False``), so
the per-liquidation cost does not grow with the book. The watches a tick may have changed come from the
screener (:mod:`margincall.risk.screener_protocol`), which sees the engine through a narrow view.

Work per call is bounded by ``max_steps_per_tick``: the most under-margined watches go first (a priority
queue); the rest carries to the next call and shows in :attr:`RiskEngine.metrics`.
"""

from __future__ import annotations

import gc
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from margincall.ledger import ApplyResult, Ledger, Rejected, accounts_of, plain
from margincall.math.trade import charge
from margincall.model.errors import MarginCallError
from margincall.model.numbers import ZERO, to_decimal
from margincall.risk.adl import AdlRanking, adl_ranking
from margincall.risk.adl_walk import AdlWalk
from margincall.risk.events import register
from margincall.risk.executor import LiquidationExecutor, MarketExecutor
from margincall.risk.margin_call import Band, BandConfig
from margincall.risk.partial import PartialRule, partial_rule
from margincall.risk.screener_protocol import HoldersScreener, Screener
from margincall.risk.status import MarginStatus, WatchId, liquidation_price, status, watches_for
from margincall.risk.waterfall import Liquidation, Waterfall, watch_fields
from margincall.risk.work_queue import QUEUE_EVENTS, WorkQueue

#: The events of the waterfall and the margin calls: what the engine tells the world (webhooks deliver these).
RISK_EVENTS = frozenset({"margin_call", "liquidation_started", "partial_liquidation", "liquidation", "adl",
                         "socialized_loss", "liquidation_finished", "bankruptcy_settlement"})
#: Every event the engine produces (none may be an input): the above and the queue's own (:mod:`.work_queue`).
ENGINE_EVENTS = RISK_EVENTS | QUEUE_EVENTS
#: Input events after which the account's margin must be re-checked.
_ACCOUNT_EVENTS = frozenset({"fill", "withdrawal", "margin_removed", "leverage_set", "order_margin_reserved",
                             "transfer", "deposit", "margin_added"})


@dataclass(frozen=True)
class EngineConfig:
    bands: BandConfig = field(default_factory=BandConfig)
    executor: LiquidationExecutor = field(default_factory=MarketExecutor)
    max_steps_per_tick: int = 10_000
    last_resort: str = "venue"  # or "socialize"
    #: "index": the float band index (touches only watches that may have changed band); "holders": every
    #: holder of the ticked symbol, checked exactly (simple; for small books and as a reference in tests).
    screener: str = "index"
    partial_rules: Mapping[str, PartialRule] = field(default_factory=dict)  # venue → rule (overrides)
    adl_rankings: Mapping[str, AdlRanking] = field(default_factory=dict)
    enforce_reduce_only: bool = True
    #: keep the ADL rankings between calls and recompute only the entries that changed (:mod:`.adl_queue`);
    #: False recomputes each ranking from scratch at its first use in every call (same events, slower: the
    #: reference the incremental queue is tested against)
    adl_incremental: bool = True

    def partial_for(self, venue: str) -> PartialRule:
        return self.partial_rules.get(venue) or partial_rule(venue)

    def ranking_for(self, venue: str) -> AdlRanking:
        return self.adl_rankings.get(venue) or adl_ranking(venue)


@dataclass(frozen=True, slots=True)
class Applied:
    """One event the engine applied: what to append to the log."""

    type: str
    payload: dict[str, Any]
    ts: int
    result: ApplyResult


@dataclass
class Metrics:
    ticks: int = 0
    margin_calls: int = 0
    liquidations: int = 0
    partial_liquidations: int = 0
    adl: int = 0
    steps: int = 0
    carried: int = 0  # watches left in the queue at the end of the last call

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


class EngineFault(RuntimeError):
    """An internal failure after an input event was applied (a bug, never bad input): the engine's in-memory
    state no longer matches the log and must be rebuilt from it; the input is not acknowledged."""


class RiskEngine(Waterfall):
    """The risk engine: dispatch of events, margin checks and bands, the queue of liquidation work; the
    waterfall's steps are :class:`~margincall.risk.waterfall.Waterfall`."""

    def __init__(self, config: EngineConfig | None = None, ledger: Ledger | None = None,
                 screener: Screener | None = None) -> None:
        self.config = config or EngineConfig()
        self.ledger = register(ledger or Ledger())
        if screener is None:
            # imported here: the float index loads numba, which a HoldersScreener engine never needs
            from margincall.risk.screening.screener import IndexScreener

            screener = IndexScreener() if self.config.screener == "index" else HoldersScreener()
        self.screener: Screener = screener
        self.bands: dict[WatchId, Band] = {}
        self._banded: dict[str, set[WatchId]] = {}  # account → its watches in self.bands
        self.active: dict[WatchId, Liquidation] = {}
        #: the watches waiting for the waterfall; the part carried between calls is folded from the log
        self.queued = WorkQueue()
        self.next_liquidation = 1
        self.metrics = Metrics()
        self._out: list[Applied] | None = None
        self._ts = 0
        self._recheck_all = False  # after a restore from a snapshot: check every watch once
        #: the ADL rankings, derived state kept between calls (:mod:`margincall.risk.adl_queue`), and their walk
        self._walk = AdlWalk(self.ledger, incremental=self.config.adl_incremental)
        self._calls = 0  # process() calls so far: a ranking is refreshed at its first use in each call
        self._budget = self.config.max_steps_per_tick  # steps left in this process() call
        #: accounts other than the liquidated ones that the waterfall's events changed in this call
        self._touched: set[str] = set()
        #: exact statuses computed during one process() call, dropped when an event touches their account
        self._status_cache: dict[str, dict[WatchId, MarginStatus]] = {}

    # ----------------------------------------------------------------------------------------- replay path
    def apply(self, event_type: str, payload: Mapping[str, Any], ts: int = 0) -> ApplyResult:
        """Apply one logged event (to the ledger, and fold it into the engine's own state)."""
        result = self.ledger.apply(event_type, payload, ts)
        self._applied(event_type, payload, ts, result.accounts)
        return result

    def fold(self, event_type: str, payload: Mapping[str, Any], ts: int = 0) -> None:
        """:meth:`apply` for recovery (what :func:`margincall.store.journal.fold_log` calls): the ledger folds the
        logged event as an accepted fact (:meth:`Ledger.fold`) and no result is made; the engine's own state is
        folded exactly as by :meth:`apply`."""
        self.ledger.fold(event_type, payload, ts)
        # no result is made: the accounts are read back from the logged payload (the same answer as the result's
        # for every event whose accounts matter here; funding and marks are handled by symbol)
        self._applied(event_type, payload, ts, accounts_of(payload))

    def _applied(self, event_type: str, payload: Mapping[str, Any], ts: int, accounts: Sequence[str]) -> None:
        """Fold an applied event into the engine's state and tell what keeps derived state (the ADL rankings,
        the status cache, the screener) which accounts it concerns (:attr:`ApplyResult.accounts`)."""
        if event_type in QUEUE_EVENTS:  # no ledger state changed: nothing derived from it moves
            self._walk.queue.on_applied(event_type, payload, ())
            self.queued.fold(event_type, payload, self._out is not None)
            return
        self._walk.queue.on_applied(event_type, payload, accounts)
        self._fold(event_type, payload, ts)
        if self._status_cache:
            self._invalidate(event_type, accounts)
        self.screener.on_applied(self, event_type, payload, accounts)

    def _invalidate(self, event_type: str, accounts: Sequence[str]) -> None:
        if event_type in ("mark", "marks", "funding", "market_listed"):
            self._status_cache.clear()
            return
        cache = self._status_cache
        for account in accounts:
            cache.pop(account, None)

    def _cached_status(self, watch: WatchId) -> MarginStatus:
        per = self._status_cache.setdefault(watch.account, {})
        st = per.get(watch)
        if st is None:
            st = per[watch] = status(self.ledger, watch)
        return st

    def _fold(self, event_type: str, p: Mapping[str, Any], ts: int) -> None:
        if event_type not in RISK_EVENTS:
            return
        self.queued.fold(event_type, p, self._out is not None)
        if event_type == "adl" or event_type == "socialized_loss" or event_type == "bankruptcy_settlement":
            return
        watch = WatchId(p["scope"], p["account"], p["what"])
        if event_type == "margin_call":
            self._set_band(watch, Band.of(p["band"]))
        elif event_type == "liquidation_started":
            lid = p["liquidation_id"]
            self.active[watch] = Liquidation(lid)
            self.next_liquidation = max(self.next_liquidation, int(lid.lstrip("L")) + 1)
        elif event_type == "partial_liquidation":
            st = self.active.get(watch)
            if st is not None:
                st.steps += 1
                st.last_step_ts = ts
        elif event_type == "liquidation_finished":
            self.active.pop(watch, None)

    # ------------------------------------------------------------------------------------------- live path
    def process(self, event_type: str, payload: Mapping[str, Any], ts: int = 0) -> list[Applied]:
        """Apply an input event and everything it causes; returns all of it, in order, for the log."""
        if not isinstance(event_type, str):
            raise Rejected("unknown_event_type", f"type: expected a string, got {event_type!r}", field="type")
        if not isinstance(payload, Mapping):
            raise Rejected("invalid_payload", "payload must be a JSON object", field="payload")
        if event_type in ENGINE_EVENTS:
            raise Rejected("reserved_event_type", f"{event_type} events are produced by the engine only",
                           field="type")
        if event_type == "fill" and self.config.enforce_reduce_only:
            self._check_reduce_only(payload)
        out: list[Applied] = []
        self._out = out
        self._ts = ts
        self._budget = self.config.max_steps_per_tick
        self._touched = set()
        self._calls += 1
        self._status_cache = {}
        self.queued.begin_call()
        try:
            result = self.apply(event_type, payload, ts)
        except BaseException:
            self._out = None
            raise
        out.append(Applied(event_type, dict(payload), ts, result))
        try:
            watches: set[WatchId] = set()
            if event_type == "mark":
                self.metrics.ticks += 1
                watches |= set(self.screener.candidates(self, [str(payload["symbol"])]))
            elif event_type == "marks":  # one tick of many symbols: every watch checked once, at all the new marks
                self.metrics.ticks += 1
                watches |= set(self.screener.candidates(self, [str(m["symbol"]) for m in payload["marks"]]))
            elif event_type == "funding":
                watches |= set(HoldersScreener().candidates(self, [str(payload["symbol"])]))
            elif event_type in _ACCOUNT_EVENTS:
                for acct in result.accounts:
                    watches |= self._watches_of(acct)
            # a liquidation in progress and not queued (waiting out a cooldown) is put back in the queue by _check; a
            # queued watch is not re-checked on every call (a crash queues a hundred thousand): whatever can change
            # its status reaches it as above — its symbols' marks through the screener, its account's events, and
            # the waterfall's events on it (its own liquidation, or _touched)
            watches |= {w for w in self.active if w not in self.queued}
            if self._recheck_all:
                led = self.ledger
                watches |= {watches_for(led, k) for k in led.positions}
                self._recheck_all = False
            # a crash tick is a batch of thousands of events: no cyclic collection in the middle of it (the journal,
            # which calls this, holds the collector for its whole batch already)
            pause = bool(watches) and gc.isenabled()
            if pause:
                gc.disable()
            try:
                self._check(watches)
                self._work()
                # accounts the waterfall changed on the way (ADL counterparties reduced at a bankruptcy price worse
                # than the mark, socialized-loss payers): checked again now, and liquidated within the same budget
                # if that pushed them to or below MM — their bands were built before, so no later tick would see it
                while self._touched:
                    touched, self._touched = self._touched, set()
                    self._check(set().union(*(self._watches_of(a) for a in touched)))
                    self._work()
                # the work carried to the next call, in the log (so a rebuilt engine takes it in the same order)
                for queue_event, queue_payload in self.queued.changes():
                    self._emit(queue_event, queue_payload)
                self.screener.flush(self)
            finally:
                if pause:
                    gc.enable()
        except Exception as exc:
            # The input was valid and applied; what failed is the engine's own reaction to it. The engine's state
            # is now partly changed: the caller (the Journal) must rebuild it from the log.
            raise EngineFault(f"the engine failed while reacting to {event_type}: {exc}") from exc
        finally:
            self._out = None
        return out

    def _check_reduce_only(self, p: Mapping[str, Any]) -> None:
        acct, symbol = p.get("account"), p.get("symbol")
        if not isinstance(acct, str) or not isinstance(symbol, str) or symbol not in self.ledger.markets:
            return
        if p.get("reduce_only") is True:
            return
        asset = self.ledger.markets[symbol].instrument.settle_asset
        band = self.bands.get(WatchId.cross(acct, asset), Band.HEALTHY)
        if band >= Band.REDUCE_ONLY:
            led = self.ledger
            size = p.get("size")
            held = ZERO
            for pos in led.positions_of(acct):
                if pos.key.symbol == symbol and not pos.is_isolated:
                    held += pos.size
            side = p.get("side")
            try:
                amount = to_decimal(size, "size")  # type: ignore[arg-type]
            except MarginCallError:
                return  # a bad size: the ledger refuses the fill with its own code
            signed = amount if side == "buy" else -amount if side == "sell" else ZERO
            reduces = held != 0 and (held > 0) != (signed > 0) and abs(signed) <= abs(held)
            if not reduces:
                raise Rejected("reduce_only_band", f"account {acct} is in the {band.label} band: only fills that "
                               "reduce a position are accepted", field="side")

    def _watches_of(self, account: str) -> set[WatchId]:
        led = self.ledger
        return {watches_for(led, k) for k in led.by_account.get(account, ())}.union(self._banded.get(account, ()))

    def _set_band(self, watch: WatchId, band: Band) -> None:
        self.bands[watch] = band
        self._banded.setdefault(watch.account, set()).add(watch)

    def _emit(self, event_type: str, payload: dict[str, Any]) -> ApplyResult:
        result = self.apply(event_type, payload, self._ts)
        if event_type == "adl" or event_type == "socialized_loss":  # accounts other than the one liquidated
            bankrupt = payload.get("bankrupt_account")
            self._touched.update(a for a in result.accounts if a != bankrupt)
        if self._out is not None:
            self._out.append(Applied(event_type, payload, self._ts, result))
        return result

    # ----------------------------------------------------------------------------------- checks and bands
    def _check(self, watches: Iterable[WatchId]) -> None:
        cached = self._cached_status
        for watch in sorted(watches, key=str):
            st = cached(watch)
            self._update_band(watch, st)
            if (st.liquidatable or watch in self.active) and watch not in self.queued:
                self._enqueue(watch, st)

    def _update_band(self, watch: WatchId, st: MarginStatus) -> None:
        current = self.bands.get(watch, Band.HEALTHY)
        new = self.config.bands.next_band(current, st.maintenance_margin, st.equity) if st.positions else Band.HEALTHY
        if new == current:
            return
        ratio = st.ratio
        marks: dict[str, str | None] = {}
        if new in (Band.WARNING, Band.REDUCE_ONLY):  # where liquidation would start: the warning's key number
            for pos in st.positions:
                lp = liquidation_price(self.ledger, watch, pos.key.symbol)
                marks[pos.key.symbol] = None if lp is None else plain(lp)
        self.metrics.margin_calls += 1
        self._emit("margin_call", {
            **watch_fields(watch), "band": new.label, "previous_band": current.label,
            "equity": plain(st.equity), "maintenance_margin": plain(st.maintenance_margin),
            "margin_ratio": None if ratio is None else plain(ratio),
            "liquidation_marks": marks,
            "deposit_to_healthy": plain(charge(self.config.bands.deposit_to_healthy(st.maintenance_margin, st.equity),
                                              self.ledger.unit)),
        })

    def _enqueue(self, watch: WatchId, st: MarginStatus) -> None:
        self.queued.push(watch, st)  # most under-margined first (:func:`.work_queue.priority`)

    def _work(self) -> None:
        """Work the queue, most under-margined first, within what is left of this call's step budget."""
        waiting: list[WatchId] = []
        while self.queued and self._budget > 0:
            watch = self.queued.pop()
            used, done = self._liquidate(watch, self._budget)
            self._budget -= used
            if not done:
                waiting.append(watch)
        for watch in waiting:
            if watch not in self.queued:
                self._enqueue(watch, self._cached_status(watch))
        self.metrics.carried = len(self.queued) - len(waiting)

    def most_at_risk(self, limit: int) -> list[MarginStatus]:
        """The ``limit`` watches with the highest margin ratio MM / equity (equity ≤ 0 first), exactly ordered;
        the float screen narrows the candidates when the screener has one (a book of a million positions is not
        valued in Decimal for one dashboard refresh)."""
        led = self.ledger
        rows = [st for st in (status(led, w) for w in set(self.screener.most_at_risk(self, 2 * limit + 50)))
                if st.positions]

        def key(st: MarginStatus) -> tuple[int, Decimal, str]:
            ratio = st.ratio
            return (0, Decimal(0), str(st.watch)) if ratio is None else (1, -ratio, str(st.watch))

        return sorted(rows, key=key)[:limit]

    def audit(self) -> list[WatchId]:
        """Full re-screen (vectorised, confirmed exactly): watches past a band threshold that the engine has
        not acted on. The incremental path must leave this empty; metrics and tests check it."""
        return self.screener.audit(self)

    # ----------------------------------------------------------------------- what a screener sees (EngineView)
    @property
    def band_config(self) -> BandConfig:
        return self.config.bands

    def in_waterfall(self, watch: WatchId) -> bool:
        return watch in self.active or watch in self.queued

    # --------------------------------------------------------------------------------------------- state
    def snapshot(self) -> dict[str, Any]:
        out = {
            "ledger": self.ledger.snapshot(),
            "bands": sorted([str(w.scope), w.account, w.what, b.label] for w, b in self.bands.items()),
            "active": sorted([w.scope, w.account, w.what, s.liquidation_id, s.steps, s.last_step_ts]
                             for w, s in self.active.items()),
            "next_liquidation": self.next_liquidation,
        }
        if self.queued.carried:  # only when work is carried: an engine without keeps the digest it always had
            out["queue"] = self.queued.snapshot()
        return out

    @classmethod
    def from_snapshot(cls, data: Mapping[str, Any], config: EngineConfig | None = None) -> RiskEngine:
        engine = cls(config, Ledger.from_snapshot(data["ledger"]))
        for s, a, w, b in data["bands"]:
            engine._set_band(WatchId(s, a, w), Band.of(b))
        engine.active = {WatchId(s, a, w): Liquidation(lid, steps, last) for s, a, w, lid, steps, last in
                         data["active"]}
        engine.next_liquidation = int(data["next_liquidation"])
        engine.queued.restore(data.get("queue", []))
        engine.screener.restore(engine)
        engine._recheck_all = True
        return engine

    def digest(self) -> str:
        import hashlib
        import json

        return hashlib.sha256(json.dumps(self.snapshot(), sort_keys=True, default=str).encode()).hexdigest()

    def conservation_error(self) -> str | None:
        return self.ledger.conservation_error()

    @property
    def events_applied(self) -> int:
        return self.ledger.events_applied

    @property
    def last_ts(self) -> int:
        return self.ledger.last_ts
