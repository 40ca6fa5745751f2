"""Exact (Decimal) margin status of what the engine watches: a cross account per settle asset, or one
isolated position.

Trigger rule (docs/venues.md §12.2, §3.2, §4.4, §7): liquidation when equity ≤ maintenance margin, both at the
**mark** price: cross equity = wallet + Σ uPnL of the cross positions in that settle asset, isolated equity =
position margin + its uPnL; MM = Σ tiered MM with the tier re-selected at the mark. The margin ratio is
reported in the Binance/Bybit convention ``MM / equity`` (``None`` = infinite: equity ≤ 0).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from functools import cached_property, lru_cache

from margincall.ledger import Ledger, PositionKey, PositionState, position_order
from margincall.math.margin import margin_ratio_mm_over_equity
from margincall.model.enums import MarginMode
from margincall.model.holding import Holding
from margincall.model.numbers import ZERO
from margincall.model.position import Position
from margincall.venues.market import MarketSpec
from margincall.venues.profiles import get_venue
from margincall.venues.rules import Fees, GenericRule


@dataclass(frozen=True, slots=True)
class WatchId:
    """What is watched: ``("cross", account, asset)`` or ``("isolated", account, symbol:position_side)``."""

    scope: str
    account: str
    what: str

    @classmethod
    def cross(cls, account: str, asset: str) -> WatchId:
        return cls("cross", account, asset)

    @classmethod
    def isolated(cls, key: PositionKey) -> WatchId:
        return cls("isolated", key.account, f"{key.symbol}:{key.position_side.value}")

    def position_key(self) -> PositionKey:
        from margincall.model.enums import PositionSide

        symbol, side = self.what.rsplit(":", 1)
        return PositionKey(self.account, symbol, PositionSide(side))

    def __str__(self) -> str:
        return f"{self.scope}:{self.account}:{self.what}"


@dataclass(frozen=True, slots=True)
class MarginStatus:
    watch: WatchId
    equity: Decimal
    maintenance_margin: Decimal
    positions: tuple[PositionState, ...]

    @property
    def ratio(self) -> Decimal | None:
        """``MM / equity``; ``None`` when equity ≤ 0 (infinite)."""
        return margin_ratio_mm_over_equity(self.maintenance_margin, self.equity)

    @property
    def liquidatable(self) -> bool:
        return bool(self.positions) and self.equity <= self.maintenance_margin


def watches_for(ledger: Ledger, key: PositionKey) -> WatchId:
    pos = ledger.positions.get(key)
    if pos is not None and pos.margin_mode is MarginMode.ISOLATED:
        return WatchId.isolated(key)
    return WatchId.cross(key.account, ledger.markets[key.symbol].instrument.settle_asset)


@lru_cache(maxsize=1 << 16)
def _isolated_key(account: str, what: str) -> PositionKey:
    return WatchId("isolated", account, what).position_key()


def watch_positions(ledger: Ledger, watch: WatchId) -> list[PositionState]:
    """The positions ``watch`` covers: its isolated position, or the account's cross positions in the asset in
    :func:`margincall.ledger.position_order` (the order ``cross_totals`` sums in)."""
    if watch.scope == "isolated":
        pos = ledger.positions.get(_isolated_key(watch.account, watch.what))
        return [] if pos is None else [pos]
    asset = watch.what
    led_positions, markets = ledger.positions, ledger.markets
    mine = [p for k in ledger.by_account.get(watch.account, ())
            if (p := led_positions[k]).margin_mode is not MarginMode.ISOLATED
            and markets[k.symbol].instrument.settle_asset == asset]
    if len(mine) > 1:
        mine.sort(key=position_order)
    return mine


def status(ledger: Ledger, watch: WatchId) -> MarginStatus:
    """The exact equity and MM of ``watch`` at the current marks."""
    mine = watch_positions(ledger, watch)
    if watch.scope == "isolated":
        if not mine:
            return MarginStatus(watch, ZERO, ZERO, ())
        pos = mine[0]
        upnl, mm = ledger.position_terms(pos)  # at price_for(symbol, entry price)
        return MarginStatus(watch, ledger.isolated_margin(pos.key) + upnl, mm, (pos,))
    upnl, mm = ledger.cross_upnl_mm(mine)
    return MarginStatus(watch, ledger.wallet(watch.account, watch.what) + upnl, mm, tuple(mine))


def holding(ledger: Ledger, pos: PositionState) -> Holding:
    """The position as the math layer's :class:`Holding`, valued at its current mark."""
    return holding_of(pos, ledger.markets[pos.key.symbol], ledger.isolated_margin(pos.key) if pos.is_isolated
                      else None, ledger.price_for(pos.key.symbol, pos.entry_price))


def holding_of(pos: PositionState, market: MarketSpec, isolated_margin: Decimal | None, mark: Decimal) -> Holding:
    """:func:`holding` from values already read from the ledger (no ledger needed)."""
    position = Position(
        symbol=pos.key.symbol,
        side=pos.key.position_side.value if pos.key.position_side.value != "both" else (
            "long" if pos.size > 0 else "short"),  # type: ignore[arg-type]
        size=abs(pos.size),
        entry_price=pos.entry_price,
        leverage=pos.leverage,
        margin_mode=pos.margin_mode,
        position_side=pos.key.position_side,
        isolated_margin=isolated_margin,
    )
    return Holding(position, market.instrument, market.tiers, mark)


def fees_for(ledger: Ledger, symbol: str) -> Fees:
    m = ledger.markets[symbol]
    return Fees(taker=m.taker_fee)


@dataclass(frozen=True)
class WatchPrices:
    """What the venue's price formulas need of one watch, read from the ledger (:func:`watch_prices`): each
    position with its market, isolated margin and mark, the cross wallet or the isolated margin, each symbol's
    rule and fees. Only immutable values, so :meth:`price` can run after the ledger's lock is released."""

    watch: WatchId
    parts: tuple[tuple[PositionState, MarketSpec, Decimal | None, Decimal], ...]
    collateral: Decimal
    rules: tuple[tuple[str, GenericRule, Fees], ...]

    @cached_property
    def holdings(self) -> tuple[Holding, ...] | None:
        """The positions as holdings, built once (None: a position the formulas cannot take)."""
        try:
            return tuple(holding_of(*part) for part in self.parts)
        except (ValueError, ArithmeticError):
            return None

    def price(self, symbol: str, bankruptcy: bool) -> Decimal | None:
        """The mark of ``symbol`` at which liquidation starts (or, with ``bankruptcy``, equity is zero), the other
        marks fixed; None when there is none or the formula has no solution."""
        holdings = self.holdings
        found = [(r, f) for s, r, f in self.rules if s == symbol]
        mine = [h for h in holdings or () if h.position.symbol == symbol]
        if not mine or not found or holdings is None:
            return None
        rule, fees = found[0]
        try:
            if self.watch.scope == "isolated":
                if bankruptcy:
                    return rule.isolated_bankruptcy_price(mine[0], self.collateral)
                return rule.isolated_liquidation_price(mine[0], self.collateral, fees)
            if bankruptcy:
                return rule.cross_bankruptcy_price(self.collateral, list(holdings), symbol)
            return rule.cross_liquidation_price(self.collateral, list(holdings), symbol, fees)
        except (ValueError, ArithmeticError):
            return None


def watch_prices(ledger: Ledger, watch: WatchId) -> WatchPrices:
    """The inputs of :meth:`WatchPrices.price` for ``watch``, read once for all its symbols (only references
    to immutable values: cheap under a lock)."""
    mine = watch_positions(ledger, watch)
    symbols = sorted({p.key.symbol for p in mine})
    rules = tuple((sym, get_venue(ledger.markets[sym].venue).rule, fees_for(ledger, sym)) for sym in symbols)
    parts = tuple((p, ledger.markets[p.key.symbol], ledger.isolated_margin(p.key) if p.is_isolated else None,
                   ledger.price_for(p.key.symbol, p.entry_price)) for p in mine)
    if watch.scope == "isolated":
        collateral = ledger.isolated_margin(mine[0].key) if mine else ZERO
    else:
        collateral = ledger.wallet(watch.account, watch.what)
    return WatchPrices(watch, parts, collateral, rules)


def _venue_price(ledger: Ledger, watch: WatchId, symbol: str, bankruptcy: bool) -> Decimal | None:
    return watch_prices(ledger, watch).price(symbol, bankruptcy)


def liquidation_price(ledger: Ledger, watch: WatchId, symbol: str) -> Decimal | None:
    """The mark of ``symbol`` at which liquidation starts (others fixed), by the venue's own formula."""
    return _venue_price(ledger, watch, symbol, bankruptcy=False)


def bankruptcy_price(ledger: Ledger, watch: WatchId, symbol: str) -> Decimal | None:
    """The mark of ``symbol`` at which the watched equity is exactly zero (others fixed): docs/venues.md §3.5."""
    return _venue_price(ledger, watch, symbol, bankruptcy=True)
