"""The fast path of the common fill: what the ``fill`` handler (:func:`margincall.ledger.handlers.positions.fill`,
which trades through :meth:`margincall.ledger.trading.Trading.trade`) does, for the fill most events are,
without its general machinery.

The common fill: a known one-way account, a listed symbol, well-formed fields (read as
:func:`~margincall.ledger.fields.read_number`'s shortcut reads them), a cross position opened, increased, reduced
or closed without a flip. :func:`quick_fill` is ``trade`` with the branches that cannot happen then (hedge legs,
isolated margin, flips) left out: the same formulas (fee = ``charge(trading_fee)``, realized PnL =
``user_delta(realized_pnl)``, ``average_entry``), the same balances and position, written by
:func:`~margincall.ledger.tx.write_books` as :meth:`Tx.commit <margincall.ledger.tx.Tx.commit>` writes them, and,
with ``record``, the same result as the general path's ``to_dict()``. It changes nothing before every check
has passed.
Any other fill returns None with nothing changed, and the general path decides it.

It must equal the general path exactly: ``tests/test_ledger_speedups.py`` checks it (checked, and unchecked as
:meth:`Ledger.fold` uses it) against the general path on random streams of every kind of fill, refusals
included, comparing results and state digests after every event.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from margincall.ledger.fields import plain
from margincall.ledger.state import default_leverage
from margincall.ledger.trading import check_leverage
from margincall.ledger.tx import write_books
from margincall.ledger.types import (
    CLEARING,
    FEES,
    ApplyResult,
    PositionKey,
    PositionState,
    Rejected,
    new_position,
    wallet_book,
)
from margincall.math.contracts import notional_of
from margincall.math.trade import average_entry, charge, realized_pnl, trading_fee, user_delta
from margincall.model.enums import MarginMode, PositionSide, TierBasis
from margincall.model.numbers import MAX_MAGNITUDE, ZERO

if TYPE_CHECKING:
    from margincall.ledger.ledger import Ledger

#: What a fill needs of an (account, symbol) pair that never changes: the market, the one-way position key,
#: the wallet book and the (book, asset) keys of the wallet, clearing and fee balances, and the instrument's
#: numbers.
FillContext = tuple[Any, ...]


def fill_context(led: Ledger, acct: str, symbol: str) -> FillContext:
    """The :data:`FillContext` of ``(acct, symbol)``, made once and kept on the ledger."""
    market = led.markets[symbol]
    inst = market.instrument
    key = led._keys.get((acct, symbol, "both"))
    if key is None:
        key = led._keys[(acct, symbol, "both")] = PositionKey(acct, symbol, PositionSide.BOTH)
    wallet_name = wallet_book(acct)
    asset = inst.settle_asset
    first = market.tiers.tiers[0]
    ctx = (market, key, wallet_name, (wallet_name, asset), (CLEARING, asset), (FEES, asset), inst.kind,
           inst.contract_size, asset, inst.lot_size, default_leverage(market), market.tiers.basis,
           (first.cap, first.max_leverage), plain(market.maker_fee), plain(market.taker_fee))
    led._fill_context[(acct, symbol)] = ctx
    return ctx


def quick_fill(led: Ledger, p: dict[str, Any], ts: int, checked: bool, record: bool) -> ApplyResult | bool | None:
    """Apply the common fill ``p`` at ``ts``, or return None (nothing changed) to let the general path decide.

    ``checked``: refuse (return None, so that the general path raises the documented rejection) a fill
    that breaks a rule — reduce-only, the tier's size limit, the margin it needs, a negative wallet. Without
    it (:meth:`Ledger.fold`: the event is in the log, so it was accepted) those checks are skipped.
    Returns the :class:`ApplyResult` with ``record``, True without."""
    acct = p.get("account")
    symbol = p.get("symbol")
    # A known account and a listed symbol passed read_id's checks when they were created.
    if type(acct) is not str or type(symbol) is not str or led.accounts.get(acct) is not False:
        return None  # unknown account, hedge mode, or not a plain string
    ctx = led._fill_context.get((acct, symbol))
    if ctx is None:
        if symbol not in led.markets:
            return None
        ctx = fill_context(led, acct, symbol)
    (market, key, wallet_name, wallet, clearing, fees, kind, contract_size, asset, lot_size, unset_leverage,
     tier_basis, first_tier, maker_fee_text, taker_fee_text) = ctx
    size_text = p.get("size")
    price_text = p.get("price")
    side = p.get("side")
    liquidity = p.get("liquidity", "taker")
    if (type(size_text) is not str or type(price_text) is not str or (side != "buy" and side != "sell")
            or p.get("position_side", "both") != "both"):
        return None
    reduce_only = False
    if checked:
        reduce_only = p.get("reduce_only", False)
        if ((liquidity != "taker" and liquidity != "maker")
                or (reduce_only is not False and reduce_only is not True)
                or len(size_text) > 19 or len(price_text) > 19
                or "e" in size_text or "E" in size_text or "e" in price_text or "E" in price_text):
            return None  # anything else is read (and refused, where it must be) by the general path
    try:
        # Unchecked, an accepted fill's numbers are text that positive() read as Decimal(text.strip()): the
        # same value as Decimal(text), which ignores surrounding whitespace itself.
        size = Decimal(size_text)
        price = Decimal(price_text)
    except InvalidOperation:
        return None
    if checked and (not (size.is_finite() and price.is_finite() and 0 < size <= MAX_MAGNITUDE
                         and 0 < price <= MAX_MAGNITUDE) or size % lot_size != 0):
        return None
    positions = led.positions
    pos = positions.get(key)
    buy = side == "buy"
    if pos is None:
        # settings(), inlined: the account's leverage and mode for the symbol, or the market's defaults
        cur = ZERO
        if led.leverage or led.modes:
            set_leverage = led.leverage.get((acct, symbol))
            lev = unset_leverage if set_leverage is None else set_leverage
            mode = led.modes.get((acct, symbol), MarginMode.CROSS)
        else:
            lev, mode = unset_leverage, MarginMode.CROSS
        closing = ZERO
        opening = size
    else:
        cur, lev, mode = pos.size, pos.leverage, pos.margin_mode
        if (cur > 0) != buy:
            closing = min(size, abs(cur))
            opening = size - closing
            if opening > 0 and closing > 0:
                return None  # a flip
        else:
            closing = ZERO
            opening = size
    if mode is not MarginMode.CROSS:
        return None
    if checked and reduce_only and opening > 0:
        return None  # a reduce-only violation: the general path rejects it
    unit = led.unit
    fee_rate = market.maker_fee if liquidity == "maker" else market.taker_fee
    fee = charge(trading_fee(kind, size * contract_size, price, fee_rate), unit)
    realized = ZERO
    new_pos: PositionState | None
    if closing > 0:
        assert pos is not None
        sign = 1 if cur > 0 else -1  # pos.sign
        realized = user_delta(realized_pnl(kind, sign, closing * contract_size, pos.entry_price, price), unit)
        remaining = abs(cur) - closing
        new_pos = None if remaining == 0 else new_position(key, remaining * sign, pos.entry_price, mode, lev)
    else:
        if pos is not None:
            entry = average_entry(kind, abs(cur) * contract_size, pos.entry_price, opening * contract_size, price)
            size_after = abs(cur) + opening
        else:
            entry = price
            size_after = opening
        new_pos = new_position(key, size_after if buy else -size_after, entry, mode, lev)
        if checked:
            notional_after = notional_of(kind, size_after * contract_size, price)
            first_cap, first_max_leverage = first_tier
            amount = size_after if tier_basis is TierBasis.CONTRACTS else notional_after
            # Below the first tier's cap at most its maximum leverage passes check_leverage: the tiers
            # start at 0, so that amount is in the first tier under either cap convention.
            if not ((first_cap is None or amount < first_cap) and lev <= first_max_leverage):
                try:
                    check_leverage(market, notional_after, lev, size_after)
                except Rejected:
                    return None
    balances = led.balances
    wallet_after = balances.get(wallet, ZERO) + realized - fee
    if checked:
        if wallet_after < 0 and wallet not in led.liquidating:
            return None  # insufficient balance: the general path rejects it
        if opening > 0:
            assert new_pos is not None
            others = [positions[k] for k in led.by_account.get(acct, ()) if not (k is key or k == key)]
            others.append(new_pos)
            upnl, im_total, _ = led.cross_totals(acct, asset, others, with_mm=False)
            if wallet_after + upnl - im_total - led.reserved_total(acct, asset) < 0:
                return None  # insufficient margin: the general path rejects it
    # -- every check passed: the balances trade()'s two moves leave (a zero amount moves nothing), and the position
    staged: dict[tuple[str, str], Decimal] = {}
    if realized:
        staged[clearing] = balances.get(clearing, ZERO) - realized
    if fee:
        staged[fees] = balances.get(fees, ZERO) + fee
    if realized or fee:
        staged[wallet] = wallet_after
    write_books(led, staged, {key: new_pos}, ts)
    if not record:
        return True
    return _result(acct, symbol, wallet_name, asset, realized, fee, price, size if buy else -size, pos, new_pos,
                   maker_fee_text if liquidity == "maker" else taker_fee_text, liquidity)


def _result(acct: str, symbol: str, wallet_name: str, asset: str, realized: Decimal, fee: Decimal, price: Decimal,
            signed: Decimal, pos: PositionState | None, new_pos: PositionState | None, fee_rate_text: str,
            liquidity: str) -> ApplyResult:
    """The fill's result as the general path renders it: ``str()`` of amounts in postings (``Posting.to_dict``),
    :func:`plain` in the details; each computed once where two fields hold the same number."""
    postings = []
    if realized:
        postings.append(
            {"from": CLEARING, "to": wallet_name, "asset": asset, "amount": str(realized),
             "memo": "fill: realized pnl"} if realized > 0 else
            {"from": wallet_name, "to": CLEARING, "asset": asset, "amount": str(-realized),
             "memo": "fill: realized pnl"})
    fee_text = str(fee)
    if fee:
        postings.append({"from": wallet_name, "to": FEES, "asset": asset, "amount": fee_text, "memo": "fill: fee"})
    if "E" in fee_text:
        fee_text = format(fee, "f")
    price_text = plain(price)
    signed_text = plain(signed)
    if new_pos is None:
        size_text, entry_text = "0", None
    elif pos is None:  # opened from flat: the position is the fill
        size_text, entry_text = signed_text, price_text
    else:
        size_text, entry_text = plain(new_pos.size), plain(new_pos.entry_price)
    return ApplyResult("fill", rendered={
        "type": "fill", "postings": postings, "account": acct, "symbol": symbol, "position_side": "both",
        "price": price_text, "signed_size": signed_text, "realized_pnl": plain(realized),
        "fee": fee_text, "fee_rate": fee_rate_text, "position_size": size_text, "entry_price": entry_text,
        "liquidity": liquidity}, accounts=(acct,))
