"""The risk engine: mark prices in; margin calls and the liquidation waterfall out.

A pure state machine over the ledger. :meth:`RiskEngine.process` takes one input event (a mark, a fill, a
deposit …), applies it, re-checks what it can affect, and returns every event it applied — the input and the
margin calls and liquidation steps it caused — for the caller to append to the log. :meth:`RiskEngine.apply`
applies one already-logged event (replay); the engine's own state (bands, liquidations in progress, the queue)
is a fold of the same events, so replaying a log gives the same engine.

Waterfall per watched account (cross, per settle asset) or isolated position, once equity ≤ MM at the mark
(docs/venues.md §12.5):

1. ``liquidation_started``: the account's orders are cancelled (reserved margin released).
2. ``partial_liquidation`` steps by the venue's rule (:mod:`margincall.risk.partial`) at the executor's
   price, liquidation fee to the insurance fund, stopping as soon as equity > MM again.
3. Full close at the executor's fill (``liquidation``), then the remaining equity is settled with the
   insurance fund (``bankruptcy_settlement``) — the liquidation fee and the surplus above bankruptcy in, a
   deficit paid — when the fund can absorb it.
4. If the equity is below zero and the fund cannot pay the deficit: auto-deleveraging — the opposite positions
   ranked by the venue's formula (:mod:`margincall.risk.adl`) are reduced at the bankruptcy price (``adl``),
   the bankrupt position closes against them at that price; what no counterparty can take closes against the
   venue, and with ``last_resort="socialize"`` that loss is charged to the profitable accounts
   (``socialized_loss``). A side's ranking is the one at its first use in each :meth:`RiskEngine.process`
   call (like a venue's ADL queue refreshed once per tick); it is kept between calls by
   :class:`~margincall.risk.adl_queue.AdlQueue`, which recomputes only the entries whose inputs changed — the
   same ranking as a recomputation from scratch (``EngineConfig.adl_incremental=False``), so the per-liquidation
   cost does not grow with the book.

Work per call is bounded by ``max_steps_per_tick``: the most under-margined watches go first (a priority
queue); the rest carries to the next call and shows in :attr:`RiskEngine.metrics`.
"""

from __future__ import annotations

import gc
import heapq
from bisect import bisect_left
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol

from margincall.ledger import ApplyResult, Ledger, PositionKey, PositionState, Rejected
from margincall.ledger.types import INSURANCE
from margincall.math.contracts import notional_of, pnl_of
from margincall.math.liquidation import (
    ClosingLeg,
    bankruptcy_prices_sharing_equity_pro_rata_to_notional,
    liquidation_fee_rounded_up,
    nominal_liquidation_fee,
    partial_step_cost_fee_plus_slippage,
    price_in_event,
    socialized_loss_shares_pro_rata_to_profit,
    takeover_fund_result_after_closing_at_fills,
)
from margincall.math.trade import charge
from margincall.model.enums import ContractKind
from margincall.model.errors import MarginCallError
from margincall.model.numbers import ZERO, to_decimal
from margincall.risk.adl import AdlRanking, adl_ranking
from margincall.risk.adl_queue import AdlQueue, Entry
from margincall.risk.events import register
from margincall.risk.executor import LiquidationExecutor, MarketExecutor
from margincall.risk.margin_call import Band, BandConfig
from margincall.risk.partial import PartialRule, partial_rule
from margincall.risk.status import MarginStatus, WatchId, liquidation_price, status, watches_for

RISK_EVENTS = frozenset({"margin_call", "liquidation_started", "partial_liquidation", "liquidation", "adl",
                         "socialized_loss", "liquidation_finished", "bankruptcy_settlement"})
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
class _Liquidation:
    liquidation_id: str
    steps: int = 0
    last_step_ts: int | None = None


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


class Screener(Protocol):
    """Finds the watches a tick that moved the marks of ``symbols`` (already applied) may have changed (the float
    index lives behind this)."""

    def candidates(self, engine: RiskEngine, symbols: Iterable[str]) -> Iterable[WatchId]: ...


class HoldersScreener:
    """Every watch holding the symbol (exact and simple; the float band index narrows this for big books)."""

    def candidates(self, engine: RiskEngine, symbols: Iterable[str]) -> Iterable[WatchId]:
        led = engine.ledger
        return {watches_for(led, k) for symbol in symbols for k in led.by_symbol.get(symbol, ())}


def _d(x: Decimal) -> str:
    """A Decimal as plain text for an event payload (never exponent notation: ``0E-8`` → ``0.00000000``)."""
    return format(x, "f")


#: entries per block of an ADL walk (:meth:`RiskEngine._walk_blocks`)
_BLOCK = 16
#: (start, end, position keys, entry price nearest to profit) of one block; no keys and no price: walk it all
_Block = tuple[int, int, frozenset[PositionKey] | None, Decimal | None]


def _leg(led: Ledger, pos: PositionState) -> ClosingLeg:
    """A position being closed, for the formulas of :mod:`margincall.math.liquidation`."""
    inst = led.markets[pos.key.symbol].instrument
    return ClosingLeg(inst.kind, pos.sign, abs(pos.size) * inst.contract_size, led.price_for(pos.key.symbol))


def _pkey(watch: WatchId) -> dict[str, str]:
    return {"account": watch.account, "scope": watch.scope, "what": watch.what}


class RiskEngine:
    def __init__(self, config: EngineConfig | None = None, ledger: Ledger | None = None,
                 screener: Screener | None = None) -> None:
        self.config = config or EngineConfig()
        self.ledger = register(ledger or Ledger())
        if screener is None:
            from margincall.risk.screener import IndexScreener

            screener = IndexScreener() if self.config.screener == "index" else HoldersScreener()
        self.screener: Screener = screener
        self.bands: dict[WatchId, Band] = {}
        self._banded: dict[str, set[WatchId]] = {}  # account → its watches in self.bands
        self.active: dict[WatchId, _Liquidation] = {}
        self.queue: list[tuple[Decimal, str, WatchId]] = []
        self.queued: set[WatchId] = set()
        self.next_liquidation = 1
        self.metrics = Metrics()
        self._out: list[Applied] | None = None
        self._ts = 0
        self._recheck_all = False  # after a restore from a snapshot: check every watch once
        #: the ADL rankings, derived state kept between calls (:mod:`margincall.risk.adl_queue`)
        self._adl = AdlQueue(self.ledger, incremental=self.config.adl_incremental)
        self._calls = 0  # process() calls so far: a ranking is refreshed at its first use in each call
        self._budget = self.config.max_steps_per_tick  # steps left in this process() call
        #: accounts other than the liquidated ones that the waterfall's events changed in this call
        self._touched: set[str] = set()
        #: exact statuses computed during one process() call, dropped when an event touches their account
        self._status_cache: dict[str, dict[WatchId, MarginStatus]] = {}
        #: per ADL side, the blocks of its ranking walked in this call (:meth:`_walk_blocks`)
        self._blocks: dict[tuple[str, int], tuple[int, list[Entry], int, list[_Block]]] = {}
        #: per ADL side, the suffix edges of its blocks (:meth:`_suffix_edges`)
        self._suffix: dict[tuple[str, int], tuple[list[_Block], int, list[Decimal | None]]] = {}

    # ----------------------------------------------------------------------------------------- replay path
    def apply(self, event_type: str, payload: Mapping[str, Any], ts: int = 0) -> ApplyResult:
        """Apply one logged event (to the ledger, and fold it into the engine's own state)."""
        result = self.ledger.apply(event_type, payload, ts)
        self._applied(event_type, payload, ts)
        return result

    def fold(self, event_type: str, payload: Mapping[str, Any], ts: int = 0) -> None:
        """:meth:`apply` for recovery (what :func:`margincall.store.journal.fold_log` calls): the ledger folds the
        logged event as an accepted fact (:meth:`Ledger.fold`) and no result is made; the engine's own state is
        folded exactly as by :meth:`apply`."""
        self.ledger.fold(event_type, payload, ts)
        self._applied(event_type, payload, ts)

    def _applied(self, event_type: str, payload: Mapping[str, Any], ts: int) -> None:
        self._adl.on_applied(event_type, payload)
        self._fold(event_type, payload, ts)
        if self._status_cache:
            self._invalidate(event_type, payload)
        hook = getattr(self.screener, "on_applied", None)
        if hook is not None:
            hook(self, event_type, payload)

    def _invalidate(self, event_type: str, p: Mapping[str, Any]) -> None:
        if event_type in ("mark", "marks", "funding", "market_listed"):
            self._status_cache.clear()
            return
        cache = self._status_cache
        for k in ("account", "from", "to"):
            v = p.get(k)
            if isinstance(v, str):
                cache.pop(v, None)
        for share in p.get("shares", ()) or ():
            if isinstance(share, Mapping):
                cache.pop(share.get("account"), None)  # type: ignore[arg-type]

    def _cached_status(self, watch: WatchId) -> MarginStatus:
        per = self._status_cache.setdefault(watch.account, {})
        st = per.get(watch)
        if st is None:
            st = per[watch] = status(self.ledger, watch)
        return st

    def _fold(self, event_type: str, p: Mapping[str, Any], ts: int) -> None:
        if event_type not in RISK_EVENTS:
            return
        if event_type == "adl" or event_type == "socialized_loss" or event_type == "bankruptcy_settlement":
            return
        watch = WatchId(p["scope"], p["account"], p["what"])
        if event_type == "margin_call":
            self._set_band(watch, Band.of(p["band"]))
        elif event_type == "liquidation_started":
            lid = p["liquidation_id"]
            self.active[watch] = _Liquidation(lid)
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
        if event_type in RISK_EVENTS:
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
                for key in ("account", "from", "to"):
                    acct = payload.get(key)
                    if isinstance(acct, str):
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
                flush = getattr(self.screener, "flush", None)
                if flush is not None:
                    flush(self)
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
        if event_type == "adl":
            self._touched.add(payload["account"])
        elif event_type == "socialized_loss":
            self._touched.update(share["account"] for share in payload["shares"])
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
                marks[pos.key.symbol] = None if lp is None else _d(lp)
        self.metrics.margin_calls += 1
        self._emit("margin_call", {
            **_pkey(watch), "band": new.label, "previous_band": current.label,
            "equity": _d(st.equity), "maintenance_margin": _d(st.maintenance_margin),
            "margin_ratio": None if ratio is None else _d(ratio),
            "liquidation_marks": marks,
            "deposit_to_healthy": _d(charge(self.config.bands.deposit_to_healthy(st.maintenance_margin, st.equity),
                                              self.ledger.unit)),
        })

    def _enqueue(self, watch: WatchId, st: MarginStatus) -> None:
        # most under-margined first: larger MM/equity first; equity ≤ 0 before everything
        key = -(st.maintenance_margin / st.equity) if st.equity > 0 else Decimal("-1e30") + st.equity
        heapq.heappush(self.queue, (key, str(watch), watch))
        self.queued.add(watch)

    def _work(self) -> None:
        """Work the queue, most under-margined first, within what is left of this call's step budget."""
        waiting: list[WatchId] = []
        while self.queue and self._budget > 0:
            _k, _s, watch = heapq.heappop(self.queue)
            self.queued.discard(watch)
            used, done = self._liquidate(watch, self._budget)
            self._budget -= used
            if not done:
                waiting.append(watch)
        for watch in waiting:
            if watch not in self.queued:
                self._enqueue(watch, self._cached_status(watch))
        self.metrics.carried = len(self.queue) - len(waiting)

    # ------------------------------------------------------------------------------------------ waterfall
    def _liquidate(self, watch: WatchId, budget: int) -> tuple[int, bool]:
        """Run the waterfall for ``watch`` for at most ``budget`` steps: (steps used, finished?)."""
        led = self.ledger
        used = 0
        cached = self._cached_status
        st = cached(watch)
        if watch not in self.active:
            if not st.liquidatable:
                return 0, True
            lid = f"L{self.next_liquidation}"
            ratio = st.ratio
            self._emit("liquidation_started", {
                **_pkey(watch), "liquidation_id": lid, "equity": _d(st.equity),
                "maintenance_margin": _d(st.maintenance_margin),
                "margin_ratio": None if ratio is None else _d(ratio),
                "marks": {p.key.symbol: _d(led.price_for(p.key.symbol)) for p in st.positions},
            })
            self.metrics.liquidations += 1
        state = self.active[watch]
        while used < budget:
            st = cached(watch)
            if not st.positions or not st.liquidatable:
                self._finish(watch, "restored" if st.positions else "closed")
                return used + 1, True
            pos = max(st.positions, key=lambda p: (led.position_mm(p, led.price_for(p.key.symbol)), p.key.symbol))
            market = led.markets[pos.key.symbol]
            rule = self.config.partial_for(market.venue)
            since = None if state.last_step_ts is None else self._ts - state.last_step_ts
            mark = led.price_for(pos.key.symbol)
            step = rule.step(market, abs(pos.size), mark, state.steps, since)
            if step is None:
                return used, False  # cooldown: try again on a later call
            if step.size is not None and st.equity > 0 and self._partial(watch, state, pos, step.size, mark, step,
                                                                         st.equity):
                used += 1
                continue
            used += self._full(watch, st)
            self._finish(watch, "closed")
            return used + 1, True
        return used, False

    def _finish(self, watch: WatchId, outcome: str) -> None:
        state = self.active.get(watch)
        if state is None:
            return
        st = self._cached_status(watch)
        self._emit("liquidation_finished", {**_pkey(watch), "liquidation_id": state.liquidation_id,
                                            "outcome": outcome, "equity": _d(st.equity),
                                            "maintenance_margin": _d(st.maintenance_margin)})
        self._update_band(watch, st)

    def _partial(self, watch: WatchId, state: _Liquidation, pos: PositionState, size: Decimal, mark: Decimal,
                 step: Any, equity: Decimal) -> bool:
        """One partial step, if it leaves the account solvent: a step whose slippage and liquidation fee would
        eat the remaining equity is not taken — the position is closed in full at bankruptcy instead (Binance
        §3.8: "small positions are in practice always fully liquidated"); nor one the ledger refuses (a step that
        would leave a cross wallet below zero, :func:`margincall.risk.events._partial`)."""
        led = self.ledger
        market = led.markets[pos.key.symbol]
        inst = market.instrument
        qty = size * inst.contract_size
        n = notional_of(inst.kind, qty, mark)
        price = price_in_event(self.config.executor.fill_price(pos.sign, mark, n, None))
        cost = partial_step_cost_fee_plus_slippage(inst.kind, pos.sign, qty, mark, price, market.liquidation_fee)
        if equity - cost <= 0:
            return False
        payload = {**_pkey(watch), "liquidation_id": state.liquidation_id, "symbol": pos.key.symbol,
                   "position_side": pos.key.position_side.value, "size": _d(size), "price": _d(price),
                   "mark": _d(mark), "fee_rate": _d(market.liquidation_fee), "reason": step.reason,
                   "tier_before": step.tier_before + 1,
                   "tier_after": None if step.tier_after is None else step.tier_after + 1}
        try:
            self._emit("partial_liquidation", payload)
        except Rejected:
            return False  # the step would leave the wallet (or isolated margin) below zero: close in full instead
        self.metrics.partial_liquidations += 1
        return True

    def _full(self, watch: WatchId, st: MarginStatus) -> int:
        """Close every position of the watch: takeover by the fund, or ADL when the fund cannot pay."""
        led = self.ledger
        lid = self.active[watch].liquidation_id
        asset = led.markets[st.positions[0].key.symbol].instrument.settle_asset
        legs = [_leg(led, pos) for pos in st.positions]
        fills = [price_in_event(self.config.executor.fill_price(leg.sign, leg.mark,
                                                                notional_of(leg.kind, leg.qty, leg.mark), None))
                 for leg in legs]
        fund_result = takeover_fund_result_after_closing_at_fills(st.equity, legs, fills)
        fund = led.book_balance(INSURANCE, asset)
        fee = liquidation_fee_rounded_up(sum((nominal_liquidation_fee(leg.kind, leg.qty, fill,
                                                                      led.markets[p.key.symbol].liquidation_fee)
                                              for p, leg, fill in zip(st.positions, legs, fills, strict=True)), ZERO),
                                         led.unit)
        steps = 0
        bankrupt = bankruptcy_prices_sharing_equity_pro_rata_to_notional(legs, st.equity)
        # takeover when the fund can absorb what is left after closing at the executor's prices (the equity,
        # less slippage); otherwise the opposite side takes the positions at their bankruptcy prices
        if fund + fund_result >= 0:
            for pos, leg, fill, bankruptcy in zip(st.positions, legs, fills, bankrupt, strict=True):
                market = led.markets[pos.key.symbol]
                self._emit("liquidation", {
                    **_pkey(watch), "liquidation_id": lid, "symbol": pos.key.symbol,
                    "position_side": pos.key.position_side.value, "size": _d(abs(pos.size)),
                    "close_price": _d(fill), "price": _d(fill), "mark": _d(leg.mark),
                    "bankruptcy_price": _d(bankruptcy), "fee_rate": _d(market.liquidation_fee),
                    "mode": "takeover", "expected_fund_result": _d(fund_result)})
                steps += 1
        else:
            for pos, bankruptcy in zip(st.positions, bankrupt, strict=True):
                steps += self._deleverage(watch, lid, pos, bankruptcy)
        if watch.scope == "cross":
            self._emit("bankruptcy_settlement", {**_pkey(watch), "liquidation_id": lid, "asset": asset,
                                                 "liquidation_fee": _d(fee)})
            steps += 1
        return steps

    def _deleverage(self, watch: WatchId, lid: str, pos: PositionState, bankrupt: Decimal) -> int:
        led = self.ledger
        symbol = pos.key.symbol
        market = led.markets[symbol]
        ranking = self.config.ranking_for(market.venue)
        remaining = abs(pos.size)
        steps = 0
        ranked = self._adl_ranked(symbol, -pos.sign, ranking)
        gone = False
        # linear: in profit at the bankruptcy price ⇔ on the right side of the entry (sign × Q × (P − entry) > 0
        # keeps the sign of P − entry exactly); the walk may pass many entries in profit at the mark only
        linear = market.instrument.kind is ContractKind.LINEAR
        me, positions = pos.key.account, led.positions
        # the counterparties are on the other side: a ranked position now on this side (or gone) was taken
        mine_long = pos.size > 0
        # linear: whole blocks of the ranking out of profit at this bankruptcy price, with every position still
        # held, are passed at once (each of their entries would be passed over one by one below)
        whole: list[_Block] = [(0, len(ranked), None, None)]
        blocks = self._walk_blocks(symbol, -pos.sign, ranked) if linear else whole
        # a passed block from which on every entry is out of profit ends the walk: after it the entry-by-entry walk
        # would take nothing, and would only see gone the ranked positions closed since the ranking or the last
        # drop (of other accounts; an adl event of this walk changes only the position it takes, already walked
        # past). Known when each of those is closed (one now on the other side may sit in a block that is passed)
        suffix: list[Decimal | None] | None = None
        closed_ranks: list[int] = []
        if linear:
            unheld = self._adl.unheld(symbol, -pos.sign)
            if unheld is not None and all(e[6] not in positions for e in unheld):
                suffix = self._suffix_edges(symbol, -pos.sign, blocks)
                closed_ranks = [bisect_left(ranked, e) for e in unheld if e[2] != me]
        for b, (start, end, keys, edge) in enumerate(blocks):
            if remaining <= 0:
                break
            if (edge is not None and keys is not None and ((bankrupt >= edge) if mine_long else (bankrupt <= edge))
                    and keys <= positions.keys()):
                if suffix is not None and (last := suffix[b]) is not None and (
                        (bankrupt >= last) if mine_long else (bankrupt <= last)):
                    if any(r >= start for r in closed_ranks):
                        gone = True
                    break
                continue
            for i in range(start + 1, end + 1):
                if remaining <= 0:
                    break
                _, _, account, position_side, score, _c, key = ranked[i - 1]
                if account == me:
                    continue
                # the ranking is taken once per call; the position may have changed since (reduced, closed)
                cur = positions.get(key)
                if cur is None:
                    gone = True
                    continue
                long = cur.size > 0
                if long is mine_long:
                    gone = True
                    continue
                # only positions in profit at the bankruptcy price (Binance ranks positive PnL, §3.8)
                if linear:
                    if (bankrupt <= cur.entry_price) if long else (bankrupt >= cur.entry_price):
                        continue
                elif led.position_upnl(cur, bankrupt) <= 0:
                    continue
                take = min(remaining, abs(cur.size))
                self._emit("adl", {"account": account, "symbol": symbol, "position_side": position_side,
                                   "size": _d(take), "price": _d(bankrupt), "liquidation_id": lid, "rank": i,
                                   "score": _d(score), "ranking": ranking.name, "bankrupt_account": watch.account})
                self.metrics.adl += 1
                remaining -= take
                steps += 1
        if gone:  # drop the positions already taken, so later liquidations of this call do not walk past them
            self._drop_closed(symbol, -pos.sign, ranked)
        filled = abs(pos.size) - remaining
        base = {**_pkey(watch), "liquidation_id": lid, "symbol": symbol,
                "position_side": pos.key.position_side.value, "close_price": _d(bankrupt),
                "price": _d(bankrupt), "bankruptcy_price": _d(bankrupt), "fee_rate": "0", "mode": "adl"}
        if filled > 0:
            self._emit("liquidation", {**base, "size": _d(filled)})
            steps += 1
        if remaining > 0:
            mark = led.price_for(symbol)
            inst = market.instrument
            loss = pnl_of(inst.kind, pos.sign, remaining * inst.contract_size, bankrupt, mark)
            self._emit("liquidation", {**base, "size": _d(remaining), "counterparty": "venue",
                                       "venue_loss": _d(loss)})
            steps += 1
            if self.config.last_resort == "socialize" and loss > 0:
                self._socialize(lid, pos, loss)
                steps += 1
        return steps

    def _walk_blocks(self, symbol: str, sign: int, ranked: list[Entry]) -> list[_Block]:
        """The ``sign`` side's ranking (linear) cut in blocks of :data:`_BLOCK` entries: (start, end, the
        position keys, the entry price nearest to profit — the lowest of longs, the highest of shorts). Within
        one call a ranked position keeps its entry price (the engine's events only reduce positions; one the
        input changed is re-ranked at the first use in the call), so a bankruptcy price at or below that lowest
        entry (longs; at or above the highest for shorts) leaves every position of the block out of profit. Kept
        per call, in step with the entries :meth:`AdlQueue.drop_closed` drops (:meth:`_drop_closed`)."""
        cached = self._blocks.get((symbol, sign))
        if cached is not None and cached[0] == self._calls and cached[1] is ranked and cached[2] == len(ranked):
            return cached[3]
        blocks: list[_Block] = []
        pick = min if sign > 0 else max
        for start in range(0, len(ranked), _BLOCK):
            part = ranked[start:start + _BLOCK]
            blocks.append((start, start + len(part), frozenset([e[6] for e in part]),
                           pick([e[5].entry_price for e in part])))
        self._blocks[(symbol, sign)] = (self._calls, ranked, len(ranked), blocks)
        return blocks

    def _suffix_edges(self, symbol: str, sign: int, blocks: list[_Block]) -> list[Decimal | None]:
        """Per block of :meth:`_walk_blocks`, the entry price nearest to profit over it and every block after it
        (None when one of them has no price); kept while the blocks are the same list."""
        cached = self._suffix.get((symbol, sign))
        if cached is not None and cached[0] is blocks and cached[1] == len(blocks):
            return cached[2]
        out: list[Decimal | None] = [None] * len(blocks)
        acc: Decimal | None = None
        for b in range(len(blocks) - 1, -1, -1):
            edge = blocks[b][3]
            if edge is None:
                break
            acc = edge if acc is None else (min(acc, edge) if sign > 0 else max(acc, edge))
            out[b] = acc
        self._suffix[(symbol, sign)] = (blocks, len(blocks), out)
        return out

    def _drop_closed(self, symbol: str, sign: int, ranked: list[Entry]) -> None:
        """:meth:`AdlQueue.drop_closed`, and the side's blocks of this call kept in step: a block that lost entries
        is cut again from what is left of it, the others only move (each rebuilt from scratch would cost the whole
        ranking after every drop: a crash tick drops many times per call)."""
        n_before = len(ranked)
        dropped = self._adl.drop_closed(symbol, sign)
        cached = self._blocks.pop((symbol, sign), None)
        if (dropped is None or cached is None or cached[0] != self._calls or cached[1] is not ranked
                or cached[2] != n_before or len(ranked) != n_before - len(dropped)):
            return
        if not dropped:
            self._blocks[(symbol, sign)] = cached
            return
        gone = {e[6] for e in dropped}
        pick = min if sign > 0 else max
        blocks: list[_Block] = []
        at = 0
        for start, end, keys, edge in cached[3]:
            if keys is None:
                return
            n = end - start
            if not keys.isdisjoint(gone):
                n -= len(keys & gone)
                if n <= 0:
                    continue
                part = ranked[at:at + n]
                blocks.append((at, at + n, frozenset([e[6] for e in part]), pick([e[5].entry_price for e in part])))
            elif at == start:
                blocks.append((start, end, keys, edge))
            else:
                blocks.append((at, at + n, keys, edge))
            at += n
        if at != len(ranked):
            return
        self._blocks[(symbol, sign)] = (self._calls, ranked, len(ranked), blocks)

    def _adl_ranked(self, symbol: str, sign: int, ranking: AdlRanking) -> list[Entry]:
        """The ``sign`` side of ``symbol`` ranked by the venue's ADL formula, as of its first use in this
        :meth:`process` call (a crash liquidates many accounts against the same ranking). The queue keeps the
        rankings between calls and recomputes only the entries whose inputs changed since (marks, events of
        their accounts): exactly the ranking a recomputation from scratch gives (:mod:`.adl_queue`)."""
        return self._adl.ranked(symbol, sign, ranking, self._calls, self._cached_status)

    def _socialize(self, lid: str, pos: PositionState, loss: Decimal) -> None:
        """Charge ``loss`` to accounts with profit in the symbol, pro rata to profit, capped at each wallet."""
        led = self.ledger
        asset = led.markets[pos.key.symbol].instrument.settle_asset
        profits: dict[str, Decimal] = {}
        for other in led.positions_in(pos.key.symbol):
            if other.key.account == pos.key.account:
                continue
            u = led.position_upnl(other, led.price_for(other.key.symbol))
            if u > 0:
                profits[other.key.account] = profits.get(other.key.account, ZERO) + u
        caps = {acct: led.withdrawable(acct, asset) for acct in profits}
        shares = [{"account": acct, "amount": _d(amount)}
                  for acct, amount in socialized_loss_shares_pro_rata_to_profit(loss, profits, caps, led.unit)]
        if shares:
            self._emit("socialized_loss", {"liquidation_id": lid, "asset": asset, "symbol": pos.key.symbol,
                                           "loss": _d(loss), "shares": shares})

    def most_at_risk(self, limit: int) -> list[MarginStatus]:
        """The ``limit`` watches with the highest margin ratio MM / equity (equity ≤ 0 first), exactly ordered;
        the float screen narrows the candidates when the screener has one (a book of a million positions is not
        valued in Decimal for one dashboard refresh)."""
        pick = getattr(self.screener, "most_at_risk", None)
        led = self.ledger
        watches: set[WatchId] = (
            {watches_for(led, k) for k in led.positions} if pick is None else set(pick(self, 2 * limit + 50)))
        rows = [st for st in (status(led, w) for w in watches) if st.positions]

        def key(st: MarginStatus) -> tuple[int, Decimal, str]:
            ratio = st.ratio
            return (0, Decimal(0), str(st.watch)) if ratio is None else (1, -ratio, str(st.watch))

        return sorted(rows, key=key)[:limit]

    def audit(self) -> list[WatchId]:
        """Full re-screen (vectorised, confirmed exactly): watches past a band threshold that the engine has
        not acted on. The incremental path must leave this empty; metrics and tests check it."""
        audit = getattr(self.screener, "audit", None)
        if audit is not None:
            missed: list[WatchId] = audit(self)
            return missed
        led, cfg = self.ledger, self.config.bands
        out = []
        for watch in sorted({watches_for(led, k) for k in led.positions}, key=str):
            if watch in self.active or watch in self.queued:
                continue
            st = status(led, watch)
            current = self.bands.get(watch, Band.HEALTHY)
            if cfg.next_band(current, st.maintenance_margin, st.equity) != current or st.liquidatable:
                out.append(watch)
        return out

    # --------------------------------------------------------------------------------------------- state
    def snapshot(self) -> dict[str, Any]:
        return {
            "ledger": self.ledger.snapshot(),
            "bands": sorted([str(w.scope), w.account, w.what, b.label] for w, b in self.bands.items()),
            "active": sorted([w.scope, w.account, w.what, s.liquidation_id, s.steps, s.last_step_ts]
                             for w, s in self.active.items()),
            "next_liquidation": self.next_liquidation,
        }

    @classmethod
    def from_snapshot(cls, data: Mapping[str, Any], config: EngineConfig | None = None) -> RiskEngine:
        engine = cls(config, Ledger.from_snapshot(data["ledger"]))
        for s, a, w, b in data["bands"]:
            engine._set_band(WatchId(s, a, w), Band.of(b))
        engine.active = {WatchId(s, a, w): _Liquidation(lid, steps, last) for s, a, w, lid, steps, last in
                         data["active"]}
        engine.next_liquidation = int(data["next_liquidation"])
        restore = getattr(engine.screener, "restore", None)
        if restore is not None:
            restore(engine)
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
