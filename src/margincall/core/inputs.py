"""Inputs through the core: fills, deposits, withdrawals, transfers, the insurance fund's capital and funding
payments, checked and written into the arrays exactly as the ledger applies them (``Ledger.apply``), one input or
a batch of them.

``apply_batch(core, events)`` takes ``(type, payload, ts)`` as the ledger does and returns the state after them and,
per input, ``None`` (applied) or the refusal: a :class:`~margincall.ledger.Rejected` with the ledger's code (the same
rule refuses it in both), or a :class:`~margincall.core.ranges.CoreRangeError` for an input the core refuses by
design (an increase at a price other than the entry, which averages it; a number outside the core's scales; an
event type the core does not run yet). A refused input leaves no trace.

Python here reads the payloads with the ledger's own readers (:mod:`margincall.ledger.fields`, in the handlers'
order, so a malformed input is refused with the ledger's code) into columns; the compiled pass
(:func:`~margincall.core.input_kernels.run_inputs`) checks and writes them in order. The one decision it leaves
to Python is ``Σ IM`` within a unit of the limit: then the reference's own Decimal expression decides
(:func:`_exceeds`), from the core's integers converted exactly.

The position table stays sorted by (account, market, leg), which the watch table needs. Positions a batch opens go
to a small tail and positions it closes keep their row at size 0 during the batch; at its end (and before a funding
payment, which walks a market's positions in the ledger's order) the table is compacted and the watch and per-market
tables rebuilt once — O(n) copies per batch that opens or closes a position or flips one between cross and isolated
(no sort of the table), O(1) per input that changes one in place. **The returned state replaces the one given**: the
arrays of ``core`` are written in place.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from decimal import Decimal
from typing import Any

import numpy as np

from margincall.core import input_kernels as K
from margincall.core.build import tables_of_sorted
from margincall.core.ranges import RATE_DIGITS, CoreRangeError, scaled, unscaled
from margincall.core.state import SIDES, CoreState, Positions
from margincall.ledger import Rejected
from margincall.ledger.fields import read_choice, read_fill_terms, read_id, read_number
from margincall.math.contracts import notional_of, pnl_of
from margincall.math.margin import initial_margin
from margincall.model.enums import ContractKind
from margincall.model.errors import MarginCallError
from margincall.model.numbers import ZERO, to_decimal

Event = tuple[str, Mapping[str, Any], int]
_STATIC = (K.STATIC_REFUSED, 0, 0, 0, 0, 0, 0, 0, 0, 0)
_PRE = (K.PRE_REFUSED, 0, 0, 0, 0, 0, 0, 0, 0, 0)
#: the event types the core runs
SUPPORTED = ("fill", "deposit", "withdrawal", "transfer", "insurance_fund_deposit", "funding")
_KINDS = {"fill": K.FILL, "deposit": K.DEPOSIT, "withdrawal": K.WITHDRAWAL, "transfer": K.TRANSFER,
          "insurance_fund_deposit": K.INSURANCE_DEPOSIT}
_FIELDS = {"reduce_exceeds_position": "size", "reduce_only_violation": "reduce_only", "position_too_large": "size",
           "leverage_too_high": "leverage", "insufficient_margin": "size", "out_of_order": "ts"}
_LEDGER_TYPES = ("market_listed", "account_opened", "position_mode_set", "mark", "marks", "margin_added",
                 "margin_removed", "leverage_set", "order_margin_reserved", "order_margin_released", "audit")


def apply(core: CoreState, event_type: str, payload: Mapping[str, Any], ts: int = 0) -> CoreState:
    """One input: the state after it, or its refusal raised (the state untouched)."""
    state, (outcome,) = apply_batch(core, [(event_type, payload, ts)])
    if outcome is not None:
        raise outcome
    return state


def apply_batch(core: CoreState, events: Sequence[Event]) -> tuple[CoreState, list[MarginCallError | None]]:
    """Apply ``events`` in order; the state after them and each one's outcome (None: applied)."""
    outcomes: list[MarginCallError | None] = [None] * len(events)
    state = core
    run: list[int] = []
    for i, (event_type, _payload, _ts) in enumerate(events):
        if event_type == "funding":
            state = _run(state, events, run, outcomes)
            run = []
            state = _funding(state, events[i], outcomes, i)
        else:
            run.append(i)
    return _run(state, events, run, outcomes), outcomes


# ---------------------------------------------------------------------------------------------- reading inputs
def _static(payload: Any, ts: Any) -> Rejected | None:
    """What ``Ledger.apply`` refuses before the ``ts`` order: a payload not an object, a bad ``ts``."""
    if not isinstance(payload, Mapping):
        return Rejected("invalid_payload", "payload must be a JSON object")
    if isinstance(ts, bool) or not isinstance(ts, int) or ts < 0:
        return Rejected("invalid_field", f"ts: expected a non-negative integer, got {ts!r}", field="ts")
    return None


class _Lookup:
    """Names → rows, and each market's numbers as Python values, for reading payloads (made once per state's
    account list and market table, which no input of this module changes)."""

    def __init__(self, core: CoreState) -> None:
        self.accounts = {a: i for i, a in enumerate(core.accounts)}
        self.symbols = {s: i for i, s in enumerate(core.markets.symbols)}
        mk = core.markets
        settled = set(mk.asset.tolist())
        self.assets = {a: i for i, a in enumerate(core.assets) if i in settled}
        #: per market: (size digits, lot as a Decimal, price digits, maker fee, taker fee, settle asset)
        self.market = [(int(mk.size_digits[m]), unscaled(int(mk.lot[m]), int(mk.size_digits[m])),
                        int(mk.price_digits[m]), int(mk.maker_fee[m]), int(mk.taker_fee[m]), int(mk.asset[m]))
                       for m in range(len(mk.symbols))]


_LOOKUP: list[tuple[object, object, _Lookup]] = []


def _lookup(core: CoreState) -> _Lookup:
    if _LOOKUP and _LOOKUP[0][0] is core.accounts and _LOOKUP[0][1] is core.markets:
        return _LOOKUP[0][2]
    found = _Lookup(core)
    _LOOKUP[:] = [(core.accounts, core.markets, found)]
    return found


def _account(look: _Lookup, p: Mapping[str, Any], name: str = "account") -> int:
    acct = read_id(p, name)
    a = look.accounts.get(acct)
    if a is None:
        raise Rejected("unknown_account", f"unknown account {acct!r}", field=name)
    return a


def _market(look: _Lookup, p: Mapping[str, Any]) -> int:
    symbol = read_id(p, "symbol")
    m = look.symbols.get(symbol)
    if m is None:
        raise Rejected("unknown_symbol", f"unknown symbol {symbol!r}", field="symbol")
    return m


def _asset(look: _Lookup, p: Mapping[str, Any]) -> int:
    asset = read_id(p, "asset")
    x = look.assets.get(asset)
    if x is None:
        raise Rejected("unknown_asset", f"no listed market settles in {asset!r}", field="asset")
    return x


def _amount(core: CoreState, p: Mapping[str, Any]) -> int:
    amt = read_number(p, "amount")
    unit = Decimal(1).scaleb(-core.unit_digits)
    if amt != amt.quantize(unit, rounding="ROUND_DOWN"):
        raise Rejected("too_precise", f"amount: {amt} has more digits than the smallest unit {unit}", field="amount")
    return scaled(amt, core.unit_digits, "amount")


def _read(core: CoreState, look: _Lookup, event_type: str, p: Mapping[str, Any]) -> tuple[int, ...]:
    """(kind, account, market, leg, signed size, price, fee rate, reduce_only, asset, amount) of one input, read
    in the ledger handler's order."""
    if event_type not in _KINDS:
        if event_type in _LEDGER_TYPES:
            raise CoreRangeError(f"type: {event_type} events are not run through the core yet", field="type")
        raise Rejected("unknown_event_type", f"unknown event type {event_type!r}", field="type")
    kind = _KINDS[event_type]
    if kind == K.INSURANCE_DEPOSIT:
        return kind, 0, 0, 0, 0, 0, 0, 0, _asset(look, p), _amount(core, p)
    if kind == K.TRANSFER:  # the receiving account in the market column
        src, dst = _account(look, p, "from"), _account(look, p, "to")
        if src == dst:
            raise Rejected("invalid_field", "transfer to the same account", field="to")
        return kind, src, dst, 0, 0, 0, 0, 0, _asset(look, p), _amount(core, p)
    a = _account(look, p)
    if kind != K.FILL:
        x = _asset(look, p)
        return kind, a, 0, 0, 0, 0, 0, 0, x, _amount(core, p)
    m = _market(look, p)
    sd, lot, pd, maker, taker, asset = look.market[m]
    t = read_fill_terms(p, lot)
    side, size, price, liquidity, reduce_only = t.side, t.size, t.price, t.liquidity, t.reduce_only
    if core.hedge[a]:  # (a numpy bool)
        leg = read_choice(p, "position_side", ("long", "short"))
    else:
        leg = read_choice(p, "position_side", ("both",), "both")
    s = scaled(size, sd, "size")
    return (kind, a, m, SIDES.index(leg), s if side == "buy" else -s, scaled(price, pd, "price"),
            maker if liquidity == "maker" else taker, int(reduce_only), asset, 0)


# --------------------------------------------------------------------------------------------------- a run
def _run(core: CoreState, events: Sequence[Event], idx: list[int], outcomes: list[MarginCallError | None]) -> CoreState:
    """The inputs ``idx`` (fills, deposits, withdrawals) through the compiled pass, then the table compacted."""
    if not idx:
        return core
    n = len(idx)
    rows: list[tuple[int, ...]] = []
    times: list[int] = []
    early: dict[int, MarginCallError] = {}
    look = _lookup(core)
    for k, i in enumerate(idx):
        event_type, payload, t = events[i]
        bad = _static(payload, t)
        if bad is not None:
            rows.append(_STATIC)
            times.append(0)
            early[k] = bad
            continue
        times.append(t)
        try:
            rows.append(_read(core, look, event_type, payload))
        except MarginCallError as e:
            rows.append(_PRE)
            early[k] = e
    cols = np.array(rows, np.int64).T.copy()
    ts = np.array(times, np.int64)
    kind, acct, mkt, leg, signed, price, fee_rate, reduce_only, asset, amount = cols
    force = np.zeros(n, np.int8)
    code = np.zeros(n, np.int64)
    scratch = np.zeros(6, np.int64)
    counters = np.array([0, core.last_ts, core.events_applied, 0], np.int64)
    p, m, st = core.positions, core.markets, core.settings
    tail = _Tail(n)
    start = 0
    while True:
        stop = K.run_inputs(  # type: ignore[call-arg]  # numba's Dispatcher stub takes fewer arguments
            start, kind, acct, mkt, leg, signed, price, fee_rate, reduce_only.astype(np.bool_),
            asset, amount, ts, force, code, scratch, counters,
            p.account, p.market, p.side, p.size, p.entry, p.isolated, p.isolated_margin, p.leverage,
            *tail.columns(), st.account, st.market, st.leverage, st.isolated,
            m.asset, m.contract_size, m.basis_contracts, m.cap_inclusive, m.tier_ptr, core.tiers.floor,
            core.tiers.max_leverage, m.last_cap, m.has_mark, m.mark,
            core.wallet, core.liquidating, core.order_margin, core.system, core.deposits,
            core.withdrawals)
        if stop == n:
            break
        exceeds = _exceeds(core, tail, int(counters[0]), int(kind[stop]), int(acct[stop]), int(asset[stop]),
                           int(amount[stop]), scratch)
        force[stop] = K.FORCE_EXCEEDS if exceeds else K.FORCE_FITS
        start = stop
    for k, i in enumerate(idx):
        outcomes[i] = _outcome(int(code[k]), int(kind[k]), early.get(k))
    state = replace(core, last_ts=int(counters[1]), events_applied=int(counters[2]))
    if counters[3]:
        state = _compact(state, tail, int(counters[0]))
    return state


def _outcome(code: int, kind: int, early: MarginCallError | None) -> MarginCallError | None:
    if code == K.APPLIED:
        return None
    if code == K.PAYLOAD:
        assert early is not None
        return early
    if code == K.AVERAGED:
        return CoreRangeError("price: an increase at a price other than the entry averages it, which the core "
                              "does not hold yet", field="price")
    if code == K.OUT_OF_RANGE:
        return CoreRangeError("size: the input takes an amount outside the core's range", field="size")
    rule = K.REFUSALS[code]
    field = "amount" if kind in (K.WITHDRAWAL, K.TRANSFER) else _FIELDS.get(rule)
    return Rejected(rule, f"refused: {rule}", field=field)


class _Tail:
    """The positions a run opens, at most one per input."""

    def __init__(self, n: int) -> None:
        self.account = np.zeros(n, np.int32)
        self.market = np.zeros(n, np.int32)
        self.side = np.zeros(n, np.int8)
        self.size = np.zeros(n, np.int64)
        self.entry = np.zeros(n, np.int64)
        self.isolated = np.zeros(n, np.bool_)
        self.margin = np.zeros(n, np.int64)
        self.leverage = np.zeros(n, np.int64)

    def columns(self) -> tuple[np.ndarray, ...]:
        return (self.account, self.market, self.side, self.size, self.entry, self.isolated, self.margin,
                self.leverage)


def _compact(core: CoreState, tail: _Tail, n_tail: int) -> CoreState:
    """The position table without its closed rows and with the run's new ones merged in (by account, market, leg:
    the run's few new rows sorted, then inserted where they belong), and the watch and per-market tables rebuilt:
    one compiled pass per column, no sort of the table."""
    p = core.positions
    live = np.flatnonzero(tail.size[:n_tail] != 0)
    order = live[np.lexsort((tail.side[live], tail.market[live], tail.account[live]))]
    at = K.insertion_points(p.account, p.market, p.side, tail.account, tail.market, tail.side, order)
    n_out = int(np.count_nonzero(p.size)) + len(order)

    def cat(main: np.ndarray, new: np.ndarray) -> np.ndarray:
        out: np.ndarray = K.merged(main, p.size, new, order, at, n_out)
        return out

    acc, mkt, side = cat(p.account, tail.account), cat(p.market, tail.market), cat(p.side, tail.side)
    iso = cat(p.isolated, tail.isolated)
    watch, watches, per_market = tables_of_sorted(acc, mkt, iso, core.markets.asset, len(core.assets),
                                                  len(core.markets.symbols))
    positions = Positions(acc, mkt, side, cat(p.size, tail.size), cat(p.entry, tail.entry), iso,
                          cat(p.isolated_margin, tail.margin), cat(p.leverage, tail.leverage), watch)
    return replace(core, positions=positions, watches=watches, by_market=per_market)


# ------------------------------------------------------------------------------------ the Decimal decision
def _exceeds(core: CoreState, tail: _Tail, n_tail: int, kind: int, a: int, x: int, amount: int,
             scratch: np.ndarray) -> bool:
    """Whether the input is refused, decided by the reference's expression (``Trading.trade``'s available
    balance, ``Valuation.withdrawable``) over the account's cross positions as the input leaves them, in the
    reference's order (symbol, then leg), with Σ IM summed as 28-digit Decimals."""
    u = core.unit_digits
    p, m = core.positions, core.markets
    n_main = len(p.size)
    rows: list[tuple[int, int, int, int, int, bool, int]] = []  # (market, leg, size, entry, leverage, iso, ref)
    for r in np.flatnonzero(p.account == a):
        rows.append((int(p.market[r]), int(p.side[r]), int(p.size[r]), int(p.entry[r]), int(p.leverage[r]),
                     bool(p.isolated[r]), int(r)))
    for j in range(n_tail + 1):
        if j < len(tail.size) and int(tail.account[j]) == a:
            rows.append((int(tail.market[j]), int(tail.side[j]), int(tail.size[j]), int(tail.entry[j]),
                         int(tail.leverage[j]), bool(tail.isolated[j]), n_main + j))
    staged = int(scratch[1])
    upnl = im = ZERO
    upnl_units = 0
    for mi, _leg, size, entry, lev, iso, ref in sorted(rows, key=lambda t: (t[0], t[1], t[6])):
        if ref == staged and kind == K.FILL:
            size, entry, lev, iso = int(scratch[2]), int(scratch[3]), int(scratch[4]), bool(scratch[5])
        elif ref >= n_main + n_tail:
            continue  # a tail row not (yet) holding a position
        if size == 0 or iso or int(m.asset[mi]) != x:
            continue
        pd = int(m.price_digits[mi])
        e = unscaled(entry, pd)
        price = unscaled(int(m.mark[mi]), pd) if m.has_mark[mi] else e
        qty = unscaled(abs(size), int(m.size_digits[mi])) * unscaled(int(m.contract_size[mi]),
                                                                     int(m.contract_digits[mi]))
        upnl += pnl_of(ContractKind.LINEAR, 1 if size > 0 else -1, qty, e, price)
        im += initial_margin(notional_of(ContractKind.LINEAR, qty, price), unscaled(lev, RATE_DIGITS))
        q = abs(size) * int(m.contract_size[mi])
        mark = int(m.mark[mi]) if m.has_mark[mi] else entry
        upnl_units += q * (mark - entry) if size > 0 else q * (entry - mark)
    reserved = int(core.order_margin[a, x])
    if kind == K.FILL:
        wallet_after = int(scratch[0]) + reserved - upnl_units
        avail = unscaled(wallet_after, u) + upnl - im - unscaled(reserved, u)
        return avail < 0
    w = unscaled(int(core.wallet[a, x]), u)
    free = max(ZERO, min(w - im - unscaled(reserved, u) + min(upnl, ZERO), w))
    return unscaled(amount, u) > free


# ------------------------------------------------------------------------------------------------- funding
def _funding(core: CoreState, event: Event, outcomes: list[MarginCallError | None], i: int) -> CoreState:
    """A funding payment (``ledger.handlers.marks.funding``): every position of the symbol pays or receives
    ``notional at the mark × rate`` (rate at 1e-8 in the core: a finer rate is refused by design)."""
    _type, p, ts = event
    bad = _static(p, ts)
    if bad is None and ts < core.last_ts:
        bad = Rejected("out_of_order", f"ts {ts} is earlier than the last event's {core.last_ts}", field="ts")
    if bad is not None:
        outcomes[i] = bad
        return core
    try:
        mi = _market(_lookup(core), p)
        rate = read_number(p, "rate", to_decimal)
        if abs(rate) >= 1:
            raise Rejected("invalid_number", f"rate: {rate} is not a plausible funding rate", field="rate")
        mk = core.markets
        pd = int(mk.price_digits[mi])
        if p.get("mark") is not None:
            at = scaled(read_number(p, "mark"), pd, "mark")
        elif mk.has_mark[mi]:
            at = int(mk.mark[mi])
        else:
            raise Rejected("no_mark", f"no mark price for {mk.symbols[mi]} yet", field="symbol")
        rate_int = scaled(rate, RATE_DIGITS, "rate")
    except MarginCallError as e:
        outcomes[i] = e
        return core
    pos = core.positions
    rows = core.by_market.positions[core.by_market.ptr[mi]:core.by_market.ptr[mi + 1]]
    if not K.funding_pass(rows, pos.size, pos.isolated, pos.isolated_margin, pos.account,
                          int(mk.contract_size[mi]), at, rate_int, int(mk.asset[mi]), core.wallet, core.system):
        outcomes[i] = CoreRangeError("mark: a funding payment outside the core's range", field="mark")
        return core
    return replace(core, last_ts=ts, events_applied=core.events_applied + 1)
