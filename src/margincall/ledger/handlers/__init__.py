"""The ledger's own event types, one handler each, grouped by theme.

A handler is ``handler(ledger, tx, payload) -> details``: it reads the payload (refusing bad input with
:class:`~margincall.ledger.types.Rejected`), checks the event against the ledger's state, stages its changes
in ``tx`` and returns the numbers that explain them. The risk engine's events (:mod:`margincall.risk.events`)
are handlers of the same shape, added with :meth:`Ledger.register`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from margincall.ledger.handlers import accounts, marks, money, orders, positions
from margincall.ledger.tx import Tx

if TYPE_CHECKING:
    from margincall.ledger.ledger import Ledger

Handler = Callable[["Ledger", Tx, Mapping[str, Any]], dict[str, Any]]

#: Every built-in event type and its handler.
BUILTIN: dict[str, Handler] = {
    "market_listed": accounts.market_listed,
    "account_opened": accounts.account_opened,
    "position_mode_set": accounts.position_mode_set,
    "deposit": money.deposit,
    "withdrawal": money.withdrawal,
    "transfer": money.transfer,
    "fill": positions.fill,
    "mark": marks.mark,
    "marks": marks.marks,
    "funding": marks.funding,
    "margin_added": positions.margin_added,
    "margin_removed": positions.margin_removed,
    "leverage_set": positions.leverage_set,
    "order_margin_reserved": orders.order_margin_reserved,
    "order_margin_released": orders.order_margin_released,
    "insurance_fund_deposit": money.insurance_fund_deposit,
    "audit": accounts.audit,
}
