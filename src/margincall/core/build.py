"""Building the core's arrays: a market's integer row and tier rows, and the watches over a set of positions.

Shared by the loader (:mod:`.loader`, from a Decimal ``Ledger``) and by callers that make a book directly as
arrays (the benchmark). Every conversion goes through :func:`~margincall.core.ranges.scaled`, so a value the core
cannot hold is refused naming its field.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba as nb
import numpy as np

from margincall.core.ranges import MAX_MONEY, RATE_DIGITS, RATE_ONE, CoreRangeError, decimal_digits, scaled
from margincall.core.state import I32, I64, B, ByMarket, Markets, Positions, Tiers, Watches
from margincall.model.enums import ContractKind, TierBasis, TierMode
from margincall.venues.market import MarketSpec


@dataclass(frozen=True, slots=True)
class MarketRow:
    """One market as integers (see :class:`~margincall.core.state.Markets`) and its tier rows."""

    size_digits: int
    contract_size: int
    contract_digits: int
    price_digits: int
    basis_contracts: bool
    bracket: bool
    cap_inclusive: bool
    fees: tuple[int, int, int]  # maker, taker, liquidation at 1e-8
    floors: tuple[int, ...]
    rates: tuple[int, ...]
    amounts_whole: tuple[int, ...]
    amounts_frac: tuple[int, ...]
    max_leverage: tuple[int, ...]
    lot: int = 1            # the lot size at 10^-sd
    last_cap: int = -1      # the last tier's cap, at the floors' scale (−1: open-ended)


def market_row(spec: MarketSpec, unit_digits: int) -> MarketRow:
    """The integer form of ``spec``; refused when the core cannot hold it exactly (an inverse contract, a tick
    finer than the price scale the lot and contract size leave, a rate with more than 8 digits…)."""
    inst = spec.instrument
    sym = inst.symbol
    if inst.kind is not ContractKind.LINEAR:
        # The reference's inverse PnL s·Q·(1/E − 1/P) is rounded at 28 significant digits (1/E does not end):
        # no integer of the core could equal it in general. The core holds linear markets until the reference
        # fixes the scale of that quotient.
        raise CoreRangeError(f"{sym}: inverse contracts are not held by the core yet (linear only)", field="kind")
    sd = decimal_digits(inst.lot_size)
    cd = decimal_digits(inst.contract_size)
    pd = unit_digits - sd - cd
    if pd < decimal_digits(inst.tick_size):
        raise CoreRangeError(
            f"{sym}: tick {inst.tick_size} needs {decimal_digits(inst.tick_size)} price digits but lot "
            f"{inst.lot_size} × contract size {inst.contract_size} leaves {pd} within the money unit 1e-{unit_digits}",
            field="tick_size")
    tiers = spec.tiers
    contracts = tiers.basis is TierBasis.CONTRACTS
    bracket = tiers.mode is TierMode.BRACKET
    floors, rates, whole, frac, lev = [], [], [], [], []
    for i, t in enumerate(tiers.tiers):
        where = f"{sym}: tiers[{i}]"
        floors.append(scaled(t.floor, sd, f"{where}.floor") if contracts
                      else scaled(t.floor, unit_digits, f"{where}.floor", MAX_MONEY))
        rates.append(scaled(t.mmr, RATE_DIGITS, f"{where}.mmr", RATE_ONE))
        # mm_for_notional subtracts the amount only in bracket mode (math.margin)
        amount = scaled(t.maintenance_amount, unit_digits + RATE_DIGITS, f"{where}.maintenance_amount",
                        MAX_MONEY * RATE_ONE) if bracket else 0
        lev.append(scaled(t.max_leverage, RATE_DIGITS, f"{where}.max_leverage"))
        w, f = divmod(amount, RATE_ONE)
        whole.append(w)
        frac.append(f)
    return MarketRow(sd, scaled(inst.contract_size, cd, f"{sym}: contract_size"), cd, pd, contracts, bracket,
                     tiers.cap_inclusive,
                     tuple(scaled(getattr(spec, f), RATE_DIGITS, f"{sym}: {f}", RATE_ONE)
                           for f in ("maker_fee", "taker_fee", "liquidation_fee")),  # type: ignore[arg-type]
                     tuple(floors), tuple(rates), tuple(whole), tuple(frac), tuple(lev),
                     scaled(inst.lot_size, sd, f"{sym}: lot_size"), _last_cap(spec, sd, unit_digits))


def _last_cap(spec: MarketSpec, sd: int, unit_digits: int) -> int:
    """The cap of the last tier at the floors' scale (−1 when it is open-ended): beyond it a position is refused
    (``TierTable.exceeds``)."""
    tiers = spec.tiers
    cap = tiers.tiers[-1].cap
    if cap is None:
        return -1
    where = f"{spec.instrument.symbol}: tiers[-1].cap"
    return scaled(cap, sd, where) if tiers.basis is TierBasis.CONTRACTS else scaled(cap, unit_digits, where, MAX_MONEY)


def assemble_markets(symbols: list[str], venues: list[str], assets: list[int], rows: list[MarketRow],
                     marks: list[int | None]) -> tuple[Markets, Tiers]:
    """The market and tier tables from one :class:`MarketRow` per symbol."""
    ptr = np.zeros(len(rows) + 1, np.int64)
    ptr[1:] = np.cumsum([len(r.floors) for r in rows])

    def cat(name: str) -> I64:
        return np.array([v for r in rows for v in getattr(r, name)], np.int64)

    markets = Markets(
        symbols=list(symbols), venue=list(venues), asset=np.array(assets, np.int32),
        size_digits=np.array([r.size_digits for r in rows], np.int8),
        contract_size=np.array([r.contract_size for r in rows], np.int64),
        contract_digits=np.array([r.contract_digits for r in rows], np.int8),
        price_digits=np.array([r.price_digits for r in rows], np.int8),
        basis_contracts=np.array([r.basis_contracts for r in rows], np.bool_),
        bracket=np.array([r.bracket for r in rows], np.bool_),
        cap_inclusive=np.array([r.cap_inclusive for r in rows], np.bool_),
        tier_ptr=ptr,
        maker_fee=np.array([r.fees[0] for r in rows], np.int64),
        taker_fee=np.array([r.fees[1] for r in rows], np.int64),
        liquidation_fee=np.array([r.fees[2] for r in rows], np.int64),
        has_mark=np.array([m is not None for m in marks], np.bool_),
        mark=np.array([0 if m is None else m for m in marks], np.int64),
        lot=np.array([r.lot for r in rows], np.int64),
        last_cap=np.array([r.last_cap for r in rows], np.int64),
    )
    return markets, Tiers(cat("floors"), cat("rates"), cat("amounts_whole"), cat("amounts_frac"), cat("max_leverage"))


def watches_of(account: I32, market: I32, isolated: B, market_asset: I32, n_assets: int) -> tuple[I64, Watches]:
    """The watch of each position and the watch table: a cross watch per (account, settle asset) holding a cross
    position (ordered by account, then asset), then one isolated watch per isolated position (in position
    order). The positions of a watch keep their order in the input (callers pass the reference's order)."""
    n = len(account)
    asset = market_asset[market].astype(np.int64)
    cross = ~isolated
    key = account.astype(np.int64) * n_assets + asset
    uniq, inv = np.unique(key[cross], return_inverse=True)
    n_cross = len(uniq)
    watch = np.empty(n, np.int64)
    watch[cross] = inv
    iso_idx = np.flatnonzero(isolated)
    watch[iso_idx] = n_cross + np.arange(len(iso_idx))
    n_watch = n_cross + len(iso_idx)
    order = np.argsort(watch, kind="stable").astype(np.int64)
    ptr = np.zeros(n_watch + 1, np.int64)
    ptr[1:] = np.cumsum(np.bincount(watch, minlength=n_watch))
    w_isolated = np.zeros(n_watch, np.bool_)
    w_isolated[n_cross:] = True
    w_account = np.empty(n_watch, np.int32)
    w_account[:n_cross] = uniq // n_assets
    w_account[n_cross:] = account[iso_idx]
    w_asset = np.empty(n_watch, np.int32)
    w_asset[:n_cross] = uniq % n_assets
    w_asset[n_cross:] = asset[iso_idx]
    w_position = np.full(n_watch, -1, np.int64)
    w_position[n_cross:] = iso_idx
    return watch, Watches(w_isolated, w_account, w_asset, w_position, ptr, order)


def check_quantities(positions: Positions, markets: Markets) -> None:
    """Refuse a position whose quantity ``size × contract_size`` (an integer at 10^-(sd+cd)) is above 1e18."""
    q = np.abs(positions.size.astype(np.float64)) * markets.contract_size[positions.market].astype(np.float64)
    bad = np.flatnonzero(q > 9e17)
    if len(bad):
        i = int(bad[0])
        raise CoreRangeError(f"position {i}: size × contract size is outside the core's range", field="size")


def by_market(market: I32, n_markets: int) -> ByMarket:
    """The positions of each market, in position order."""
    order = np.argsort(market, kind="stable").astype(np.int64)
    ptr = np.zeros(n_markets + 1, np.int64)
    ptr[1:] = np.cumsum(np.bincount(market, minlength=n_markets))
    return ByMarket(ptr, order)


@nb.njit(cache=True)
def _tables(account: I32, market: I32, isolated: B, market_asset: I32, n_assets: int, n_markets: int) -> tuple[
        I64, B, I32, I32, I64, I64, I64, I64, I64]:
    """:func:`watches_of` and :func:`by_market` in one linear pass over positions sorted by account (counting
    sorts instead of the sorts): the same tables."""
    n = len(account)
    watch = np.empty(n, np.int64)
    # cross watches: (account, asset) in order — rows are sorted by account, so one account's block at a time
    seen = np.full(n_assets, -1, np.int64)
    n_cross = 0
    i = 0
    while i < n:
        a = account[i]
        j = i
        while j < n and account[j] == a:
            j += 1
        for x in range(n_assets):
            seen[x] = -1
        for k in range(i, j):
            if not isolated[k]:
                seen[market_asset[market[k]]] = 1
        for x in range(n_assets):
            if seen[x] == 1:
                seen[x] = n_cross
                n_cross += 1
        for k in range(i, j):
            if not isolated[k]:
                watch[k] = seen[market_asset[market[k]]]
        i = j
    n_watch = n_cross
    for k in range(n):
        if isolated[k]:
            watch[k] = n_watch
            n_watch += 1
    ptr = np.zeros(n_watch + 1, np.int64)
    for k in range(n):
        ptr[watch[k] + 1] += 1
    for w in range(n_watch):
        ptr[w + 1] += ptr[w]
    fill = ptr[:-1].copy()
    members = np.empty(n, np.int64)
    w_isolated = np.zeros(n_watch, np.bool_)
    w_account = np.empty(n_watch, np.int32)
    w_asset = np.empty(n_watch, np.int32)
    w_position = np.full(n_watch, -1, np.int64)
    for k in range(n):
        w = watch[k]
        members[fill[w]] = k
        fill[w] += 1
        w_account[w] = account[k]
        w_asset[w] = market_asset[market[k]]
        if isolated[k]:
            w_isolated[w] = True
            w_position[w] = k
    m_ptr = np.zeros(n_markets + 1, np.int64)
    for k in range(n):
        m_ptr[market[k] + 1] += 1
    for m in range(n_markets):
        m_ptr[m + 1] += m_ptr[m]
    m_fill = m_ptr[:-1].copy()
    m_rows = np.empty(n, np.int64)
    for k in range(n):
        m_rows[m_fill[market[k]]] = k
        m_fill[market[k]] += 1
    return watch, w_isolated, w_account, w_asset, w_position, ptr, members, m_ptr, m_rows


def tables_of_sorted(account: I32, market: I32, isolated: B, market_asset: I32, n_assets: int,
                     n_markets: int) -> tuple[I64, Watches, ByMarket]:
    """The watch of each position, the watch table and the per-market index of positions sorted by account (the
    core's order): what :func:`watches_of` and :func:`by_market` give, in O(n)."""
    watch, w_iso, w_acc, w_asset, w_pos, ptr, members, m_ptr, m_rows = _tables(
        account, market, isolated, market_asset, n_assets, n_markets)
    return watch, Watches(w_iso, w_acc, w_asset, w_pos, ptr, members), ByMarket(m_ptr, m_rows)
