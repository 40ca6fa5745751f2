"""Trade arithmetic: average entry price, realized PnL and fees of a fill.

* Average entry, linear: the quantity-weighted mean of fill prices (Binance "Entry Price" of a position
  increased by a fill: ``(Q₀·E₀ + q·P) / (Q₀ + q)``).
* Average entry, inverse (COIN-M, Bybit inverse): the harmonic mean, so that the position's coin value at
  entry ``Q/E`` is the sum of the fills' coin values: ``E = (Q₀ + q) / (Q₀/E₀ + q/P)`` (Bybit inverse
  "average entry price" = total contracts ÷ total value in BTC).
* Realized PnL of a reduction is the unrealized PnL (docs/venues.md §3.2) of the closed quantity at the fill price.
* Trading fee = fill notional × fee rate (Binance "Commission = Notional value × fee rate"; Bybit "Trading
  fee = Order value × fee rate"); for inverse the notional is in coin, ``q / P``.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from margincall.math.contracts import notional_of, pnl_of
from margincall.model.enums import ContractKind


def average_entry(kind: ContractKind, qty: Decimal, entry: Decimal, add_qty: Decimal, price: Decimal) -> Decimal:
    """Entry price after adding ``add_qty`` at ``price`` to ``qty`` held at ``entry`` (all quantities > 0)."""
    total = qty + add_qty
    if kind is ContractKind.LINEAR:
        return (qty * entry + add_qty * price) / total
    return total / (qty / entry + add_qty / price)


def realized_pnl(kind: ContractKind, sign: int, closed_qty: Decimal, entry: Decimal, price: Decimal) -> Decimal:
    """PnL of closing ``closed_qty`` of a position of direction ``sign`` entered at ``entry``, at ``price``."""
    return pnl_of(kind, sign, closed_qty, entry, price)


def trading_fee(kind: ContractKind, qty: Decimal, price: Decimal, rate: Decimal) -> Decimal:
    """``notional × rate`` in the settle asset (unrounded; see :func:`charge` and :func:`credit`)."""
    return notional_of(kind, qty, price) * rate


def charge(amount: Decimal, unit: Decimal) -> Decimal:
    """An amount the user pays, rounded up to the asset's smallest unit (in the venue's favour)."""
    return amount.quantize(unit, ROUND_CEILING)  # rounding given positionally: the keyword form parses slower


def user_delta(amount: Decimal, unit: Decimal) -> Decimal:
    """A signed change to a user's balance, rounded toward minus infinity (the venue's favour both ways:
    a gain is rounded down, a loss is rounded up in size)."""
    return amount.quantize(unit, ROUND_FLOOR)
