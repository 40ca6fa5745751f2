"""Auto-deleveraging rankings: which opposite positions take over a bankrupt position the insurance fund cannot.

Ranking functions (the most profitable, most leveraged first); each venue profile names its ranking
(:attr:`margincall.venues.profiles.VenueProfile.adl_ranking`, docs/venues.md §12.5):

* Binance (§3.8): ``PnL% = max(0, uPnL) / max(1, wallet)``, ``margin ratio = MM / (wallet + uPnL)`` (0 when
  ≤ 0), score = ``PnL% × margin ratio``.
* Bybit / BitMEX form (§4.8): ``PnL% = uPnL / |entry value|``, effective leverage ``= |mark value| /
  (mark value − bankruptcy value)``; score = ``PnL% × leverage`` if ``PnL% > 0`` else ``PnL% / leverage``.
* Hyperliquid (§7): ``(mark / entry) × (notional / account value)`` (longs; the inverse ratio for shorts).

The other venues (OKX, dYdX, Bitunix, generic) take the Bybit / BitMEX form: their own rankings are not modelled.

Deleveraged positions are closed at the bankrupt position's bankruptcy price, with no trading fee (Binance).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from margincall.model.numbers import ONE, ZERO


@dataclass(frozen=True, slots=True)
class AdlCandidate:
    """Numbers a ranking needs about one opposite position (in its account's settle asset)."""

    account: str
    symbol: str
    position_side: str
    size: Decimal  # contracts, unsigned
    sign: int
    entry_price: Decimal
    mark: Decimal
    notional: Decimal
    entry_notional: Decimal
    upnl: Decimal
    wallet: Decimal  # cross wallet, or the isolated margin
    equity: Decimal  # account (or isolated position) equity
    maintenance_margin: Decimal


class AdlRanking(Protocol):
    """A venue's ADL score of one candidate: the higher, the sooner it is deleveraged."""

    @property
    def name(self) -> str: ...

    def score(self, c: AdlCandidate) -> Decimal: ...


@dataclass(frozen=True, slots=True)
class BinanceLeveragePnl:
    name: str = "binance_leverage_pnl"

    def score(self, c: AdlCandidate) -> Decimal:
        pnl_pct = max(ZERO, c.upnl) / max(ONE, c.wallet)
        ratio = ZERO if c.equity <= 0 else c.maintenance_margin / c.equity
        return pnl_pct * ratio


@dataclass(frozen=True, slots=True)
class BitmexPnlLeverage:
    name: str = "bitmex_pnl_x_leverage"

    def score(self, c: AdlCandidate) -> Decimal:
        if c.entry_notional == 0:
            return ZERO
        pnl_pct = c.upnl / c.entry_notional
        leverage = c.notional / c.equity if c.equity > 0 else Decimal("1e12")
        if leverage == 0:
            return ZERO
        return pnl_pct * leverage if pnl_pct > 0 else pnl_pct / leverage


@dataclass(frozen=True, slots=True)
class HyperliquidRanking:
    name: str = "hyperliquid"

    def score(self, c: AdlCandidate) -> Decimal:
        if c.equity <= 0:
            return ZERO
        price_ratio = c.mark / c.entry_price if c.sign > 0 else c.entry_price / c.mark
        return price_ratio * c.notional / c.equity


def rank_key(score: Decimal, c: AdlCandidate) -> tuple[Decimal, Decimal, str, str]:
    """The order of the ranking: highest score first (ties: larger size, then account id and leg, so the order
    is total and reproducible)."""
    return (-score, -c.size, c.account, c.position_side)


def rank(candidates: list[AdlCandidate], ranking: AdlRanking) -> list[tuple[Decimal, AdlCandidate]]:
    """Candidates by score, highest first (ties: larger size, then account id, so the order is reproducible)."""
    scored = [(ranking.score(c), c) for c in candidates]
    scored.sort(key=lambda sc: rank_key(*sc))
    return scored
