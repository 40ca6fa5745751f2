"""The liquidation waterfall of one watch: what the engine runs for a watch it took from its queue.

Per watched account (cross, per settle asset) or isolated position, once equity ≤ MM at the mark
(docs/venues.md §12.5):

1. ``liquidation_started``: the account's orders are cancelled (reserved margin released).
2. ``partial_liquidation`` steps by the venue's rule (the venue profile's ``partial_liquidation``) at the
   executor's price, liquidation fee to the insurance fund, stopping as soon as equity > MM again.
3. Full close at the executor's fill (``liquidation``), then the remaining equity is settled with the
   insurance fund (``bankruptcy_settlement``) — the liquidation fee and the surplus above bankruptcy in, a
   deficit paid — when the fund can absorb it.
4. If the equity is below zero and the fund cannot pay the deficit: auto-deleveraging — the opposite positions
   ranked by the venue's formula are reduced at the bankruptcy price (``adl``; the walk is
   :class:`~margincall.risk.adl_walk.AdlWalk`), the bankrupt position closes against them at that price; what
   no counterparty can take closes against the venue, and with ``last_resort="socialize"`` that loss is charged
   to the profitable accounts (``socialized_loss``).

The arithmetic of every step is :mod:`margincall.math.liquidation`; this module orders the steps and emits their
events. :class:`Waterfall` is a part of :class:`~margincall.risk.engine.RiskEngine` (a mixin): the engine owns the
state it reads and the way events are applied (``_emit``).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from margincall.ledger import ApplyResult, Ledger, PositionState, Rejected, plain
from margincall.ledger.types import INSURANCE
from margincall.math.contracts import notional_of, pnl_of
from margincall.math.liquidation import (
    ClosingLeg,
    bankruptcy_prices_sharing_equity_pro_rata_to_notional,
    liquidation_fee_of_closes,
    partial_step_cost_fee_plus_slippage,
    price_in_event,
    socialized_loss_shares_pro_rata_to_profit,
    takeover_fund_result_after_closing_at_fills,
)
from margincall.model.numbers import ZERO
from margincall.risk.adl_walk import AdlWalk
from margincall.risk.status import MarginStatus, WatchId

if TYPE_CHECKING:
    from margincall.risk.engine import EngineConfig, Metrics


@dataclass
class Liquidation:
    """A liquidation in progress: its id, the partial steps taken and the time of the last one."""

    liquidation_id: str
    steps: int = 0
    last_step_ts: int | None = None


def watch_fields(watch: WatchId) -> dict[str, str]:
    return {"account": watch.account, "scope": watch.scope, "what": watch.what}


def _leg(led: Ledger, pos: PositionState) -> ClosingLeg:
    """A position being closed, for the formulas of :mod:`margincall.math.liquidation`."""
    inst = led.markets[pos.key.symbol].instrument
    return ClosingLeg(inst.kind, pos.sign, abs(pos.size) * inst.contract_size, led.price_for(pos.key.symbol))


class Waterfall:
    """The waterfall's steps, as methods of the engine (the attributes below are the engine's)."""

    ledger: Ledger
    config: EngineConfig
    metrics: Metrics
    active: dict[WatchId, Liquidation]
    next_liquidation: int
    _walk: AdlWalk
    _ts: int
    _calls: int

    def _emit(self, event_type: str, payload: dict[str, Any]) -> ApplyResult:
        raise NotImplementedError  # the engine's: apply one event it caused and record it for the log

    def _cached_status(self, watch: WatchId) -> MarginStatus:
        raise NotImplementedError  # the engine's: the exact status, cached within a call

    def _update_band(self, watch: WatchId, st: MarginStatus) -> None:
        raise NotImplementedError  # the engine's: a margin_call when the watch changed band

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
                **watch_fields(watch), "liquidation_id": lid, "equity": plain(st.equity),
                "maintenance_margin": plain(st.maintenance_margin),
                "margin_ratio": None if ratio is None else plain(ratio),
                "marks": {p.key.symbol: plain(led.price_for(p.key.symbol)) for p in st.positions},
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
        self._emit("liquidation_finished", {**watch_fields(watch), "liquidation_id": state.liquidation_id,
                                            "outcome": outcome, "equity": plain(st.equity),
                                            "maintenance_margin": plain(st.maintenance_margin)})
        self._update_band(watch, st)

    def _partial(self, watch: WatchId, state: Liquidation, pos: PositionState, size: Decimal, mark: Decimal,
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
        payload = {**watch_fields(watch), "liquidation_id": state.liquidation_id, "symbol": pos.key.symbol,
                   "position_side": pos.key.position_side.value, "size": plain(size), "price": plain(price),
                   "mark": plain(mark), "fee_rate": plain(market.liquidation_fee), "reason": step.reason,
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
        fee = liquidation_fee_of_closes(legs, fills, [led.markets[p.key.symbol].liquidation_fee for p in st.positions],
                                        led.unit)
        steps = 0
        bankrupt = bankruptcy_prices_sharing_equity_pro_rata_to_notional(legs, st.equity)
        # takeover when the fund can absorb what is left after closing at the executor's prices (the equity,
        # less slippage); otherwise the opposite side takes the positions at their bankruptcy prices
        if fund + fund_result >= 0:
            for pos, leg, fill, bankruptcy in zip(st.positions, legs, fills, bankrupt, strict=True):
                market = led.markets[pos.key.symbol]
                self._emit("liquidation", {
                    **watch_fields(watch), "liquidation_id": lid, "symbol": pos.key.symbol,
                    "position_side": pos.key.position_side.value, "size": plain(abs(pos.size)),
                    "close_price": plain(fill), "price": plain(fill), "mark": plain(leg.mark),
                    "bankruptcy_price": plain(bankruptcy), "fee_rate": plain(market.liquidation_fee),
                    "mode": "takeover", "expected_fund_result": plain(fund_result)})
                steps += 1
        else:
            for pos, bankruptcy in zip(st.positions, bankrupt, strict=True):
                steps += self._deleverage(watch, lid, pos, bankruptcy)
        if watch.scope == "cross":
            self._emit("bankruptcy_settlement", {**watch_fields(watch), "liquidation_id": lid, "asset": asset,
                                                 "liquidation_fee": plain(fee)})
            steps += 1
        return steps

    def _deleverage(self, watch: WatchId, lid: str, pos: PositionState, bankrupt: Decimal) -> int:
        """ADL of the bankrupt position ``pos`` at ``bankrupt`` against the opposite side ranked by the venue's
        formula (:class:`~margincall.risk.adl_walk.AdlWalk`); what no counterparty takes closes against the venue
        (and is socialized with ``last_resort="socialize"``)."""
        led = self.ledger
        symbol = pos.key.symbol
        market = led.markets[symbol]
        ranking = self.config.ranking_for(market.venue)
        remaining = abs(pos.size)
        steps = 0
        for take in self._walk.takes(pos, bankrupt, ranking, self._calls, self._cached_status):
            self._emit("adl", {"account": take.account, "symbol": symbol, "position_side": take.position_side,
                               "size": plain(take.size), "price": plain(bankrupt), "liquidation_id": lid,
                               "rank": take.rank, "score": plain(take.score), "ranking": ranking.name,
                               "bankrupt_account": watch.account})
            self.metrics.adl += 1
            remaining -= take.size
            steps += 1
        filled = abs(pos.size) - remaining
        base = {**watch_fields(watch), "liquidation_id": lid, "symbol": symbol,
                "position_side": pos.key.position_side.value, "close_price": plain(bankrupt),
                "price": plain(bankrupt), "bankruptcy_price": plain(bankrupt), "fee_rate": "0", "mode": "adl"}
        if filled > 0:
            self._emit("liquidation", {**base, "size": plain(filled)})
            steps += 1
        if remaining > 0:
            mark = led.price_for(symbol)
            inst = market.instrument
            # the venue takes the rest over at the bankruptcy price and holds it at the mark: its loss is the
            # position's PnL from the mark back to the bankruptcy price (positive when the mark is past it)
            loss = pnl_of(inst.kind, pos.sign, remaining * inst.contract_size, mark, bankrupt)
            self._emit("liquidation", {**base, "size": plain(remaining), "counterparty": "venue",
                                       "venue_loss": plain(loss)})
            steps += 1
            if self.config.last_resort == "socialize" and loss > 0:
                self._socialize(lid, pos, loss)
                steps += 1
        return steps

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
        shares = [{"account": acct, "amount": plain(amount)}
                  for acct, amount in socialized_loss_shares_pro_rata_to_profit(loss, profits, caps, led.unit)]
        if shares:
            self._emit("socialized_loss", {"liquidation_id": lid, "asset": asset, "symbol": pos.key.symbol,
                                           "loss": plain(loss), "shares": shares})
