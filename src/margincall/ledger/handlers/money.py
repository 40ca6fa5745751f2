"""Money in, out and between accounts: deposits, withdrawals, transfers and the insurance fund's capital."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from margincall.ledger.fields import plain
from margincall.ledger.tx import Tx
from margincall.ledger.types import INSURANCE, Rejected, wallet_book

if TYPE_CHECKING:
    from margincall.ledger.ledger import Ledger


def deposit(led: Ledger, tx: Tx, p: Mapping[str, Any]) -> dict[str, Any]:
    acct, asset, amt = led.account_of(p), led.asset_of(p), led.amount_of(p)
    tx.deposit(wallet_book(acct), asset, amt, "deposit")
    return {"account": acct, "asset": asset, "amount": plain(amt)}


def withdrawal(led: Ledger, tx: Tx, p: Mapping[str, Any]) -> dict[str, Any]:
    """At most the withdrawable balance (:meth:`~margincall.ledger.valuation.Valuation.withdrawable`)."""
    acct, asset, amt = led.account_of(p), led.asset_of(p), led.amount_of(p)
    free = led.withdrawable(acct, asset)
    if amt > free:
        raise Rejected("insufficient_balance",
                       f"withdrawal of {amt} {asset} exceeds the withdrawable {free}", field="amount")
    tx.withdraw(wallet_book(acct), asset, amt, "withdrawal")
    return {"account": acct, "asset": asset, "amount": plain(amt), "withdrawable_before": plain(free)}


def transfer(led: Ledger, tx: Tx, p: Mapping[str, Any]) -> dict[str, Any]:
    """Wallet to wallet, at most what the source could withdraw."""
    src, dst = led.account_of(p, "from"), led.account_of(p, "to")
    if src == dst:
        raise Rejected("invalid_field", "transfer to the same account", field="to")
    asset, amt = led.asset_of(p), led.amount_of(p)
    free = led.withdrawable(src, asset)
    if amt > free:
        raise Rejected("insufficient_balance", f"transfer of {amt} {asset} exceeds the transferable {free}",
                       field="amount")
    tx.move(wallet_book(src), wallet_book(dst), asset, amt, "transfer")
    return {"from": src, "to": dst, "asset": asset, "amount": plain(amt)}


def insurance_fund_deposit(led: Ledger, tx: Tx, p: Mapping[str, Any]) -> dict[str, Any]:
    asset, amt = led.asset_of(p), led.amount_of(p)
    tx.deposit(INSURANCE, asset, amt, "insurance fund capital")
    return {"asset": asset, "amount": plain(amt)}
