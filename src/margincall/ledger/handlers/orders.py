"""Order margin: the initial margin an open order holds out of the available balance until it is released."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from margincall.ledger.fields import plain, read_id
from margincall.ledger.tx import Tx
from margincall.ledger.types import Rejected

if TYPE_CHECKING:
    from margincall.ledger.ledger import Ledger


def order_margin_reserved(led: Ledger, tx: Tx, p: Mapping[str, Any]) -> dict[str, Any]:
    """At most the available balance (:meth:`~margincall.ledger.valuation.Valuation.available_balance`)."""
    acct = led.account_of(p)
    oid = read_id(p, "order_id")
    asset, amt = led.asset_of(p), led.amount_of(p)
    if (acct, oid) in led.reserved:
        raise Rejected("duplicate", f"order {oid} already reserves margin", field="order_id")
    avail = led.available_balance(acct, asset)
    if amt > avail:
        raise Rejected("insufficient_margin", f"{amt} {asset} exceeds the available {avail}", field="amount")
    tx.reserve(acct, oid, asset, amt)
    return {"account": acct, "order_id": oid, "asset": asset, "amount": plain(amt)}


def order_margin_released(led: Ledger, tx: Tx, p: Mapping[str, Any]) -> dict[str, Any]:
    acct = led.account_of(p)
    oid = read_id(p, "order_id")
    if (acct, oid) not in led.reserved:
        raise Rejected("unknown_order", f"order {oid} reserves no margin", field="order_id")
    asset, amt = led.reserved[(acct, oid)]
    tx.release(acct, oid)
    return {"account": acct, "order_id": oid, "asset": asset, "amount": plain(amt)}
