"""What positions and accounts are worth at the marks: the price a position is valued at, its quantity,
notional, uPnL, IM and MM; an account's cross totals; its available and withdrawable balance.

The formulas are :mod:`margincall.math`'s (``notional_of``, ``pnl_of``, ``initial_margin``,
``maintenance_margin``); this module decides which price, which positions and in which order they are summed.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from margincall.ledger.state import DEFAULT_UNIT, State, position_order
from margincall.ledger.types import PositionKey, PositionState, Rejected
from margincall.math.contracts import notional_of, pnl_of
from margincall.math.margin import initial_margin, maintenance_margin
from margincall.model.enums import MarginMode
from margincall.model.numbers import ZERO
from margincall.venues.market import MarketSpec


class Valuation(State):
    """Price and margin arithmetic over the ledger's state."""

    def __init__(self, unit: Decimal = DEFAULT_UNIT) -> None:
        super().__init__(unit)
        #: cache of position_terms's results: key → (position, price, market, uPnL, MM), valid while the very
        #: same (immutable) position, mark and market objects are current
        self._terms: dict[PositionKey, tuple[PositionState, Decimal, MarketSpec, Decimal, Decimal]] = {}

    def price_for(self, symbol: str, fallback: Decimal | None = None) -> Decimal:
        """The mark of ``symbol``; ``fallback`` (usually the entry price) before the first mark."""
        m = self.marks.get(symbol)
        if m is not None:
            return m
        if fallback is not None:
            return fallback
        raise Rejected("no_mark", f"no mark price for {symbol} yet", field="symbol")

    def position_qty(self, pos: PositionState) -> Decimal:
        return abs(pos.size) * self.markets[pos.key.symbol].instrument.contract_size

    def position_notional(self, pos: PositionState, price: Decimal) -> Decimal:
        m = self.markets[pos.key.symbol]
        return notional_of(m.instrument.kind, self.position_qty(pos), price)

    def position_upnl(self, pos: PositionState, price: Decimal) -> Decimal:
        m = self.markets[pos.key.symbol]
        return pnl_of(m.instrument.kind, pos.sign, self.position_qty(pos), pos.entry_price, price)

    def position_mm(self, pos: PositionState, price: Decimal) -> Decimal:
        m = self.markets[pos.key.symbol]
        inst = m.instrument
        return maintenance_margin(m.tiers, inst.kind, self.position_qty(pos), price, inst.contract_size)

    def position_im(self, pos: PositionState, price: Decimal) -> Decimal:
        return initial_margin(self.position_notional(pos, price), pos.leverage)

    def cross_totals(self, account: str, asset: str, positions: Iterable[PositionState] | None = None,
                     with_mm: bool = True) -> tuple[Decimal, Decimal, Decimal]:
        """(Σ uPnL, Σ IM, Σ MM) of the account's cross positions settled in ``asset``, at the marks
        (``with_mm=False`` skips the tiered MM, which the initial-margin checks do not need)."""
        upnl = im = mm = ZERO
        by_account = self.by_account.get(account, ())
        src = [self.positions[k] for k in by_account] if positions is None else list(positions)
        if len(src) > 1:
            # Sum in a fixed order: Decimal sums round at 28 digits, and a set's order changes between processes
            # (str hashes are salted), so replaying in another process could otherwise differ in the last digit.
            src.sort(key=position_order)
        markets, marks = self.markets, self.marks
        for pos in src:
            if pos.margin_mode is MarginMode.ISOLATED:
                continue
            symbol = pos.key.symbol
            m = markets[symbol]
            inst = m.instrument
            if inst.settle_asset != asset:
                continue
            # The arithmetic of price_for, position_upnl, position_im and position_mm, inlined (hot: every
            # fill that opens runs it).
            price = marks.get(symbol)
            if price is None:
                price = pos.entry_price
            size = pos.size
            qty = abs(size) * inst.contract_size
            upnl += pnl_of(inst.kind, 1 if size > 0 else -1, qty, pos.entry_price, price)  # pos.sign
            im += initial_margin(notional_of(inst.kind, qty, price), pos.leverage)
            if with_mm:
                mm += maintenance_margin(m.tiers, inst.kind, qty, price, inst.contract_size)
        return upnl, im, mm

    def position_terms(self, pos: PositionState) -> tuple[Decimal, Decimal]:
        """(uPnL, MM) of ``pos`` at its mark (its entry price when the symbol has none): the arithmetic of
        :meth:`position_upnl` and :meth:`position_mm`, kept while the very same (immutable) position, mark and
        market objects are current (a status is recomputed after every event of its account, most of whose
        positions did not change)."""
        key = pos.key
        symbol = key.symbol
        m = self.markets[symbol]
        price = self.marks.get(symbol)
        if price is None:
            price = pos.entry_price
        memo = self._terms
        t = memo.get(key)
        if t is None or t[0] is not pos or t[1] is not price or t[2] is not m:
            if len(memo) > 2 * len(self.positions) + 1024:
                memo.clear()  # closed positions
            inst = m.instrument
            size = pos.size
            qty = abs(size) * inst.contract_size
            t = memo[key] = (pos, price, m, pnl_of(inst.kind, 1 if size > 0 else -1, qty, pos.entry_price, price),
                             maintenance_margin(m.tiers, inst.kind, qty, price, inst.contract_size))
        return t[3], t[4]

    def cross_upnl_mm(self, positions: Iterable[PositionState]) -> tuple[Decimal, Decimal]:
        """(Σ uPnL, Σ MM) of ``positions`` (cross positions of one account in one settle asset, already in
        :func:`position_order`) at the marks: the uPnL and MM of :meth:`cross_totals`, the same terms summed in
        the same order, without the initial margin."""
        upnl = mm = ZERO
        terms = self.position_terms
        for pos in positions:
            u, m = terms(pos)
            upnl += u
            mm += m
        return upnl, mm

    def reserved_total(self, account: str, asset: str) -> Decimal:
        """The order margin the account's open orders hold in ``asset``."""
        if not self.reserved:
            return ZERO
        return sum((amt for (acct, _oid), (a, amt) in self.reserved.items() if acct == account and a == asset), ZERO)

    def available_balance(self, account: str, asset: str) -> Decimal:
        """Margin balance − cross IM − order margin (Binance "Available Balance"), at the marks."""
        upnl, im, _mm = self.cross_totals(account, asset, with_mm=False)
        return self.wallet(account, asset) + upnl - im - self.reserved_total(account, asset)

    def withdrawable(self, account: str, asset: str) -> Decimal:
        """Binance "Max Withdraw Amount": the available balance, excluding unrealized profit."""
        upnl, im, _mm = self.cross_totals(account, asset, with_mm=False)
        free = self.wallet(account, asset) - im - self.reserved_total(account, asset) + min(upnl, ZERO)
        return max(ZERO, min(free, self.wallet(account, asset)))
