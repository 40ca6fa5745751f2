"""Hypothesis properties of the exact math (issue #2 "Done when")."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from margincall.math.binance import BinanceLeg, binance_liquidation_price
from margincall.math.contracts import pnl_of
from margincall.math.margin import maintenance_margin, mm_for_notional
from margincall.math.okx import okx_liquidation_price
from margincall.math.solver import Leg, solve_price
from margincall.model import ContractKind, PositionSide, TierMode
from margincall.venues import VENUES
from margincall.venues.tables import (
    BINANCE_USDM_BTCUSDT_2021,
    BINANCE_USDM_BTCUSDT_2024,
    BINANCE_USDM_ETHUSDT_2021,
    BINANCE_USDM_ETHUSDT_2024,
    BYBIT_LINEAR_BTCUSDT_2026,
    HYPERLIQUID_BTC,
    OKX_ETH_USDT_SWAP_2021,
)

BRACKET_TABLES = [
    BINANCE_USDM_BTCUSDT_2024,
    BINANCE_USDM_ETHUSDT_2024,
    BINANCE_USDM_BTCUSDT_2021,
    BINANCE_USDM_ETHUSDT_2021,
    BYBIT_LINEAR_BTCUSDT_2026,
    HYPERLIQUID_BTC,
]

LIN, INV = ContractKind.LINEAR, ContractKind.INVERSE
settings.register_profile("default", max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("default")


def dec(lo: str, hi: str, places: int = 4):
    return st.decimals(Decimal(lo), Decimal(hi), places=places, allow_nan=False, allow_infinity=False)


def f_linear(leg: Leg, constant: Decimal, price: Decimal) -> Decimal:
    """Independent evaluation of equity − MM for one linear leg (no solver code)."""
    mm = maintenance_margin(leg.tiers, LIN, leg.qty, price) if leg.tiers else Decimal(0)
    return constant + pnl_of(LIN, leg.sign, leg.qty, leg.entry_price, price) - mm


def test_mm_continuous_across_every_builtin_table():
    # MM(N) is continuous at every floor: N·MMR_{n−1} − cum_{n−1} = N·MMR_n − cum_n (docs/venues.md §2.1).
    tables = {id(m.tiers): m.tiers for p in VENUES.values() for m in p.markets.values()}
    tables.update({id(t): t for t in BRACKET_TABLES})
    checked = 0
    for t in tables.values():
        if t.mode is not TierMode.BRACKET:
            continue
        for prev, cur in zip(t.tiers, t.tiers[1:], strict=False):
            assert mm_for_notional(t, prev, cur.floor) == mm_for_notional(t, cur, cur.floor)
            checked += 1
    assert checked > 50


@given(
    table=st.sampled_from(BRACKET_TABLES),
    sign=st.sampled_from([1, -1]),
    qty=dec("0.001", "20000", 3),
    entry=dec("10", "100000", 2),
    lev=dec("1.5", "100", 1),
)
def test_equity_equals_mm_at_liquidation_price_within_one_tick(table, sign, qty, entry, lev):
    assume(lev <= table.tier_for(qty * entry).max_leverage)  # a position the venue lets you open
    margin = qty * entry / lev
    leg = Leg(LIN, sign, qty, entry, table)
    sol = solve_price([leg], margin, entry)
    assume(sol.price is not None)
    lp = sol.price
    tick = Decimal("0.01")
    assert abs(f_linear(leg, margin, lp)) <= abs(
        f_linear(leg, margin, lp + tick) - f_linear(leg, margin, lp)
    ) + Decimal("1e-12")
    # Long below entry, short above.
    assert (lp < entry) if sign > 0 else (lp > entry)
    # Bankruptcy is beyond the liquidation price.
    bp = solve_price([Leg(LIN, sign, qty, entry, None)], margin, entry).price
    assert bp is not None and ((bp <= lp) if sign > 0 else (bp >= lp))


@given(
    table=st.sampled_from(BRACKET_TABLES),
    sign=st.sampled_from([1, -1]),
    qty=dec("0.001", "5000", 3),
    entry=dec("10", "100000", 2),
    lev=dec("2", "100", 1),
    added=dec("0.01", "100000", 2),
)
def test_adding_margin_moves_liquidation_away_from_mark(table, sign, qty, entry, lev, added):
    assume(lev <= table.tier_for(qty * entry).max_leverage)
    margin = qty * entry / lev
    leg = Leg(LIN, sign, qty, entry, table)
    before = solve_price([leg], margin, entry).price
    after = solve_price([leg], margin + added, entry).price
    assume(before is not None)
    if after is None:  # a long can become unliquidatable
        assert sign > 0
        return
    assert (after < before) if sign > 0 else (after > before)


@given(
    table=st.sampled_from(BRACKET_TABLES),
    sign=st.sampled_from([1, -1]),
    qty=dec("1", "10000000", 0),
    entry=dec("100", "100000", 2),
    margin_coin=dec("0.0001", "100", 4),
)
def test_linear_and_inverse_agree_on_the_same_economics(table, sign, qty, entry, margin_coin):
    # An inverse position of USD face Q at entry EP, margined in coin, is exactly a linear position of
    # size Q in the reciprocal market (price u = 1/P, PnL s·Q·(1/EP − u) = −s·Q·(u − 1/EP)) on the
    # opposite side: same PnL, same notional Q·u in coin. Their liquidation prices are reciprocals.
    inv = solve_price([Leg(INV, sign, qty, entry, table)], margin_coin, entry)
    lin = solve_price([Leg(LIN, -sign, qty, 1 / entry, table)], margin_coin, 1 / entry)
    assert (inv.price is None) == (lin.price is None)
    if inv.price is not None:
        assert abs(inv.price * lin.price - 1) < Decimal("1e-20")


@given(
    wallet=dec("1000", "5000000", 2),
    long_qty=dec("0.001", "300", 3),
    short_qty=dec("0.001", "300", 3),
    long_entry=dec("10000", "60000", 2),
    short_entry=dec("10000", "60000", 2),
    mark=dec("10000", "60000", 2),
    hedge=st.booleans(),
    other_mm=dec("0", "1000", 2),
    other_pnl=dec("-1000", "1000", 2),
    table=st.sampled_from([BINANCE_USDM_BTCUSDT_2021, BINANCE_USDM_BTCUSDT_2024]),
)
def test_binance_faq_formula_equals_generic_solver(
    wallet, long_qty, short_qty, long_entry, short_entry, mark, hedge, other_mm, other_pnl, table
):
    # Two independent derivations of the same rule: Binance's closed form with bracket iteration vs the
    # exact segment solver. One-way (a BOTH leg) and hedge (LONG + SHORT legs) modes.
    if hedge:
        legs = [
            BinanceLeg(PositionSide.LONG, 1, long_qty, long_entry, table),
            BinanceLeg(PositionSide.SHORT, -1, short_qty, short_entry, table),
        ]
        generic = [Leg(LIN, 1, long_qty, long_entry, table), Leg(LIN, -1, short_qty, short_entry, table)]
    else:
        legs = [BinanceLeg(PositionSide.BOTH, 1, long_qty, long_entry, table)]
        generic = [Leg(LIN, 1, long_qty, long_entry, table)]
    constant = wallet - other_mm + other_pnl
    sol = solve_price(generic, constant, mark)
    ours = binance_liquidation_price(LIN, wallet, legs, mark, other_mm, other_pnl)
    # The closed form yields the single root of a monotone f; compare where the solver found exactly one.
    roots = [r for r in (sol.lower, sol.upper) if r is not None]
    assume(len(set(roots)) == 1 and not (sol.lower and sol.upper and sol.lower != sol.upper))
    assert ours is not None
    assert abs(ours - roots[0]) <= Decimal("1e-18") * roots[0]


@given(
    sign=st.sampled_from([1, -1]),
    contracts=st.integers(1, 90000),
    entry=dec("100", "5000", 2),
    lev=dec("1.5", "20", 1),
    fee=st.sampled_from([Decimal(0), Decimal("0.0005"), Decimal("0.0007")]),
)
def test_okx_closed_form_equals_generic_solver(sign, contracts, entry, lev, fee):
    table = OKX_ETH_USDT_SWAP_2021
    qty = Decimal(contracts) * Decimal("0.1")
    margin = qty * entry / lev
    tier = table.tier_for(Decimal(contracts))
    closed = okx_liquidation_price(LIN, sign, qty, entry, margin, tier.mmr, fee)
    generic = solve_price([Leg(LIN, sign, qty, entry, table, Decimal("0.1"), fee)], margin, entry).price
    assert (closed is None) == (generic is None)
    if closed is not None:
        assert abs(closed - generic) <= Decimal("1e-20") * closed
