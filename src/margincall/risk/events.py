"""The risk engine's events, applied by the ledger like any other (so state stays a fold of the log).

* ``margin_call`` and ``liquidation_started`` / ``liquidation_finished`` carry numbers, no money (starting a
  liquidation cancels the account's orders: their reserved margin is released).
* ``partial_liquidation``: a reduce-only close at the executor's price; the liquidation fee goes to the
  insurance fund (Binance "liquidation clearance fee", §3.8).
* ``liquidation``: takeover — the liquidation engine closes the position at the executor's fill; the account's
  remaining equity (cross: ``bankruptcy_settlement`` once its last position is closed; isolated: when the
  position is closed) goes to the insurance fund if above bankruptcy and is paid by the fund if below (Binance
  §3.8, Bybit §4.6 "better-than-bankruptcy close → remaining margin to the insurance fund; worse → insurance
  fund pays"). The fund moves once, at the settlement, so its balance never dips in between.
  ``mode = "adl"``: the account closes at its bankruptcy price against the deleveraged counterparties, so
  nothing is left to settle.
* ``adl``: a counterparty's position reduced at the bankrupt position's bankruptcy price, no fee (§3.8).
* ``socialized_loss``: the last resort — a deficit neither the fund nor ADL could cover is first taken by the
  venue (the bankrupt position closes at its bankruptcy price against the clearing book); with
  ``last_resort = "socialize"`` it is then charged to the profitable accounts in that symbol.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from margincall.ledger import Ledger, Tx, read_choice, read_id, read_number
from margincall.ledger.fields import ACCOUNT_FIELDS, accounts_of
from margincall.ledger.types import CLEARING, INSURANCE, PositionKey, Rejected, wallet_book
from margincall.math.liquidation import liquidation_fee_rounded_up, nominal_liquidation_fee
from margincall.model.enums import PositionSide
from margincall.model.numbers import ZERO, non_negative

#: The naming rule lives with the ledger (an event's accounts are part of its result); re-exported here for the
#: risk events, whose ``bankrupt_account`` and ``shares`` it covers.
__all__ = ["ACCOUNT_FIELDS", "HANDLERS", "accounts_of", "register"]

def _key(led: Ledger, p: Mapping[str, Any]) -> PositionKey:
    acct = led.account_of(p)
    symbol = read_id(p, "symbol")
    led.market(symbol)
    side = PositionSide(read_choice(p, "position_side", ("both", "long", "short"), "both"))
    key = PositionKey(acct, symbol, side)
    if key not in led.positions:
        raise Rejected("no_position", f"{acct} has no {side.value} position in {symbol}", field="symbol")
    return key


def _size(led: Ledger, key: PositionKey, p: Mapping[str, Any]) -> Decimal:
    size = read_number(p, "size")
    held = abs(led.positions[key].size)
    if size > held:
        raise Rejected("reduce_exceeds_position", f"{size} exceeds the position's {held}", field="size")
    return size


def _note(led: Ledger, tx: Tx, p: Mapping[str, Any]) -> dict[str, Any]:
    led.account_of(p)
    return dict(p)


def _queued(led: Ledger, tx: Tx, p: Mapping[str, Any]) -> dict[str, Any]:
    """A watch carried to the next call with its ``priority`` (:mod:`margincall.risk.work_queue`): no money."""
    _dequeued(led, tx, p)
    _priority(p.get("priority"))
    return dict(p)


def _priority(value: Any) -> Decimal:
    """A queue priority: any finite number written as text (−MM / equity, or −10³⁰ + equity: beyond the
    magnitude of an amount)."""
    try:
        d = Decimal(value) if isinstance(value, str) else None
    except InvalidOperation:
        d = None
    if d is None or not d.is_finite():
        raise Rejected("invalid_number", f"priority: expected a finite number as text, got {value!r}",
                       field="priority")
    return d


def _dequeued(led: Ledger, tx: Tx, p: Mapping[str, Any]) -> dict[str, Any]:
    """A carried watch left the queue with no waterfall event of its own: no money."""
    led.account_of(p)
    read_choice(p, "scope", ("cross", "isolated"))
    read_id(p, "what")
    return dict(p)


def _liquidation_started(led: Ledger, tx: Tx, p: Mapping[str, Any]) -> dict[str, Any]:
    acct = led.account_of(p)
    read_id(p, "liquidation_id")
    released = led.release_all_orders(tx, acct)
    if p.get("scope") == "cross":
        tx.start_liquidation(wallet_book(acct), read_id(p, "what"))
    return {**p, "orders_cancelled": released}


def _partial(led: Ledger, tx: Tx, p: Mapping[str, Any]) -> dict[str, Any]:
    """A partial step may end the liquidation (the account restored), and a liquidation ends with the wallet at
    zero or above: a step of a cross account whose realized loss and fee would leave the wallet below zero (its
    equity held up by other positions' unrealized profit) is refused; the engine closes in full instead."""
    key = _key(led, p)
    size, price = _size(led, key, p), read_number(p, "price")
    fee_rate = read_number(p, "fee_rate", non_negative)
    sign = led.positions[key].sign
    d = led.trade(tx, key, -sign * size, price, fee_rate, INSURANCE, reduce_only=True,
                  memo="partial liquidation", check_margin=False)
    if p.get("scope") == "cross":
        wallet = wallet_book(key.account)
        asset = led.markets[key.symbol].instrument.settle_asset
        if tx.balance(wallet, asset) < 0:
            raise Rejected("insufficient_balance", f"{wallet} would be left below zero by a partial liquidation "
                           "step", field="size")
    return {**d, **p, "liquidation_fee": d["fee"]}


def _liquidation(led: Ledger, tx: Tx, p: Mapping[str, Any]) -> dict[str, Any]:
    """Close ``size`` at ``close_price``: the executor's fill for a takeover by the liquidation engine, the
    bankruptcy price against deleveraged counterparties for ADL. An isolated position's remaining equity is
    settled with the fund when it is closed in full (surplus in, deficit out); a cross account's is settled by
    ``bankruptcy_settlement`` once its last position is closed."""
    key = _key(led, p)
    pos = led.positions[key]
    size = _size(led, key, p)
    close = read_number(p, "close_price")
    read_choice(p, "mode", ("takeover", "adl"), "takeover")
    market = led.markets[key.symbol]
    inst, asset = market.instrument, market.instrument.settle_asset
    d = led.trade(tx, key, -pos.sign * size, close, ZERO, INSURANCE, reduce_only=True,
                  memo="liquidation close", check_margin=False)
    out: dict[str, Any] = {**d, **p}
    if pos.is_isolated and tx.position(key) is None:
        residual = Decimal(d.get("margin_released", "0")) + Decimal(d["realized_pnl"])
        rate = read_number(p, "fee_rate", non_negative)
        fee = liquidation_fee_rounded_up(nominal_liquidation_fee(inst.kind, size * inst.contract_size, close, rate),
                                         led.unit)
        out.update(_settle(led, tx, key.account, asset, residual, fee))
    return out


def _settle(led: Ledger, tx: Tx, account: str, asset: str, residual: Decimal, asked_fee: Decimal
            ) -> dict[str, str]:
    """Move ``residual`` of the account's wallet to the fund (surplus above bankruptcy: the liquidation fee
    first, up to ``asked_fee`` — already rounded up to the unit, :func:`liquidation_fee_rounded_up` — then the
    rest) or, if negative, pay it from the fund — and from the venue (clearing) for what the fund does not have."""
    wallet = wallet_book(account)
    if residual >= 0:
        fee = min(residual, asked_fee)
        tx.move(wallet, INSURANCE, asset, fee, "liquidation fee")
        tx.move(wallet, INSURANCE, asset, residual - fee, "surplus above bankruptcy to the insurance fund")
        return {"liquidation_fee": str(fee), "surplus": str(residual - fee), "insurance_paid": "0",
                "venue_absorbed": "0"}
    deficit = -residual
    from_fund = min(deficit, max(tx.balance(INSURANCE, asset), ZERO))
    tx.move(INSURANCE, wallet, asset, from_fund, "insurance fund pays the deficit below bankruptcy")
    tx.move(CLEARING, wallet, asset, deficit - from_fund, "deficit the fund could not pay, absorbed by the venue")
    return {"liquidation_fee": "0", "surplus": "0", "insurance_paid": str(from_fund),
            "venue_absorbed": str(deficit - from_fund)}


def _bankruptcy_settlement(led: Ledger, tx: Tx, p: Mapping[str, Any]) -> dict[str, Any]:
    """After a cross account's positions in ``asset`` are all closed: its wallet is settled to zero with the
    insurance fund (Binance §3.8: remaining collateral to the fund; a negative balance topped up to 0)."""
    acct = led.account_of(p)
    asset = led.asset_of(p)
    left = [k for k in led.by_account.get(acct, ()) if not led.positions[k].is_isolated
            and led.markets[k.symbol].instrument.settle_asset == asset]
    if left:
        raise Rejected("open_positions", f"{acct} still holds cross positions in {asset}", field="account")
    fee = read_number(p, "liquidation_fee", non_negative) if p.get("liquidation_fee") is not None else ZERO
    # the payload's liquidation_fee is the fee the venue asks, rounded up by the engine; rounding it up here
    # again changes nothing the engine wrote and keeps a finer payload (a hand-written log) in the venue's favour
    nominal = liquidation_fee_rounded_up(fee, led.unit)
    settled = _settle(led, tx, acct, asset, tx.balance(wallet_book(acct), asset), nominal)
    # the result's liquidation_fee is what the wallet could pay (nothing below bankruptcy): the result names
    # both, and what was waived
    out = {**p, **settled, "nominal_liquidation_fee": str(nominal),
           "liquidation_fee_waived": str(nominal - Decimal(settled["liquidation_fee"]))}
    tx.end_liquidation(wallet_book(acct), asset)
    return out


def _adl(led: Ledger, tx: Tx, p: Mapping[str, Any]) -> dict[str, Any]:
    key = _key(led, p)
    size, price = _size(led, key, p), read_number(p, "price")
    sign = led.positions[key].sign
    d = led.trade(tx, key, -sign * size, price, ZERO, INSURANCE, reduce_only=True, memo="auto-deleveraging",
                  check_margin=False)
    return {**p, **d}


def _socialized(led: Ledger, tx: Tx, p: Mapping[str, Any]) -> dict[str, Any]:
    """Charge the listed accounts (``shares``: account, amount) for a loss the venue took when no insurance
    fund and no ADL counterparty was left: wallet → clearing."""
    asset = led.asset_of(p)
    shares = p.get("shares", [])
    if not isinstance(shares, list):
        raise Rejected("invalid_field", "shares: expected a list", field="shares")
    for s in shares:
        acct = led.account_of(s)
        amt = read_number(s, "amount")
        tx.move(wallet_book(acct), CLEARING, asset, amt, "socialized loss")
    return dict(p)


def _liquidation_finished(led: Ledger, tx: Tx, p: Mapping[str, Any]) -> dict[str, Any]:
    """The waterfall is over (restored by partial steps, or closed): the wallet is held to zero or above again."""
    acct = led.account_of(p)
    if p.get("scope") == "cross":
        book = (wallet_book(acct), read_id(p, "what"))
        if tx.is_liquidating(*book) and tx.balance(*book) < 0:
            raise Rejected("insufficient_balance", f"{book[0]} is still negative after the liquidation")
        tx.end_liquidation(*book)
    return dict(p)


HANDLERS = {
    "margin_call": _note,
    "liquidation_started": _liquidation_started,
    "partial_liquidation": _partial,
    "liquidation": _liquidation,
    "bankruptcy_settlement": _bankruptcy_settlement,
    "adl": _adl,
    "socialized_loss": _socialized,
    "liquidation_finished": _liquidation_finished,
    # the queue of carried liquidation work (risk.work_queue): the engine's state, no money
    "liquidation_queued": _queued,
    "liquidation_dequeued": _dequeued,
}


def register(ledger: Ledger) -> Ledger:
    """Teach ``ledger`` the risk engine's events."""
    for name, handler in HANDLERS.items():
        ledger.register(name, handler)
    return ledger
