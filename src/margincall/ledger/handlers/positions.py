"""Positions: fills, leverage and margin mode, and isolated margin added or removed."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from margincall.ledger.fields import plain, read_choice, read_fill_terms, read_id, read_number
from margincall.ledger.state import position_order
from margincall.ledger.trading import check_leverage
from margincall.ledger.tx import Tx
from margincall.ledger.types import FEES, PositionState, Rejected, isolated_book, wallet_book
from margincall.model.enums import MarginMode
from margincall.model.numbers import ZERO

if TYPE_CHECKING:
    from margincall.ledger.ledger import Ledger


def fill(led: Ledger, tx: Tx, p: Mapping[str, Any]) -> dict[str, Any]:
    """A trade of the account against the clearing counterparty (:meth:`Trading.trade`), at the market's maker
    or taker fee rate. The reference that :mod:`margincall.ledger.fastfill` must equal."""
    acct = led.account_of(p)
    symbol = read_id(p, "symbol")
    market = led.market(symbol)
    t = read_fill_terms(p, market.instrument.lot_size)
    key = led.position_key(acct, symbol, p)
    signed = t.size if t.side == "buy" else -t.size
    rate = market.maker_fee if t.liquidity == "maker" else market.taker_fee
    details = led.trade(tx, key, signed, t.price, rate, FEES, reduce_only=t.reduce_only, memo="fill")
    details["liquidity"] = t.liquidity
    return details


def _existing(led: Ledger, p: Mapping[str, Any]) -> PositionState:
    acct = led.account_of(p)
    symbol = read_id(p, "symbol")
    led.market(symbol)
    key = led.position_key(acct, symbol, p)
    pos = led.positions.get(key)
    if pos is None:
        raise Rejected("no_position", f"{acct} has no {key.position_side.value} position in {symbol}",
                       field="symbol")
    return pos


def margin_added(led: Ledger, tx: Tx, p: Mapping[str, Any]) -> dict[str, Any]:
    """Wallet → an isolated position's margin, at most the withdrawable balance."""
    pos = _existing(led, p)
    if not pos.is_isolated:
        raise Rejected("not_isolated", "margin can be added only to an isolated position", field="symbol")
    amt = led.amount_of(p)
    asset = led.markets[pos.key.symbol].instrument.settle_asset
    free = led.withdrawable(pos.key.account, asset)
    if amt > free:
        raise Rejected("insufficient_balance", f"{amt} {asset} exceeds the available {free}", field="amount")
    tx.move(wallet_book(pos.key.account), isolated_book(pos.key.account, pos.key.symbol, pos.key.position_side),
            asset, amt, "isolated margin added")
    return {"account": pos.key.account, "symbol": pos.key.symbol, "amount": plain(amt)}


def margin_removed(led: Ledger, tx: Tx, p: Mapping[str, Any]) -> dict[str, Any]:
    """Removable isolated margin: what keeps ``margin + min(uPnL, 0) ≥ IM at the mark`` (Binance)."""
    pos = _existing(led, p)
    if not pos.is_isolated:
        raise Rejected("not_isolated", "margin can be removed only from an isolated position", field="symbol")
    amt = led.amount_of(p)
    asset = led.markets[pos.key.symbol].instrument.settle_asset
    price = led.price_for(pos.key.symbol, pos.entry_price)
    held = led.isolated_margin(pos.key)
    removable = held + min(led.position_upnl(pos, price), ZERO) - led.position_im(pos, price)
    if amt > removable:
        raise Rejected("insufficient_margin",
                       f"removing {amt} {asset} would leave less than the initial margin (removable "
                       f"{max(removable, ZERO)})", field="amount")
    tx.move(isolated_book(pos.key.account, pos.key.symbol, pos.key.position_side), wallet_book(pos.key.account),
            asset, amt, "isolated margin removed")
    return {"account": pos.key.account, "symbol": pos.key.symbol, "amount": plain(amt)}


def leverage_set(led: Ledger, tx: Tx, p: Mapping[str, Any]) -> dict[str, Any]:
    """The account's leverage (and margin mode, only while flat) for a symbol. Open positions take the new
    leverage at once, so it must fit their tiers and their margin must still cover the initial margin."""
    acct = led.account_of(p)
    symbol = read_id(p, "symbol")
    market = led.market(symbol)
    lev = read_number(p, "leverage")
    cur_lev, cur_mode = led.settings(acct, symbol)
    mode = MarginMode(read_choice(p, "margin_mode", ("cross", "isolated"), cur_mode.value))
    open_positions = sorted((led.positions[k] for k in led.by_account.get(acct, ()) if k.symbol == symbol),
                            key=position_order)
    if open_positions and mode is not cur_mode:
        raise Rejected("open_positions", "the margin mode cannot change while a position is open",
                       field="margin_mode")
    asset = market.instrument.settle_asset
    tx.set_settings(acct, symbol, lev, mode)
    if not open_positions and lev > market.tiers.max_leverage:
        raise Rejected("leverage_too_high", f"leverage {lev} is above {symbol}'s maximum "
                       f"{market.tiers.max_leverage}", field="leverage")
    for pos in open_positions:
        price = led.price_for(symbol, pos.entry_price)
        check_leverage(market, led.position_notional(pos, price), lev, abs(pos.size))
        new = replace(pos, leverage=lev)
        tx.put_position(pos.key, new)
        if pos.is_isolated and led.isolated_margin(pos.key) < led.position_im(new, price):
            raise Rejected("insufficient_margin", "the isolated margin would not cover the initial margin at "
                           f"leverage {lev}", field="leverage")
    if open_positions and mode is MarginMode.CROSS:
        upnl, im, _ = led.cross_totals(acct, asset, led.staged_positions(tx, acct), with_mm=False)
        if led.wallet(acct, asset) + upnl - im - led.reserved_total(acct, asset) < 0:
            raise Rejected("insufficient_margin", f"the cross margin would not cover the initial margin at "
                           f"leverage {lev}", field="leverage")
    return {"account": acct, "symbol": symbol, "leverage": plain(lev), "margin_mode": mode.value,
            "previous_leverage": plain(cur_lev)}
