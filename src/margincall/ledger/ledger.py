"""The ledger: accounts, positions and balances, changed only by events, as a double-entry journal.

Every event becomes a set of :class:`Posting` s that sum to zero per asset. The books are the users'
wallets, their isolated position margins, and the system books (insurance fund, fee income, funding pool,
the clearing counterparty of every fill, and ``external`` — the world that deposits come from). Hence, after
every event, exactly:

    Σ wallets + Σ isolated margins + insurance + fees + funding + clearing = Σ deposits − Σ withdrawals

(the clearing book holds the counterparty side of realized PnL: it is zero when every trade was between
accounts of this ledger and every position is flat). An event's handler stages all its changes in a
:class:`~margincall.ledger.tx.Tx`, which is written only once every check has passed: a rejected event leaves
no trace.

Amounts are rounded to the asset's smallest unit in the venue's favour: fees up, a user's PnL and funding
toward minus infinity (:mod:`margincall.math.trade`).

The class is assembled from one layer per concern: :class:`~margincall.ledger.state.State` (data, lookups,
conservation, snapshot, digest), :class:`~margincall.ledger.valuation.Valuation` (prices, uPnL, margins,
available and withdrawable), :class:`~margincall.ledger.trading.Trading` (trades and their checks); this
module adds the dispatch of events to the handlers (:mod:`margincall.ledger.handlers`) and the fast path of
the common fill (:mod:`margincall.ledger.fastfill`).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any, cast

from margincall.ledger.fastfill import FillContext, quick_fill
from margincall.ledger.handlers import BUILTIN, Handler
from margincall.ledger.state import DEFAULT_UNIT
from margincall.ledger.trading import Trading
from margincall.ledger.tx import Tx
from margincall.ledger.types import ApplyResult, Rejected


class Ledger(Trading):
    """Pure state machine: ``apply(type, payload, ts)`` → :class:`ApplyResult` or :class:`Rejected`."""

    def __init__(self, unit: Decimal = DEFAULT_UNIT) -> None:
        super().__init__(unit)
        self._fill_context: dict[tuple[str, str], FillContext] = {}
        self._handlers: dict[str, Handler] = dict(BUILTIN)
        self._extensions: dict[str, Handler] = {}
        #: Take the fast path (:mod:`.fastfill`) for the common fill; off in a subclass that changes how
        #: fills are traded or checked, which the fast path would not follow.
        self.fast_fills = all(
            getattr(type(self), name) is getattr(Ledger, name) for name in ("trade", "check_postings")
        )

    # ------------------------------------------------------------------------------------------ applying
    @property
    def event_types(self) -> tuple[str, ...]:
        return (*self._handlers, *self._extensions)

    def register(self, event_type: str, handler: Handler) -> None:
        """Add an event type (the risk engine registers its liquidation events this way)."""
        self._extensions[event_type] = handler

    def apply(self, event_type: str, payload: Mapping[str, Any], ts: int = 0) -> ApplyResult:
        """Apply one event; raises :class:`Rejected` (state untouched) if it breaks a rule."""
        if (event_type == "fill" and type(payload) is dict and type(ts) is int and ts >= self.last_ts
                and self.fast_fills):
            done = quick_fill(self, payload, ts, True, True)
            if done is not None:
                return cast(ApplyResult, done)
        result = self._apply(event_type, payload, ts, record=True)
        assert result is not None
        return result

    def fold(self, event_type: str, payload: Mapping[str, Any], ts: int = 0) -> None:
        """Fold an event that the durable log holds as accepted into the state (recovery and replay).

        The log records facts: every event in it was validated by :meth:`apply` before it was appended, and the
        hash chain guards it since. Folding one needs its state change only, so the common fill (see
        :mod:`.fastfill`) skips the checks that decided whether it could happen (margin, leverage, reduce-only,
        balances) and computes exactly what :meth:`apply` computes with the same formulas; every other event,
        and any fill outside that case, goes through the checked path without recording postings.
        ``margincall ledger verify`` re-validates every event with :meth:`apply`.
        ``tests/test_ledger_speedups.py`` checks the fold equal to :meth:`apply`."""
        if (event_type == "fill" and type(payload) is dict and self.fast_fills
                and quick_fill(self, payload, ts, False, False)):
            return
        self._apply(event_type, payload, ts, record=False)

    def _apply(self, event_type: str, payload: Mapping[str, Any], ts: int, *, record: bool) -> ApplyResult | None:
        """The general path: every check, then the handler's staged changes written (``record``: with the
        postings and the result)."""
        if type(payload) is not dict and not isinstance(payload, Mapping):
            raise Rejected("invalid_payload", "payload must be a JSON object")
        if (type(ts) is not int and (isinstance(ts, bool) or not isinstance(ts, int))) or ts < 0:
            raise Rejected("invalid_field", f"ts: expected a non-negative integer, got {ts!r}", field="ts")
        if ts < self.last_ts:
            raise Rejected("out_of_order", f"ts {ts} is earlier than the last event's {self.last_ts}", field="ts")
        handler = self._handlers.get(event_type) or self._extensions.get(event_type)
        if handler is None:
            raise Rejected("unknown_event_type", f"unknown event type {event_type!r}", field="type")
        tx = Tx(self, record=record)
        details = handler(self, tx, payload)
        self.check_postings(tx)
        postings = tx.commit(ts)
        if not record:
            return None
        return ApplyResult(event_type, postings, details, accounts=lambda: tx.accounts_of_event(payload))

    def check_postings(self, tx: Tx) -> None:
        """No wallet (but one under liquidation) and no isolated margin may end an event below zero."""
        for (book, asset), v in tx.balances.items():
            if v >= 0:
                continue
            if book.startswith("wallet:") and not tx.is_liquidating(book, asset):
                raise Rejected("insufficient_balance", f"{book} would go negative ({v} {asset})")
            if book.startswith("isolated:"):
                raise Rejected("insufficient_margin", f"{book} would go negative ({v} {asset})")

    def copy(self) -> Ledger:
        clone = Ledger.from_snapshot(self.snapshot())
        clone._extensions = dict(self._extensions)
        return clone
