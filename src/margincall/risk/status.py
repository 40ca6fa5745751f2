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
from functools import lru_cache

from margincall.ledger import Ledger, PositionKey, PositionState, position_order
from margincall.math.margin import margin_ratio_mm_over_equity
from margincall.model.enums import MarginMode
from margincall.model.holding import Holding
from margincall.model.numbers import ZERO
from margincall.model.position import Position
from margincall.venues.profiles import get_venue
from margincall.venues.rules import Fees


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


def status(ledger: Ledger, watch: WatchId) -> MarginStatus:
    """The exact equity and MM of ``watch`` at the current marks."""
    if watch.scope == "isolated":
        key = _isolated_key(watch.account, watch.what)
        pos = ledger.positions.get(key)
        if pos is None:
            return MarginStatus(watch, ZERO, ZERO, ())
        upnl, mm = ledger.position_terms(pos)  # at price_for(symbol, entry price)
        return MarginStatus(watch, ledger.isolated_margin(key) + upnl, mm, (pos,))
    asset = watch.what
    led_positions, markets = ledger.positions, ledger.markets
    mine = [p for k in ledger.by_account.get(watch.account, ())
            if (p := led_positions[k]).margin_mode is not MarginMode.ISOLATED
            and markets[k.symbol].instrument.settle_asset == asset]
    if len(mine) > 1:
        mine.sort(key=position_order)  # the order of positions_of, and the one cross_totals sums in
    upnl, mm = ledger.cross_upnl_mm(mine)
    return MarginStatus(watch, ledger.wallet(watch.account, asset) + upnl, mm, tuple(mine))


def holding(ledger: Ledger, pos: PositionState) -> Holding:
    """The position as the math layer's :class:`Holding`, valued at its current mark."""
    market = ledger.markets[pos.key.symbol]
    position = Position(
        symbol=pos.key.symbol,
        side=pos.key.position_side.value if pos.key.position_side.value != "both" else (
            "long" if pos.size > 0 else "short"),  # type: ignore[arg-type]
        size=abs(pos.size),
        entry_price=pos.entry_price,
        leverage=pos.leverage,
        margin_mode=pos.margin_mode,
        position_side=pos.key.position_side,
        isolated_margin=ledger.isolated_margin(pos.key) if pos.is_isolated else None,
    )
    return Holding(position, market.instrument, market.tiers, ledger.price_for(pos.key.symbol, pos.entry_price))


def fees_for(ledger: Ledger, symbol: str) -> Fees:
    m = ledger.markets[symbol]
    return Fees(taker=m.taker_fee)


def _venue_price(ledger: Ledger, watch: WatchId, symbol: str, bankruptcy: bool) -> Decimal | None:
    st = status(ledger, watch)
    mine = [p for p in st.positions if p.key.symbol == symbol]
    if not mine:
        return None
    rule = get_venue(ledger.markets[symbol].venue).rule
    fees = fees_for(ledger, symbol)
    try:
        if watch.scope == "isolated":
            h, margin = holding(ledger, mine[0]), ledger.isolated_margin(mine[0].key)
            if bankruptcy:
                return rule.isolated_bankruptcy_price(h, margin)
            return rule.isolated_liquidation_price(h, margin, fees)
        holdings = [holding(ledger, p) for p in st.positions]
        wallet = ledger.wallet(watch.account, watch.what)
        if bankruptcy:
            return rule.cross_bankruptcy_price(wallet, holdings, symbol)
        return rule.cross_liquidation_price(wallet, holdings, symbol, fees)
    except (ValueError, ArithmeticError):
        return None


def liquidation_price(ledger: Ledger, watch: WatchId, symbol: str) -> Decimal | None:
    """The mark of ``symbol`` at which liquidation starts (others fixed), by the venue's own formula."""
    return _venue_price(ledger, watch, symbol, bankruptcy=False)


def bankruptcy_price(ledger: Ledger, watch: WatchId, symbol: str) -> Decimal | None:
    """The mark of ``symbol`` at which the watched equity is exactly zero (others fixed): docs/venues.md §3.5."""
    return _venue_price(ledger, watch, symbol, bankruptcy=True)
