"""Quantity, notional and unrealized PnL for linear and inverse contracts.

docs/venues.md notation: ``Q`` is the base quantity (linear) or the USD face value (inverse),
``Q = contracts × contract_size``. Linear PnL ``s·Q·(P − EP)`` in the quote asset; inverse PnL
``s·Q·(1/EP − 1/P)`` in the coin (Binance COIN-M FAQ, docs/venues.md §3.4; Bybit inverse §4.3).
"""

from __future__ import annotations

from decimal import Decimal

from margincall.model.enums import ContractKind, Side
from margincall.model.instrument import Instrument


def quantity(instrument: Instrument, size: Decimal) -> Decimal:
    """``Q = size × contract_size``: base units (linear) or USD face value (inverse)."""
    return size * instrument.contract_size


def notional_of(kind: ContractKind, qty: Decimal, price: Decimal) -> Decimal:
    """Position value in the settle asset: ``Q·P`` (linear, quote) or ``Q/P`` (inverse, coin)."""
    return qty * price if kind is ContractKind.LINEAR else qty / price


def notional(instrument: Instrument, size: Decimal, price: Decimal) -> Decimal:
    """Position value in the settle asset at ``price`` (docs/venues.md §3.2: ``|Q|·MP``; COIN-M ``|Q_usd|/MP``)."""
    return notional_of(instrument.kind, quantity(instrument, size), price)


def pnl_of(kind: ContractKind, sign: int, qty: Decimal, entry: Decimal, price: Decimal) -> Decimal:
    """Unrealized PnL in the settle asset for a signed direction ``sign`` (+1 long, −1 short)."""
    if kind is ContractKind.LINEAR:
        return sign * qty * (price - entry)
    return sign * qty * (1 / entry - 1 / price)


def unrealized_pnl(instrument: Instrument, side: Side, size: Decimal, entry: Decimal, mark: Decimal) -> Decimal:
    """Unrealized PnL at the mark price, in the settle asset (linear: quote; inverse: coin)."""
    return pnl_of(instrument.kind, side.sign, quantity(instrument, size), entry, mark)


def price_after_pnl(kind: ContractKind, sign: int, qty: Decimal, price: Decimal, change: Decimal) -> Decimal | None:
    """The price at which the position's PnL differs by ``change`` from its PnL at ``price`` (the inverse of
    :func:`pnl_of`): linear ``P + change / (s·Q)``; inverse ``1 / (1/P − change / (s·Q))``. ``None`` when no
    positive price gives that PnL (an inverse short cannot lose more than ``Q / P``)."""
    if kind is ContractKind.LINEAR:
        out = price + change / (sign * qty)
    else:
        inv = 1 / price - change / (sign * qty)
        if inv <= 0:
            return None
        out = 1 / inv
    return out if out > 0 else None


def contracts_for_amount(kind: ContractKind, amount: Decimal, price: Decimal, contract_size: Decimal) -> Decimal:
    """The (fractional) number of contracts whose notional at ``price`` is ``amount`` (the inverse of
    :func:`notional`): linear ``N / (P·cs)``, inverse ``N·P / cs``."""
    if kind is ContractKind.LINEAR:
        return amount / (price * contract_size)
    return amount * price / contract_size
