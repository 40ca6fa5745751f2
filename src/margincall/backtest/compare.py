"""Where freqtrade's liquidations differ from the venue's: a freqtrade backtest result beside margincall's replay
of the same trades, trade by trade, with the reason for each difference.

freqtrade (2024–2026 releases) liquidates a futures position in backtesting as follows
(``freqtrade/exchange/exchange.py`` ``get_liquidation_price``, ``freqtrade/exchange/binance.py``
``dry_run_liquidation_price``, ``freqtrade/strategy/interface.py`` ``ft_stoploss_reached``):

* its liquidation price is Binance's isolated formula ``(WB + cum − s·Q·E) / (Q·mmr − s·Q)`` with the wallet
  balance WB = the stake and **the tier (mmr, cum) looked up by the stake**, not by the notional Q·E;
* that price is then moved **5 % of the way towards the entry** (``liquidation_buffer``, 0.05 by default);
* a candle liquidates when its low (long) or high (short) — trade candles, not mark — reaches that price, and the
  exit is at that price (the open when the candle opens past it); **the stop is checked first**: a candle that
  reaches both exits at the stop, even when the liquidation price lies before it;
* no liquidation (clearance) fee is charged; cross margin uses the other trades' open rates as their marks.

The freqtrade price is modelled here only to name the reason for a difference; margincall's own liquidation is the
replay's (the engine's rules). Reasons: ``buffer``, ``tier_by_stake``, ``stop_first`` (intrabar order),
``mark_path``, ``liquidation_fee``, ``cross``; ``unexplained`` when none applies.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from decimal import Decimal
from typing import Any

from margincall.backtest.io import BacktestInputError, freqtrade_result_trades, ms_of, symbol_of, to_utc
from margincall.backtest.results import BacktestResult, TradeResult
from margincall.model.tiers import TierTable

#: freqtrade's default ``liquidation_buffer``
FREQTRADE_BUFFER = Decimal("0.05")
_STOPS = ("stop_loss", "trailing_stop_loss")
REASONS = {
    "buffer": "freqtrade moves its liquidation price {buffer} of the way to the entry",
    "tier_by_stake": "freqtrade picks the tier by the stake, the venue by the notional",
    "stop_first": "intrabar order: freqtrade checks its stop before its liquidation price within a candle",
    "mark_path": "margincall watches the mark candles, freqtrade the trade candles' high/low",
    "liquidation_fee": "freqtrade charges no liquidation fee",
    "cross": "freqtrade's cross liquidation price takes the other trades at their open rates",
    "unexplained": "no known rule difference explains it",
}


def _d(x: Any) -> Decimal:
    return Decimal(repr(float(x)))


@dataclass(frozen=True, slots=True)
class FreqtradeLiquidation:
    """freqtrade's liquidation price for one trade: ``raw`` (its Binance formula, tier by stake) and ``buffered``
    (what it liquidates at), with the tier it used."""

    raw: Decimal
    buffered: Decimal
    mmr: Decimal
    cum: Decimal


def freqtrade_liquidation_price(tiers: TierTable, *, is_short: bool, open_rate: Decimal, amount: Decimal,
                                stake: Decimal, buffer: Decimal = FREQTRADE_BUFFER) -> FreqtradeLiquidation:
    """freqtrade's isolated dry-run liquidation price (see the module docstring): tier by ``stake``, WB = stake."""
    tier = tiers.tier_for(stake)
    s = -1 if is_short else 1
    raw = (stake + tier.maintenance_amount - s * amount * open_rate) / (amount * tier.mmr - s * amount)
    moved = abs(open_rate - raw) * buffer
    buffered = max(raw - moved if is_short else raw + moved, Decimal(0))
    return FreqtradeLiquidation(raw, buffered, tier.mmr, tier.maintenance_amount)


@dataclass(frozen=True, slots=True)
class TradeComparison:
    """One trade as freqtrade and margincall ended it. Times are ms since the epoch (the liquidating candle's
    start, which is how freqtrade stamps its exits); prices decimal."""

    id: str
    side: str
    leverage: Decimal
    stake: Decimal
    notional: Decimal
    freqtrade_exit_reason: str
    freqtrade_liquidated: bool
    freqtrade_time: int | None
    freqtrade_price: Decimal | None
    freqtrade_liquidation_price: Decimal  # buffered, the one it acts on
    freqtrade_raw_price: Decimal  # before the buffer
    margincall_liquidated: bool
    margincall_time: int | None
    margincall_price: Decimal | None
    margincall_liquidation_price: Decimal | None  # the venue's, at the opening
    differs: bool
    reasons: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        from margincall.backtest.report import iso_ms

        out = asdict(self)
        for k in ("freqtrade_time", "margincall_time"):
            out[k] = iso_ms(out[k])
        for k, v in out.items():
            if isinstance(v, Decimal):
                out[k] = format(v.normalize(), "f")
        out["reasons"] = list(self.reasons)
        return out


def compare_freqtrade(result: Mapping[str, Any], backtest: BacktestResult, *,
                      buffer: Decimal = FREQTRADE_BUFFER) -> list[TradeComparison]:
    """Every trade of a freqtrade result beside margincall's replay of it (``backtest`` must replay that result:
    ``read_trades`` of the same file). A liquidation differs when it happens in one and not the other, in another
    candle, or at prices more than one tick apart."""
    by_id = {r.trade.id: r for r in backtest.results}
    out = []
    for tid, res, _i, t in freqtrade_result_trades(result):
        r = by_id.get(tid)
        if r is None:
            raise BacktestInputError(f"trade {tid}: not in the backtest (replay the same freqtrade result)",
                                     field="trades")
        market = backtest.markets[symbol_of(str(t["pair"]))]
        out.append(_compare_one(tid, t, r, market.tiers, market.instrument.tick_size,
                                str(res.get("margin_mode") or "isolated"), backtest.mark_source, buffer))
    return out


def _compare_one(tid: str, t: Mapping[str, Any], r: TradeResult, tiers: TierTable, tick: Decimal, mode: str,
                 mark_source: str, buffer: Decimal) -> TradeComparison:
    is_short = bool(t.get("is_short"))
    amount, open_rate = _d(t["amount"]), _d(t["open_rate"])
    stake = _d(t.get("stake_amount") or amount * open_rate / _d(t.get("leverage") or 1))
    notional = amount * open_rate
    ft = freqtrade_liquidation_price(tiers, is_short=is_short, open_rate=open_rate, amount=amount, stake=stake,
                                     buffer=buffer)
    reason = str(t.get("exit_reason") or "")
    ft_liq = reason == "liquidation"
    ft_time = int(ms_of(to_utc([t["close_date"]], f"trade {tid}.close_date"))[0]) if t.get("close_date") else None
    ft_price = _d(t["close_rate"]) if ft_liq and t.get("close_rate") is not None else None
    mc_price = r.liquidation_price
    differs = ft_liq != r.liquidated or (ft_liq and (
        ft_time != r.liquidation_time or ft_price is None or mc_price is None or abs(ft_price - mc_price) > tick))
    reasons: list[str] = []
    if differs:
        # freqtrade's stop hit in a candle that also crossed a liquidation price: the order decides, not the price
        stop_first = (reason in _STOPS and r.liquidated and r.liquidation_time is not None and ft_time is not None
                      and r.liquidation_time <= ft_time)
        if stop_first:
            reasons.append("stop_first")
        elif buffer > 0:
            reasons.append("buffer")
        if tiers.index_for(stake) != tiers.index_for(notional):
            reasons.append("tier_by_stake")
        if mark_source == "mark":
            reasons.append("mark_path")
        if mode == "cross":
            reasons.append("cross")
    if r.liquidated and r.liquidation_fee > 0:
        reasons.append("liquidation_fee")
    if differs and not reasons:
        reasons.append("unexplained")
    venue = Decimal(repr(r.liq_line[0][1])) if r.liq_line else None
    return TradeComparison(
        id=tid, side="short" if is_short else "long", leverage=_d(t.get("leverage") or 1), stake=stake,
        notional=notional, freqtrade_exit_reason=reason, freqtrade_liquidated=ft_liq, freqtrade_time=ft_time,
        freqtrade_price=ft_price, freqtrade_liquidation_price=ft.buffered, freqtrade_raw_price=ft.raw,
        margincall_liquidated=r.liquidated, margincall_time=r.liquidation_time, margincall_price=mc_price,
        margincall_liquidation_price=venue, differs=bool(differs), reasons=tuple(reasons))


def comparison_summary(rows: list[TradeComparison], buffer: Decimal = FREQTRADE_BUFFER) -> dict[str, Any]:
    """Counts: trades, liquidated by each, differing, and differing trades per reason (with the reasons' text)."""
    differ = [c for c in rows if c.differs]
    return {
        "trades": len(rows),
        "freqtrade_liquidated": sum(c.freqtrade_liquidated for c in rows),
        "margincall_liquidated": sum(c.margincall_liquidated for c in rows),
        "differ": len(differ),
        "by_reason": dict(Counter(k for c in differ for k in c.reasons)),
        "reasons": {k: v.format(buffer=f"{buffer:%}".replace(".000000%", " %")) for k, v in REASONS.items()},
    }
