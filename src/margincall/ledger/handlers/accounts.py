"""Markets, accounts and the audit record: events that set up the ledger's participants, or only record."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from margincall.ledger.fields import MAX_ID_LENGTH, read_choice, read_id
from margincall.ledger.tx import Tx
from margincall.ledger.types import Rejected
from margincall.model.errors import MarginCallError
from margincall.venues.market import market_from_listing

if TYPE_CHECKING:
    from margincall.ledger.ledger import Ledger


def market_listed(led: Ledger, tx: Tx, p: Mapping[str, Any]) -> dict[str, Any]:
    """A market listed from a venue profile's built-in symbol or a full listing (:mod:`margincall.venues.market`)."""
    symbol = read_id(p, "symbol")
    if symbol in led.markets:
        raise Rejected("duplicate", f"market {symbol} is already listed", field="symbol")
    try:
        spec = market_from_listing(dict(p))
    except MarginCallError as e:
        raise Rejected(e.code, str(e), field=e.field) from None
    tx.list_market(spec)
    return {"symbol": symbol, "venue": spec.venue, "settle_asset": spec.instrument.settle_asset}


def account_opened(led: Ledger, tx: Tx, p: Mapping[str, Any]) -> dict[str, Any]:
    acct = read_id(p, "account")
    if acct in led.accounts:
        raise Rejected("duplicate", f"account {acct!r} already exists", field="account")
    hedge = read_choice(p, "position_mode", ("one_way", "hedge"), "one_way") == "hedge"
    tx.set_account(acct, hedge)
    return {"account": acct, "position_mode": "hedge" if hedge else "one_way"}


def position_mode_set(led: Ledger, tx: Tx, p: Mapping[str, Any]) -> dict[str, Any]:
    """One-way or hedge mode; only while the account holds no position."""
    acct = led.account_of(p)
    hedge = read_choice(p, "position_mode", ("one_way", "hedge")) == "hedge"
    if led.by_account.get(acct):
        raise Rejected("open_positions", "position mode cannot change while positions are open",
                       field="position_mode")
    tx.set_account(acct, hedge)
    return {"account": acct, "position_mode": "hedge" if hedge else "one_way"}


def audit(led: Ledger, tx: Tx, p: Mapping[str, Any]) -> dict[str, Any]:
    """A record of an administrative action (an API key created, revoked or rotated): no money moves and
    no state changes; the log keeps who did what, when, in its hash chain. Fields are ids and integers."""
    action = read_id(p, "action")
    for name, value in p.items():
        if (value is not None and not isinstance(value, str | int)) or isinstance(value, bool):
            raise Rejected("invalid_field", f"{name}: expected a string or an integer", field=name)
        if isinstance(value, str) and len(value) > MAX_ID_LENGTH:
            raise Rejected("invalid_field", f"{name}: longer than {MAX_ID_LENGTH} characters", field=name)
    return {"action": action}
