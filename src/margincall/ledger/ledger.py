"""The ledger: accounts, positions and balances, changed only by events, as a double-entry journal.

Every event becomes a set of :class:`Posting` s that sum to zero per asset. The books are the users'
wallets, their isolated position margins, and the system books (insurance fund, fee income, funding pool,
the clearing counterparty of every fill, and ``external`` — the world that deposits come from). Hence, after
every event, exactly:

    Σ wallets + Σ isolated margins + insurance + fees + funding + clearing = Σ deposits − Σ withdrawals

(the clearing book holds the counterparty side of realized PnL: it is zero when every trade was between
accounts of this ledger and every position is flat). An event is validated and staged in full before any
of it is written: a rejected event leaves no trace.

Amounts are rounded to the asset's smallest unit in the venue's favour: fees up, a user's PnL and funding
toward minus infinity (:mod:`margincall.math.trade`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from decimal import Decimal, InvalidOperation
from typing import Any, cast

from margincall.ledger.types import (
    CLEARING,
    EXTERNAL,
    FEES,
    FUNDING,
    INSURANCE,
    ApplyResult,
    PositionKey,
    PositionState,
    Posting,
    Rejected,
    isolated_book,
    new_position,
    wallet_book,
)
from margincall.math.contracts import notional_of, pnl_of
from margincall.math.funding import funding_payment
from margincall.math.margin import initial_margin, maintenance_margin
from margincall.math.trade import average_entry, charge, realized_pnl, trading_fee, user_delta
from margincall.model.enums import MarginMode, PositionSide, TierBasis
from margincall.model.errors import MarginCallError
from margincall.model.numbers import MAX_MAGNITUDE, ZERO, positive, to_decimal
from margincall.venues.market import MarketSpec, market_from_listing

#: Smallest unit of every asset's balance (8 decimals, as Binance and Bybit wallets show).
DEFAULT_UNIT = Decimal("1e-8")
DEFAULT_LEVERAGE = Decimal(20)
MAX_ID_LENGTH = 64
#: The most symbols one ``marks`` event (one tick of a whole venue's marks) may carry.
MAX_MARKS_PER_TICK = 10_000
_UNSTAGED: Any = object()  # marks "not staged in this transaction" (None means staged for removal)
_LEGS = {"both": PositionSide.BOTH, "long": PositionSide.LONG, "short": PositionSide.SHORT}


def _s(d: Decimal) -> str:
    """A Decimal as plain text, never in exponent notation (``0E-8`` → ``0.00000000``)."""
    text = str(d)  # str() is 3x faster than format(); without an exponent it is the same text
    return format(d, "f") if "E" in text else text


def position_order(pos: PositionState) -> tuple[str, str]:
    """The order positions of one account are summed and checked in: by symbol, then leg."""
    return pos.key.symbol, pos.key.position_side.value


def default_leverage(market: MarketSpec) -> Decimal:
    """The leverage of an account that never set one for ``market``: 20x, or the first tier's maximum if lower."""
    return min(DEFAULT_LEVERAGE, market.tiers.tiers[0].max_leverage)


def _id(payload: Mapping[str, Any], name: str) -> str:
    v = payload.get(name)
    if not isinstance(v, str) or not v.strip():
        raise Rejected("invalid_field", f"{name}: expected a non-empty string", field=name)
    if len(v) > MAX_ID_LENGTH:
        raise Rejected("invalid_field", f"{name}: longer than {MAX_ID_LENGTH} characters", field=name)
    return v


def _num(payload: Mapping[str, Any], name: str, check: Callable[[Any, str], Decimal] = positive) -> Decimal:
    value = payload.get(name)
    if value is None:
        raise Rejected("missing_field", f"{name}: required", field=name)
    if check is positive and type(value) is str and len(value) <= 19 and "e" not in value and "E" not in value:
        # The common case, accepted without positive()'s generic checks: plain text of at most 19 characters
        # without an exponent has at most 18 digits after the point. Anything else (or any doubt) goes
        # through positive() below, which raises the documented error.
        try:
            d = Decimal(value)
        except InvalidOperation:
            pass
        else:
            if d.is_finite() and 0 < d <= MAX_MAGNITUDE:
                return d
    try:
        return check(value, name)
    except MarginCallError as e:
        raise Rejected(e.code, str(e), field=name) from None


def _choice(payload: Mapping[str, Any], name: str, options: Iterable[str], default: str | None = None) -> str:
    v = payload.get(name, default)
    opts = options if type(options) is tuple else tuple(options)
    if v not in opts:
        raise Rejected("invalid_field", f"{name}: expected one of {', '.join(opts)}, got {v!r}", field=name)
    return str(v)


class _Tx:
    """Staged changes of one event: balances, positions and settings, written only by :meth:`commit`."""

    __slots__ = ("balances", "ledger", "leverage", "modes", "positions", "postings", "reserved")

    def __init__(self, ledger: Ledger, *, record: bool = True) -> None:
        self.ledger = ledger
        self.balances: dict[tuple[str, str], Decimal] = {}
        self.positions: dict[PositionKey, PositionState | None] = {}
        self.leverage: dict[tuple[str, str], Decimal] = {}
        self.modes: dict[tuple[str, str], MarginMode] = {}
        self.reserved: dict[tuple[str, str], tuple[str, Decimal] | None] = {}
        #: None when the caller does not want the postings (replay): moves then only change balances.
        self.postings: list[Posting] | None = [] if record else None

    def balance(self, book: str, asset: str) -> Decimal:
        k = (book, asset)
        if k in self.balances:
            return self.balances[k]
        return self.ledger.balances.get(k, ZERO)

    def move(self, debit: str, credit: str, asset: str, amount: Decimal, memo: str) -> None:
        """Move ``amount`` from ``debit`` to ``credit``; a negative amount moves the other way."""
        if not amount:
            return
        if amount < 0:
            debit, credit, amount = credit, debit, -amount
        staged, committed = self.balances, self.ledger.balances
        k = (debit, asset)
        staged[k] = (staged[k] if k in staged else committed.get(k, ZERO)) - amount
        k = (credit, asset)
        staged[k] = (staged[k] if k in staged else committed.get(k, ZERO)) + amount
        if self.postings is not None:
            self.postings.append(Posting(debit, credit, asset, amount, memo))

    def position(self, key: PositionKey) -> PositionState | None:
        staged = self.positions.get(key, _UNSTAGED)
        return self.ledger.positions.get(key) if staged is _UNSTAGED else staged

    def commit(self) -> tuple[Posting, ...]:
        led = self.ledger
        for k, v in self.balances.items():
            if not v:
                led.balances.pop(k, None)
            else:
                led.balances[k] = v
        for key, pos in self.positions.items():
            if pos is None:
                if led.positions.pop(key, None) is not None:
                    led.by_symbol[key.symbol].discard(key)
                    led.by_account[key.account].discard(key)
            else:
                if key not in led.positions:  # a new position: index it
                    led.by_symbol.setdefault(key.symbol, set()).add(key)
                    led.by_account.setdefault(key.account, set()).add(key)
                led.positions[key] = pos
        if self.leverage:
            led.leverage.update(self.leverage)
        if self.modes:
            led.modes.update(self.modes)
        for rk, rv in self.reserved.items():
            if rv is None:
                led.reserved.pop(rk, None)
            else:
                led.reserved[rk] = rv
        return () if self.postings is None else tuple(self.postings)


class Ledger:
    """Pure state machine: ``apply(type, payload, ts)`` → :class:`ApplyResult` or :class:`Rejected`."""

    def __init__(self, unit: Decimal = DEFAULT_UNIT) -> None:
        self.unit = unit
        self.markets: dict[str, MarketSpec] = {}
        self.marks: dict[str, Decimal] = {}
        self.accounts: dict[str, bool] = {}  # account -> hedge mode
        self.balances: dict[tuple[str, str], Decimal] = {}
        self.positions: dict[PositionKey, PositionState] = {}
        self.by_symbol: dict[str, set[PositionKey]] = {}
        self.by_account: dict[str, set[PositionKey]] = {}
        self.leverage: dict[tuple[str, str], Decimal] = {}
        self.modes: dict[tuple[str, str], MarginMode] = {}
        self.reserved: dict[tuple[str, str], tuple[str, Decimal]] = {}
        self.deposits: dict[str, Decimal] = {}
        self.withdrawals: dict[str, Decimal] = {}
        self.events_applied = 0
        self.last_ts = 0
        #: Wallet books of cross accounts under liquidation: they may go below zero between the waterfall's
        #: steps until the bankruptcy settlement brings them back to zero.
        self.liquidating: set[tuple[str, str]] = set()
        self._keys: dict[tuple[str, str, str], PositionKey] = {}  # cache of _position_key's results
        self._fill_context: dict[tuple[str, str], tuple[Any, ...]] = {}  # cache of _new_fill_context's results
        #: cache of cross_upnl_mm's per-position terms: key → (position, price, market, uPnL, MM), valid while the
        #: very same (immutable) position, mark and market objects are current
        self._terms: dict[PositionKey, tuple[PositionState, Decimal, MarketSpec, Decimal, Decimal]] = {}
        self._handlers: dict[str, Callable[[_Tx, Mapping[str, Any]], dict[str, Any]]] = {
            "market_listed": self._market_listed,
            "account_opened": self._account_opened,
            "position_mode_set": self._position_mode_set,
            "deposit": self._deposit,
            "withdrawal": self._withdrawal,
            "transfer": self._transfer,
            "fill": self._fill,
            "mark": self._mark,
            "marks": self._marks,
            "funding": self._funding,
            "margin_added": self._margin_added,
            "margin_removed": self._margin_removed,
            "leverage_set": self._leverage_set,
            "order_margin_reserved": self._order_margin_reserved,
            "order_margin_released": self._order_margin_released,
            "insurance_fund_deposit": self._insurance_fund_deposit,
            "audit": self._audit,
        }
        self._extensions: dict[str, Callable[[Ledger, _Tx, Mapping[str, Any]], dict[str, Any]]] = {}
        #: Take :meth:`_fast_fill` for the common fill (off in a subclass that changes how fills are done).
        self.fast_fills = all(
            getattr(type(self), name) is getattr(Ledger, name) for name in ("_fill", "trade", "_check_postings")
        )

    # ------------------------------------------------------------------------------------------ applying
    @property
    def event_types(self) -> tuple[str, ...]:
        return (*self._handlers, *self._extensions)

    def register(self, event_type: str, handler: Callable[[Ledger, _Tx, Mapping[str, Any]], dict[str, Any]]) -> None:
        """Add an event type (the risk engine registers its liquidation events this way)."""
        self._extensions[event_type] = handler

    def apply(self, event_type: str, payload: Mapping[str, Any], ts: int = 0) -> ApplyResult:
        """Apply one event; raises :class:`Rejected` (state untouched) if it breaks a rule."""
        if (event_type == "fill" and type(payload) is dict and type(ts) is int and ts >= self.last_ts
                and self.fast_fills):
            done = self._quick_fill(payload, True, True)
            if done is not None:
                self.events_applied += 1
                self.last_ts = ts
                return cast(ApplyResult, done)
            result = self._apply(event_type, payload, ts, record=True, quick=False)
        else:
            result = self._apply(event_type, payload, ts, record=True)
        assert result is not None
        return result

    def apply_without_result(self, event_type: str, payload: Mapping[str, Any], ts: int = 0) -> None:
        """:meth:`apply` for recovery: the same checks and the same state, but no postings are recorded and
        no result is returned (replaying a log needs the state only; ``verify`` uses :meth:`apply`)."""
        self._apply(event_type, payload, ts, record=False)

    def fold(self, event_type: str, payload: Mapping[str, Any], ts: int = 0) -> None:
        """Fold an event that the durable log holds as accepted into the state (recovery and replay).

        The log records facts: every event in it was validated by :meth:`apply` before it was appended, and the
        hash chain guards it since. Folding one needs its state change only, so the common fill (a one-way
        cross position opened, increased, reduced or closed; see :meth:`_quick_fill`) skips the checks that
        decided whether it could happen (margin, leverage, reduce-only, balances) and computes exactly what
        :meth:`apply` computes with the same formulas; every other event, and any fill outside that case, goes
        through :meth:`apply_without_result`, checks included. ``margincall ledger verify`` re-validates every
        event with :meth:`apply`. ``tests/test_ledger_speedups.py`` checks the fold equal to :meth:`apply`."""
        if (event_type == "fill" and type(payload) is dict and self.fast_fills
                and self._quick_fill(payload, False, False)):
            self.events_applied += 1
            self.last_ts = ts
            return
        self._apply(event_type, payload, ts, record=False)

    def _apply(self, event_type: str, payload: Mapping[str, Any], ts: int, *, record: bool,
               quick: bool = True) -> ApplyResult | None:
        if type(payload) is not dict and not isinstance(payload, Mapping):
            raise Rejected("invalid_payload", "payload must be a JSON object")
        if (type(ts) is not int and (isinstance(ts, bool) or not isinstance(ts, int))) or ts < 0:
            raise Rejected("invalid_field", f"ts: expected a non-negative integer, got {ts!r}", field="ts")
        if ts < self.last_ts:
            raise Rejected("out_of_order", f"ts {ts} is earlier than the last event's {self.last_ts}", field="ts")
        if quick and event_type == "fill" and self.fast_fills and type(payload) is dict:
            done = self._quick_fill(payload, True, record)
            if done is not None:
                self.events_applied += 1
                self.last_ts = ts
                return done if isinstance(done, ApplyResult) else None
        tx = _Tx(self, record=record)
        handler = self._handlers.get(event_type)
        if handler is not None:
            details = handler(tx, payload)
        else:
            ext = self._extensions.get(event_type)
            if ext is None:
                raise Rejected("unknown_event_type", f"unknown event type {event_type!r}", field="type")
            details = ext(self, tx, payload)
        self._check_postings(tx)
        postings = tx.commit()
        self.events_applied += 1
        self.last_ts = ts
        return ApplyResult(event_type, postings, details) if record else None

    def _check_postings(self, tx: _Tx) -> None:
        for (book, asset), v in tx.balances.items():
            if v >= 0:
                continue
            if book.startswith("wallet:") and (book, asset) not in self.liquidating:
                raise Rejected("insufficient_balance", f"{book} would go negative ({v} {asset})")
            if book.startswith("isolated:"):
                raise Rejected("insufficient_margin", f"{book} would go negative ({v} {asset})")

    # ------------------------------------------------------------------------------------------- lookups
    def market(self, symbol: str) -> MarketSpec:
        try:
            return self.markets[symbol]
        except KeyError:
            raise Rejected("unknown_symbol", f"unknown symbol {symbol!r}", field="symbol") from None

    def account_of(self, payload: Mapping[str, Any], name: str = "account") -> str:
        """The known account named by ``payload[name]`` (``Rejected`` otherwise)."""
        return self._account(payload, name)

    def asset_of(self, payload: Mapping[str, Any]) -> str:
        """The asset named by ``payload["asset"]``, settled by some listed market (``Rejected`` otherwise)."""
        return self._asset(payload)

    def _account(self, payload: Mapping[str, Any], name: str = "account") -> str:
        acct = _id(payload, name)
        if acct not in self.accounts:
            raise Rejected("unknown_account", f"unknown account {acct!r}", field=name)
        return acct

    def mark(self, symbol: str) -> Decimal | None:
        return self.marks.get(symbol)

    def wallet(self, account: str, asset: str) -> Decimal:
        return self.balances.get((wallet_book(account), asset), ZERO)

    def book_balance(self, book: str, asset: str) -> Decimal:
        return self.balances.get((book, asset), ZERO)

    def isolated_margin(self, key: PositionKey) -> Decimal:
        asset = self.market(key.symbol).instrument.settle_asset
        return self.balances.get((isolated_book(key.account, key.symbol, key.position_side), asset), ZERO)

    def positions_of(self, account: str) -> list[PositionState]:
        return sorted((self.positions[k] for k in self.by_account.get(account, ())),
                      key=lambda p: (p.key.symbol, p.key.position_side.value))

    def positions_in(self, symbol: str) -> list[PositionState]:
        return sorted((self.positions[k] for k in self.by_symbol.get(symbol, ())),
                      key=lambda p: (p.key.account, p.key.position_side.value))

    def settings(self, account: str, symbol: str) -> tuple[Decimal, MarginMode]:
        lev = self.leverage.get((account, symbol))
        if lev is None:
            lev = default_leverage(self.market(symbol))
        return lev, self.modes.get((account, symbol), MarginMode.CROSS)

    # ------------------------------------------------------------------------------- position arithmetic
    def price_for(self, symbol: str, fallback: Decimal | None = None) -> Decimal:
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

    # ------------------------------------------------------------------------------------------- events
    def _market_listed(self, tx: _Tx, p: Mapping[str, Any]) -> dict[str, Any]:
        symbol = _id(p, "symbol")
        if symbol in self.markets:
            raise Rejected("duplicate", f"market {symbol} is already listed", field="symbol")
        try:
            spec = market_from_listing(dict(p))
        except MarginCallError as e:
            raise Rejected(e.code, str(e), field=e.field) from None
        self.markets[symbol] = spec
        self.by_symbol.setdefault(symbol, set())
        return {"symbol": symbol, "venue": spec.venue, "settle_asset": spec.instrument.settle_asset}

    def _account_opened(self, tx: _Tx, p: Mapping[str, Any]) -> dict[str, Any]:
        acct = _id(p, "account")
        if acct in self.accounts:
            raise Rejected("duplicate", f"account {acct!r} already exists", field="account")
        hedge = _choice(p, "position_mode", ("one_way", "hedge"), "one_way") == "hedge"
        self.accounts[acct] = hedge
        self.by_account.setdefault(acct, set())
        return {"account": acct, "position_mode": "hedge" if hedge else "one_way"}

    def _position_mode_set(self, tx: _Tx, p: Mapping[str, Any]) -> dict[str, Any]:
        acct = self._account(p)
        hedge = _choice(p, "position_mode", ("one_way", "hedge")) == "hedge"
        if self.by_account.get(acct):
            raise Rejected("open_positions", "position mode cannot change while positions are open",
                           field="position_mode")
        self.accounts[acct] = hedge
        return {"account": acct, "position_mode": "hedge" if hedge else "one_way"}

    def _asset(self, p: Mapping[str, Any]) -> str:
        asset = _id(p, "asset")
        if not any(m.instrument.settle_asset == asset for m in self.markets.values()):
            raise Rejected("unknown_asset", f"no listed market settles in {asset!r}", field="asset")
        return asset

    def _amount(self, p: Mapping[str, Any], name: str = "amount") -> Decimal:
        amt = _num(p, name)
        if amt != amt.quantize(self.unit, rounding="ROUND_DOWN"):
            raise Rejected("too_precise", f"{name}: {amt} has more digits than the smallest unit {self.unit}",
                           field=name)
        return amt

    def _deposit(self, tx: _Tx, p: Mapping[str, Any]) -> dict[str, Any]:
        acct, asset, amt = self._account(p), self._asset(p), self._amount(p)
        tx.move(EXTERNAL, wallet_book(acct), asset, amt, "deposit")
        self.deposits[asset] = self.deposits.get(asset, ZERO) + amt
        return {"account": acct, "asset": asset, "amount": _s(amt)}

    def _withdrawal(self, tx: _Tx, p: Mapping[str, Any]) -> dict[str, Any]:
        acct, asset, amt = self._account(p), self._asset(p), self._amount(p)
        free = self.withdrawable(acct, asset)
        if amt > free:
            raise Rejected("insufficient_balance",
                           f"withdrawal of {amt} {asset} exceeds the withdrawable {free}", field="amount")
        tx.move(wallet_book(acct), EXTERNAL, asset, amt, "withdrawal")
        self.withdrawals[asset] = self.withdrawals.get(asset, ZERO) + amt
        return {"account": acct, "asset": asset, "amount": _s(amt), "withdrawable_before": _s(free)}

    def _transfer(self, tx: _Tx, p: Mapping[str, Any]) -> dict[str, Any]:
        src, dst = self._account(p, "from"), self._account(p, "to")
        if src == dst:
            raise Rejected("invalid_field", "transfer to the same account", field="to")
        asset, amt = self._asset(p), self._amount(p)
        free = self.withdrawable(src, asset)
        if amt > free:
            raise Rejected("insufficient_balance", f"transfer of {amt} {asset} exceeds the transferable {free}",
                           field="amount")
        tx.move(wallet_book(src), wallet_book(dst), asset, amt, "transfer")
        return {"from": src, "to": dst, "asset": asset, "amount": _s(amt)}

    def _audit(self, tx: _Tx, p: Mapping[str, Any]) -> dict[str, Any]:
        """A record of an administrative action (an API key created, revoked or rotated): no money moves and
        no state changes; the log keeps who did what, when, in its hash chain. Fields are ids and integers."""
        action = _id(p, "action")
        for name, value in p.items():
            if (value is not None and not isinstance(value, str | int)) or isinstance(value, bool):
                raise Rejected("invalid_field", f"{name}: expected a string or an integer", field=name)
            if isinstance(value, str) and len(value) > MAX_ID_LENGTH:
                raise Rejected("invalid_field", f"{name}: longer than {MAX_ID_LENGTH} characters", field=name)
        return {"action": action}

    def _insurance_fund_deposit(self, tx: _Tx, p: Mapping[str, Any]) -> dict[str, Any]:
        asset, amt = self._asset(p), self._amount(p)
        tx.move(EXTERNAL, INSURANCE, asset, amt, "insurance fund capital")
        self.deposits[asset] = self.deposits.get(asset, ZERO) + amt
        return {"asset": asset, "amount": _s(amt)}

    def _mark(self, tx: _Tx, p: Mapping[str, Any]) -> dict[str, Any]:
        symbol = _id(p, "symbol")
        self.market(symbol)
        return self._set_mark(symbol, _num(p, "price"))

    def _set_mark(self, symbol: str, price: Decimal) -> dict[str, Any]:
        previous = self.marks.get(symbol)
        self.marks[symbol] = price
        return {"symbol": symbol, "price": _s(price), "previous": None if previous is None else _s(previous)}

    def _marks(self, tx: _Tx, p: Mapping[str, Any]) -> dict[str, Any]:
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
                symbol = _id(item, "symbol")
                self.market(symbol)
                price = _num(item, "price")
            except Rejected as e:
                raise Rejected(e.code, f"{where}: {e}", field=f"{where}.{e.field}") from None
            if symbol in new:
                raise Rejected("duplicate", f"{where}: {symbol} appears twice in one tick", field=f"{where}.symbol")
            new[symbol] = price
        return {"marks": [self._set_mark(symbol, price) for symbol, price in new.items()]}

    # ---------------------------------------------------------------------------------------------- fills
    def _position_key(self, acct: str, symbol: str, p: Mapping[str, Any]) -> PositionKey:
        if self.accounts[acct]:  # hedge mode
            leg = _choice(p, "position_side", ("long", "short"))
        else:
            leg = _choice(p, "position_side", ("both",), "both")
        # One key object per position leg: dict lookups then match by identity (PositionKey's __eq__ is slow).
        key = self._keys.get((acct, symbol, leg))
        if key is None:
            key = self._keys[(acct, symbol, leg)] = PositionKey(acct, symbol, _LEGS[leg])
        return key

    def _fill(self, tx: _Tx, p: Mapping[str, Any]) -> dict[str, Any]:
        acct = self._account(p)
        symbol = _id(p, "symbol")
        market = self.market(symbol)
        side = _choice(p, "side", ("buy", "sell"))
        size = _num(p, "size")
        price = _num(p, "price")
        liquidity = _choice(p, "liquidity", ("maker", "taker"), "taker")
        reduce_only = p.get("reduce_only", False)
        if not isinstance(reduce_only, bool):
            raise Rejected("invalid_field", "reduce_only: expected true or false", field="reduce_only")
        lot = market.instrument.lot_size
        if size % lot != 0:
            raise Rejected("invalid_lot", f"size {size} is not a multiple of the lot size {lot}", field="size")
        key = self._position_key(acct, symbol, p)
        signed = size if side == "buy" else -size
        rate = market.maker_fee if liquidity == "maker" else market.taker_fee
        details = self.trade(tx, key, signed, price, rate, FEES, reduce_only=reduce_only, memo="fill")
        details["liquidity"] = liquidity
        return details

    def _new_fill_context(self, acct: str, symbol: str) -> tuple[Any, ...]:
        """What :meth:`_quick_fill` needs of an (account, symbol) pair that never changes: the market, the
        one-way position key, the wallet, clearing and fee books, and the instrument's numbers."""
        market = self.markets[symbol]
        inst = market.instrument
        key = self._keys.get((acct, symbol, "both"))
        if key is None:
            key = self._keys[(acct, symbol, "both")] = PositionKey(acct, symbol, PositionSide.BOTH)
        wallet_name = wallet_book(acct)
        asset = inst.settle_asset
        first = market.tiers.tiers[0]
        ctx = (market, key, wallet_name, (wallet_name, asset), (CLEARING, asset), (FEES, asset), inst.kind,
               inst.contract_size, asset, inst.lot_size, default_leverage(market), market.tiers.basis,
               (first.cap, first.max_leverage), _s(market.maker_fee), _s(market.taker_fee))
        self._fill_context[(acct, symbol)] = ctx
        return ctx

    def _quick_fill(self, p: dict[str, Any], checked: bool, record: bool) -> ApplyResult | bool | None:
        """:meth:`_fill` for the common fill, or None (nothing changed) to let the general path decide.

        The common fill: a known one-way account, a listed symbol, well-formed fields (read as :func:`_num`'s
        shortcut reads them), a cross position opened, increased, reduced or closed without a flip. It is
        :meth:`trade` with the branches that cannot happen then (hedge legs, isolated margin, flips) left out:
        the same formulas (fee = ``charge(trading_fee)``, realized PnL = ``user_delta(realized_pnl)``,
        ``average_entry``), the same balance moves (a zero amount moves nothing; a book that ends at zero is
        dropped, as :meth:`_Tx.commit` does), the same position and, with ``record``, the same result as
        :meth:`apply`'s ``to_dict()`` (returned as an :class:`ApplyResult`; True without ``record``).

        ``checked``: refuse (return None, so that the general path raises the documented rejection) a fill
        that breaks a rule — reduce-only, the tier's size limit, the margin it needs, a negative wallet. Without
        it (:meth:`fold`: the event is in the log, so it was accepted) those checks are skipped.
        ``tests/test_ledger_speedups.py`` checks both against the general path on random streams."""
        acct = p.get("account")
        symbol = p.get("symbol")
        # A known account and a listed symbol passed _id's checks when they were created.
        if type(acct) is not str or type(symbol) is not str or self.accounts.get(acct) is not False:
            return None  # unknown account, hedge mode, or not a plain string
        ctx = self._fill_context.get((acct, symbol))
        if ctx is None:
            if symbol not in self.markets:
                return None
            ctx = self._new_fill_context(acct, symbol)
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
        positions = self.positions
        pos = positions.get(key)
        buy = side == "buy"
        if pos is None:
            # settings(), inlined: the account's leverage and mode for the symbol, or the market's defaults
            cur = ZERO
            if self.leverage or self.modes:
                lev = self.leverage.get((acct, symbol), unset_leverage)
                mode = self.modes.get((acct, symbol), MarginMode.CROSS)
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
        unit = self.unit
        fee_rate = market.maker_fee if liquidity == "maker" else market.taker_fee
        fee = charge(trading_fee(kind, size * contract_size, price, fee_rate), unit)
        balances = self.balances
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
                # Below the first tier's cap at most its maximum leverage passes _check_leverage: the tiers
                # start at 0, so that amount is in the first tier under either cap convention.
                if not ((first_cap is None or amount < first_cap) and lev <= first_max_leverage):
                    try:
                        self._check_leverage(market, notional_after, lev, size_after)
                    except Rejected:
                        return None
        wallet_after = balances.get(wallet, ZERO) + realized - fee
        if checked:
            if wallet_after < 0 and wallet not in self.liquidating:
                return None  # insufficient balance: the general path rejects it
            if opening > 0:
                assert new_pos is not None
                staged = [positions[k] for k in self.by_account.get(acct, ()) if not (k is key or k == key)]
                staged.append(new_pos)
                upnl, im_total, _ = self.cross_totals(acct, asset, staged, with_mm=False)
                if wallet_after + upnl - im_total - self.reserved_total(acct, asset) < 0:
                    return None  # insufficient margin: the general path rejects it
        # -- every check passed: write
        if realized:
            v = balances.get(clearing, ZERO) - realized
            if v:
                balances[clearing] = v
            else:
                balances.pop(clearing, None)
        if fee:
            v = balances.get(fees, ZERO) + fee
            if v:
                balances[fees] = v
            else:
                balances.pop(fees, None)
        if realized or fee:
            if wallet_after:
                balances[wallet] = wallet_after
            else:
                balances.pop(wallet, None)
        if new_pos is None:
            del positions[key]
            self.by_symbol[symbol].discard(key)
            self.by_account[acct].discard(key)
        else:
            if pos is None:  # a new position: index it (a listed market and an opened account have their sets)
                self.by_symbol[symbol].add(key)
                self.by_account[acct].add(key)
            positions[key] = new_pos
        if not record:
            return True
        # The text of each number as the general path writes it: str() in postings (Posting.to_dict), _s() in the
        # details; each computed once where two fields hold the same number.
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
        price_text = _s(price)
        signed_text = _s(size if buy else -size)
        if new_pos is None:
            size_text, entry_text = "0", None
        elif pos is None:  # opened from flat: the position is the fill
            size_text, entry_text = signed_text, price_text
        else:
            size_text, entry_text = _s(new_pos.size), _s(new_pos.entry_price)
        return ApplyResult("fill", rendered={
            "type": "fill", "postings": postings, "account": acct, "symbol": symbol, "position_side": "both",
            "price": price_text, "signed_size": signed_text, "realized_pnl": _s(realized),
            "fee": fee_text, "fee_rate": maker_fee_text if liquidity == "maker" else taker_fee_text,
            "position_size": size_text, "entry_price": entry_text, "liquidity": liquidity})

    def trade(
        self,
        tx: _Tx,
        key: PositionKey,
        signed_size: Decimal,
        price: Decimal,
        fee_rate: Decimal,
        fee_book: str,
        *,
        reduce_only: bool = False,
        memo: str = "fill",
        check_margin: bool = True,
    ) -> dict[str, Any]:
        """Trade ``signed_size`` contracts of ``key`` at ``price`` against the clearing counterparty.

        Reduces first (realizing PnL and releasing isolated margin pro rata), then opens or increases with
        the account's leverage and margin mode for the symbol (isolated: IM moved into the position's margin).
        The fee ``notional × fee_rate`` goes to ``fee_book`` (fee income; the insurance fund for liquidations).
        """
        market = self.markets[key.symbol]
        inst = market.instrument
        kind, contract_size, asset = inst.kind, inst.contract_size, inst.settle_asset
        unit = self.unit
        wallet = wallet_book(key.account)
        pos = tx.position(key)
        cur = pos.size if pos is not None else ZERO
        size = abs(signed_size)
        buy = signed_size > 0
        if key.position_side is not PositionSide.BOTH:  # a hedge-mode leg
            increasing = buy == (key.position_side is PositionSide.LONG)
            if not increasing and size > abs(cur):
                raise Rejected("reduce_exceeds_position",
                               f"{size} would reduce the {key.position_side.value} leg of {abs(cur)}",
                               field="size")
        closing = ZERO
        if cur != 0 and (cur > 0) != buy:
            closing = min(size, abs(cur))
        opening = size - closing
        if reduce_only and opening > 0:
            raise Rejected("reduce_only_violation", "a reduce-only fill would increase or flip the position",
                           field="reduce_only")
        details: dict[str, Any] = {"account": key.account, "symbol": key.symbol,
                                   "position_side": key.position_side.value, "price": _s(price),
                                   "signed_size": _s(signed_size)}
        fee = charge(trading_fee(kind, size * contract_size, price, fee_rate), unit)
        realized = ZERO
        new_pos: PositionState | None = pos
        if closing > 0:
            assert pos is not None
            realized = user_delta(realized_pnl(kind, pos.sign, closing * contract_size, pos.entry_price, price), unit)
            if pos.is_isolated:
                iso = isolated_book(key.account, key.symbol, key.position_side)
                held = tx.balance(iso, asset)
                release = held if closing == abs(cur) else user_delta(held * closing / abs(cur), unit)
                tx.move(iso, wallet, asset, release, f"{memo}: isolated margin released")
                details["margin_released"] = _s(release)
            tx.move(CLEARING, wallet, asset, realized, f"{memo}: realized pnl")
            remaining = abs(cur) - closing
            new_pos = (None if remaining == 0 else
                       PositionState(key, remaining * pos.sign, pos.entry_price, pos.margin_mode, pos.leverage))
        if opening > 0:
            lev, mode = (new_pos.leverage, new_pos.margin_mode) if new_pos is not None else self._settings_tx(tx, key)
            if new_pos is not None:
                q0 = abs(new_pos.size) * contract_size
                entry = average_entry(kind, q0, new_pos.entry_price, opening * contract_size, price)
                size_after = abs(new_pos.size) + opening
            else:
                entry = price
                size_after = opening
            new_pos = PositionState(key, size_after if buy else -size_after, entry, mode, lev)
            notional_after = notional_of(kind, size_after * contract_size, price)
            self._check_leverage(market, notional_after, lev, size_after)
            if mode is MarginMode.ISOLATED:
                im = charge(initial_margin(notional_of(kind, opening * contract_size, price), lev), unit)
                iso = isolated_book(key.account, key.symbol, key.position_side)
                tx.move(wallet, iso, asset, im, f"{memo}: isolated initial margin")
                details["margin_locked"] = _s(im)
        tx.move(wallet, fee_book, asset, fee, f"{memo}: fee")
        tx.positions[key] = new_pos
        details["realized_pnl"] = _s(realized)
        details["fee"] = _s(fee)
        details["fee_rate"] = _s(fee_rate)
        details["position_size"] = _s(new_pos.size) if new_pos is not None else "0"
        details["entry_price"] = None if new_pos is None else _s(new_pos.entry_price)
        if check_margin and opening > 0:
            # Only a fill that opens or increases can need margin; a pure reduction never adds any.
            upnl, im_total, _ = self.cross_totals(key.account, asset, self._staged_positions(tx, key.account),
                                                  with_mm=False)
            reserved = self.reserved_total(key.account, asset)
            avail = tx.balance(wallet, asset) + upnl - im_total - reserved
            if avail < 0:
                raise Rejected("insufficient_margin",
                               f"the fill needs {-avail} {asset} more available balance", field="size")
        return details

    def _account_positions_tx(self, tx: _Tx, account: str) -> list[tuple[PositionKey, PositionState]]:
        """The account's positions as ``tx`` would leave them: (key, position) pairs."""
        return [(q.key, q) for q in self._staged_positions(tx, account)]

    def _staged_positions(self, tx: _Tx, account: str) -> list[PositionState]:
        """The account's positions as ``tx`` would leave them (committed ones, overridden by staged ones)."""
        staged = tx.positions
        positions = self.positions
        out = []
        for k in self.by_account.get(account, ()):
            if k not in staged:
                out.append(positions[k])
        for k, q in staged.items():
            if q is not None and k.account == account:
                out.append(q)
        return out

    def _settings_tx(self, tx: _Tx, key: PositionKey) -> tuple[Decimal, MarginMode]:
        lev, mode = self.settings(key.account, key.symbol)
        if tx.leverage or tx.modes:
            sk = (key.account, key.symbol)
            return tx.leverage.get(sk, lev), tx.modes.get(sk, mode)
        return lev, mode

    @staticmethod
    def _check_leverage(market: MarketSpec, notional: Decimal, leverage: Decimal, contracts: Decimal) -> None:
        tiers = market.tiers
        amount = contracts if tiers.basis is TierBasis.CONTRACTS else notional
        if tiers.exceeds(amount):
            raise Rejected("position_too_large",
                           f"a position of {amount} is beyond the last tier of {market.instrument.symbol}",
                           field="size")
        tier = tiers.tier_for(amount)
        if leverage > tier.max_leverage:
            raise Rejected("leverage_too_high",
                           f"leverage {leverage} is above {tier.max_leverage}, the maximum for a position of {amount}",
                           field="leverage")

    # -------------------------------------------------------------------------------------------- funding
    def _funding(self, tx: _Tx, p: Mapping[str, Any]) -> dict[str, Any]:
        """Funding: ``amount = position notional at the mark × rate``; positive rate → longs pay shorts
        (docs/venues.md §3.7, §4.7, §10). Cross positions pay from / receive into the wallet, isolated ones their
        position margin (Bybit: funding moves the isolated margin). Payers are rounded up, receivers down; the
        pool's residual (open interest held against outside counterparties, and rounding) is swept to the
        clearing book so the funding pool nets to zero per symbol and interval."""
        symbol = _id(p, "symbol")
        market = self.market(symbol)
        rate = _num(p, "rate", to_decimal)
        if abs(rate) >= 1:
            raise Rejected("invalid_number", f"rate: {rate} is not a plausible funding rate", field="rate")
        mark = _num(p, "mark") if p.get("mark") is not None else self.price_for(symbol)
        asset = market.instrument.settle_asset
        paid = received = ZERO
        unpaid = ZERO
        n = 0
        for pos in self.positions_in(symbol):
            amount = user_delta(funding_payment(pos.sign, self.position_notional(pos, mark), rate), self.unit)
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
        return {"symbol": symbol, "rate": _s(rate), "mark": _s(mark), "positions": n, "paid": _s(paid),
                "received": _s(received), "residual": _s(residual), "unpaid": _s(unpaid)}

    # ------------------------------------------------------------------------------- margin and leverage
    def _existing(self, p: Mapping[str, Any]) -> PositionState:
        acct = self._account(p)
        symbol = _id(p, "symbol")
        self.market(symbol)
        key = self._position_key(acct, symbol, p)
        pos = self.positions.get(key)
        if pos is None:
            raise Rejected("no_position", f"{acct} has no {key.position_side.value} position in {symbol}",
                           field="symbol")
        return pos

    def _margin_added(self, tx: _Tx, p: Mapping[str, Any]) -> dict[str, Any]:
        pos = self._existing(p)
        if not pos.is_isolated:
            raise Rejected("not_isolated", "margin can be added only to an isolated position", field="symbol")
        amt = self._amount(p)
        asset = self.markets[pos.key.symbol].instrument.settle_asset
        free = self.withdrawable(pos.key.account, asset)
        if amt > free:
            raise Rejected("insufficient_balance", f"{amt} {asset} exceeds the available {free}", field="amount")
        tx.move(wallet_book(pos.key.account), isolated_book(pos.key.account, pos.key.symbol, pos.key.position_side),
                asset, amt, "isolated margin added")
        return {"account": pos.key.account, "symbol": pos.key.symbol, "amount": _s(amt)}

    def _margin_removed(self, tx: _Tx, p: Mapping[str, Any]) -> dict[str, Any]:
        """Removable isolated margin: what keeps ``margin + min(uPnL, 0) ≥ IM at the mark`` (Binance)."""
        pos = self._existing(p)
        if not pos.is_isolated:
            raise Rejected("not_isolated", "margin can be removed only from an isolated position", field="symbol")
        amt = self._amount(p)
        asset = self.markets[pos.key.symbol].instrument.settle_asset
        price = self.price_for(pos.key.symbol, pos.entry_price)
        held = self.isolated_margin(pos.key)
        removable = held + min(self.position_upnl(pos, price), ZERO) - self.position_im(pos, price)
        if amt > removable:
            raise Rejected("insufficient_margin",
                           f"removing {amt} {asset} would leave less than the initial margin (removable "
                           f"{max(removable, ZERO)})", field="amount")
        tx.move(isolated_book(pos.key.account, pos.key.symbol, pos.key.position_side), wallet_book(pos.key.account),
                asset, amt, "isolated margin removed")
        return {"account": pos.key.account, "symbol": pos.key.symbol, "amount": _s(amt)}

    def _leverage_set(self, tx: _Tx, p: Mapping[str, Any]) -> dict[str, Any]:
        acct = self._account(p)
        symbol = _id(p, "symbol")
        market = self.market(symbol)
        lev = _num(p, "leverage")
        cur_lev, cur_mode = self.settings(acct, symbol)
        mode = MarginMode(_choice(p, "margin_mode", ("cross", "isolated"), cur_mode.value))
        open_positions = sorted((self.positions[k] for k in self.by_account.get(acct, ()) if k.symbol == symbol),
                                key=position_order)
        if open_positions and mode is not cur_mode:
            raise Rejected("open_positions", "the margin mode cannot change while a position is open",
                           field="margin_mode")
        asset = market.instrument.settle_asset
        tx.leverage[(acct, symbol)] = lev
        tx.modes[(acct, symbol)] = mode
        if not open_positions and lev > market.tiers.max_leverage:
            raise Rejected("leverage_too_high", f"leverage {lev} is above {symbol}'s maximum "
                           f"{market.tiers.max_leverage}", field="leverage")
        for pos in open_positions:
            price = self.price_for(symbol, pos.entry_price)
            self._check_leverage(market, self.position_notional(pos, price), lev, abs(pos.size))
            new = replace(pos, leverage=lev)
            tx.positions[pos.key] = new
            if pos.is_isolated and self.isolated_margin(pos.key) < self.position_im(new, price):
                raise Rejected("insufficient_margin", "the isolated margin would not cover the initial margin at "
                               f"leverage {lev}", field="leverage")
        if open_positions and mode is MarginMode.CROSS:
            positions = [q for _k, q in self._account_positions_tx(tx, acct)]
            upnl, im, _ = self.cross_totals(acct, asset, positions)
            if self.wallet(acct, asset) + upnl - im - self.reserved_total(acct, asset) < 0:
                raise Rejected("insufficient_margin", f"the cross margin would not cover the initial margin at "
                               f"leverage {lev}", field="leverage")
        return {"account": acct, "symbol": symbol, "leverage": _s(lev), "margin_mode": mode.value,
                "previous_leverage": _s(cur_lev)}

    # ---------------------------------------------------------------------------------------- order margin
    def _order_margin_reserved(self, tx: _Tx, p: Mapping[str, Any]) -> dict[str, Any]:
        acct = self._account(p)
        oid = _id(p, "order_id")
        asset, amt = self._asset(p), self._amount(p)
        if (acct, oid) in self.reserved:
            raise Rejected("duplicate", f"order {oid} already reserves margin", field="order_id")
        avail = self.available_balance(acct, asset)
        if amt > avail:
            raise Rejected("insufficient_margin", f"{amt} {asset} exceeds the available {avail}", field="amount")
        tx.reserved[(acct, oid)] = (asset, amt)
        return {"account": acct, "order_id": oid, "asset": asset, "amount": _s(amt)}

    def _order_margin_released(self, tx: _Tx, p: Mapping[str, Any]) -> dict[str, Any]:
        acct = self._account(p)
        oid = _id(p, "order_id")
        if (acct, oid) not in self.reserved:
            raise Rejected("unknown_order", f"order {oid} reserves no margin", field="order_id")
        asset, amt = self.reserved[(acct, oid)]
        tx.reserved[(acct, oid)] = None
        return {"account": acct, "order_id": oid, "asset": asset, "amount": _s(amt)}

    def release_all_orders(self, tx: _Tx, account: str) -> list[dict[str, str]]:
        released = []
        for (acct, oid), (asset, amt) in sorted(self.reserved.items()):
            if acct == account:
                tx.reserved[(acct, oid)] = None
                released.append({"order_id": oid, "asset": asset, "amount": _s(amt)})
        return released

    # --------------------------------------------------------------------------------- invariants, state
    def conservation_error(self) -> str | None:
        """``None`` when, per asset, Σ all non-external books = Σ deposits − Σ withdrawals (and the
        external book is exactly its negative); otherwise a message saying which asset is off by how much."""
        totals: dict[str, Decimal] = {}
        for (book, asset), v in self.balances.items():
            if book != EXTERNAL:
                totals[asset] = totals.get(asset, ZERO) + v
        assets = set(totals) | set(self.deposits) | set(self.withdrawals)
        for asset in sorted(assets):
            net = self.deposits.get(asset, ZERO) - self.withdrawals.get(asset, ZERO)
            held = totals.get(asset, ZERO)
            if held != net:
                return f"{asset}: books hold {held} but deposits − withdrawals = {net}"
            if self.balances.get((EXTERNAL, asset), ZERO) != -net:
                return f"{asset}: external book {self.balances.get((EXTERNAL, asset), ZERO)} is not −{net}"
        for (book, asset), v in self.balances.items():
            if book.startswith(("wallet:", "isolated:")) and v < 0 and (book, asset) not in self.liquidating:
                return f"{book} is negative: {v} {asset}"
        return None

    def snapshot(self) -> dict[str, Any]:
        """The whole state as JSON-able data (sorted, so equal states give equal JSON)."""
        return {
            "unit": str(self.unit),
            "markets": {s: m.listing for s, m in sorted(self.markets.items())},
            "marks": {s: str(v) for s, v in sorted(self.marks.items())},
            "accounts": {a: h for a, h in sorted(self.accounts.items())},
            "balances": [[b, a, str(v)] for (b, a), v in sorted(self.balances.items())],
            "positions": [
                [k.account, k.symbol, k.position_side.value, str(q.size), str(q.entry_price), q.margin_mode.value,
                 str(q.leverage)]
                for k, q in sorted(self.positions.items(),
                                   key=lambda kv: (kv[0].account, kv[0].symbol, kv[0].position_side.value))
            ],
            "leverage": [[a, s, str(v)] for (a, s), v in sorted(self.leverage.items())],
            "modes": [[a, s, v.value] for (a, s), v in sorted(self.modes.items())],
            "reserved": [[a, o, asset, str(v)] for (a, o), (asset, v) in sorted(self.reserved.items())],
            "liquidating": sorted([b, a] for b, a in self.liquidating),
            "deposits": {a: str(v) for a, v in sorted(self.deposits.items())},
            "withdrawals": {a: str(v) for a, v in sorted(self.withdrawals.items())},
            "events_applied": self.events_applied,
            "last_ts": self.last_ts,
        }

    @classmethod
    def from_snapshot(cls, data: Mapping[str, Any]) -> Ledger:
        led = cls(Decimal(data["unit"]))
        for symbol, listing in data["markets"].items():
            led.markets[symbol] = market_from_listing(listing)
            led.by_symbol.setdefault(symbol, set())
        led.marks = {s: Decimal(v) for s, v in data["marks"].items()}
        led.accounts = dict(data["accounts"])
        for a in led.accounts:
            led.by_account.setdefault(a, set())
        led.balances = {(b, a): Decimal(v) for b, a, v in data["balances"]}
        for acct, sym, ps, size, entry, mode, lev in data["positions"]:
            key = PositionKey(acct, sym, PositionSide(ps))
            led.positions[key] = PositionState(key, Decimal(size), Decimal(entry), MarginMode(mode), Decimal(lev))
            led._keys[(acct, sym, ps)] = key
            led.by_symbol.setdefault(sym, set()).add(key)
            led.by_account.setdefault(acct, set()).add(key)
        led.leverage = {(a, s): Decimal(v) for a, s, v in data["leverage"]}
        led.modes = {(a, s): MarginMode(v) for a, s, v in data["modes"]}
        led.reserved = {(a, o): (asset, Decimal(v)) for a, o, asset, v in data["reserved"]}
        led.liquidating = {(b, a) for b, a in data.get("liquidating", [])}
        led.deposits = {a: Decimal(v) for a, v in data["deposits"].items()}
        led.withdrawals = {a: Decimal(v) for a, v in data["withdrawals"].items()}
        led.events_applied = int(data["events_applied"])
        led.last_ts = int(data["last_ts"])
        return led

    def digest(self) -> str:
        """sha256 of the canonical snapshot: two ledgers are in the same state iff their digests are equal."""
        blob = json.dumps(self.snapshot(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()

    def copy(self) -> Ledger:
        clone = Ledger.from_snapshot(self.snapshot())
        clone._extensions = dict(self._extensions)
        return clone



# -- the names event handlers outside this module use (the risk engine's events, risk/events.py) ---------------------
Tx = _Tx
read_id = _id
read_number = _num
read_choice = _choice
