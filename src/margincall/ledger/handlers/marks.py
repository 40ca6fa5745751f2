"""Mark prices (one symbol, or one tick of many taken together) and the funding paid at the mark."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from margincall.ledger.fields import plain, read_id, read_number
from margincall.ledger.tx import Tx
from margincall.ledger.types import CLEARING, FUNDING, Rejected, isolated_book, wallet_book
from margincall.math.funding import funding_payment
from margincall.math.trade import user_delta
from margincall.model.numbers import ZERO, to_decimal

if TYPE_CHECKING:
    from margincall.ledger.ledger import Ledger

#: The most symbols one ``marks`` event (one tick of a whole venue's marks) may carry.
MAX_MARKS_PER_TICK = 10_000


def _set_mark(tx: Tx, symbol: str, price: Decimal) -> dict[str, Any]:
    previous = tx.mark(symbol)
    tx.set_mark(symbol, price)
    return {"symbol": symbol, "price": plain(price), "previous": None if previous is None else plain(previous)}


def mark(led: Ledger, tx: Tx, p: Mapping[str, Any]) -> dict[str, Any]:
    symbol = read_id(p, "symbol")
    led.market(symbol)
    return _set_mark(tx, symbol, read_number(p, "price"))


def marks(led: Ledger, tx: Tx, p: Mapping[str, Any]) -> dict[str, Any]:
    """One tick of many symbols' marks, all taken or none: ``{"marks": [{"symbol", "price"}, ...]}``, each
    item checked as a ``mark`` event is (a venue publishes every symbol's mark at once, e.g. Binance's
    ``!markPrice@arr`` stream; the risk engine then checks the accounts once, at the new marks of all of
    them, not after each symbol)."""
    items = p.get("marks")
    if not isinstance(items, list) or not items:
        raise Rejected("invalid_field", "marks: expected a non-empty list of {symbol, price}", field="marks")
    if len(items) > MAX_MARKS_PER_TICK:
        raise Rejected("invalid_field", f"marks: more than {MAX_MARKS_PER_TICK} symbols in one tick",
                       field="marks")
    new: dict[str, Decimal] = {}
    for i, item in enumerate(items):
        where = f"marks[{i}]"
        if not isinstance(item, Mapping):
            raise Rejected("invalid_field", f"{where}: expected an object {{symbol, price}}", field=where)
        try:
            symbol = read_id(item, "symbol")
            led.market(symbol)
            price = read_number(item, "price")
        except Rejected as e:
            raise Rejected(e.code, f"{where}: {e}", field=f"{where}.{e.field}") from None
        if symbol in new:
            raise Rejected("duplicate", f"{where}: {symbol} appears twice in one tick", field=f"{where}.symbol")
        new[symbol] = price
    return {"marks": [_set_mark(tx, symbol, price) for symbol, price in new.items()]}


def funding(led: Ledger, tx: Tx, p: Mapping[str, Any]) -> dict[str, Any]:
    """Funding: ``amount = position notional at the mark × rate``; positive rate → longs pay shorts
    (docs/venues.md §3.7, §4.7, §10). Cross positions pay from / receive into the wallet, isolated ones their
    position margin (Bybit: funding moves the isolated margin). Payers are rounded up, receivers down; the
    pool's residual (open interest held against outside counterparties, and rounding) is swept to the
    clearing book so the funding pool nets to zero per symbol and interval."""
    symbol = read_id(p, "symbol")
    market = led.market(symbol)
    rate = read_number(p, "rate", to_decimal)
    if abs(rate) >= 1:
        raise Rejected("invalid_number", f"rate: {rate} is not a plausible funding rate", field="rate")
    at = read_number(p, "mark") if p.get("mark") is not None else led.price_for(symbol)
    asset = market.instrument.settle_asset
    paid = received = ZERO
    unpaid = ZERO
    n = 0
    for pos in led.positions_in(symbol):
        amount = user_delta(funding_payment(pos.sign, led.position_notional(pos, at), rate), led.unit)
        book = (isolated_book(pos.key.account, symbol, pos.key.position_side) if pos.is_isolated
                else wallet_book(pos.key.account))
        if amount < 0:
            have = tx.balance(book, asset)
            take = min(-amount, max(have, ZERO))
            unpaid += -amount - take
            tx.move(book, FUNDING, asset, take, "funding paid")
            paid += take
        elif amount > 0:
            tx.move(FUNDING, book, asset, amount, "funding received")
            received += amount
        n += 1
    residual = tx.balance(FUNDING, asset)
    tx.move(FUNDING, CLEARING, asset, residual, "funding residual to clearing")
    return {"symbol": symbol, "rate": plain(rate), "mark": plain(at), "positions": n, "paid": plain(paid),
            "received": plain(received), "residual": plain(residual), "unpaid": plain(unpaid)}
