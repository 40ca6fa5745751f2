"""An isolated row's bankruptcy price and margin ratio near their boundary, formed as ``evaluate`` forms them.

For an isolated position whose margin is its IM at entry (no margin or extra given) — inverse ones above all,
whose prices and ratios pass through ``1/P`` and so are the reference's 28-digit Decimals, not exact fractions —
the values are formed with the very functions ``evaluate`` runs, on Decimals built exactly from the cells'
integers (:class:`~margincall.calculator.book_exact.Cells`): the margin ``initial_margin(notional_of(…))``
(``isolated_margin``), the bankruptcy price ``solve_price`` with a leg of no requirement
(``GenericRule.isolated_bankruptcy_price``) rounded by ``round_trigger_price``, the ratio
``RatioConvention.ratio(margin + pnl_of(…), MM)`` with ``MM = maintenance_margin(…)`` for a rule whose
requirement is the generic tiered one with no constant part. No Scenario, no Holding, no validation: a few
Decimal operations a row, for the rows the float band flags only. An isolated liquidation price, which only the
venues' own forms give, is the rule's ``isolated_liquidation_price`` on a ``Holding`` built as ``evaluate``
builds it (:func:`exact_isolated_liquidation`).
"""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal

import numpy as np
import numpy.typing as npt

from margincall.calculator.book import DISTANCE_UNIT, RATIO_ROUNDING, RATIO_UNIT
from margincall.calculator.book_arrays import BookArrays
from margincall.calculator.book_exact import ExactMargins, mm_form
from margincall.math.contracts import notional_of, pnl_of
from margincall.math.margin import initial_margin, maintenance_margin
from margincall.math.position import isolated_margin
from margincall.math.rounding import round_trigger_price
from margincall.math.sizing import distance_to_liquidation_pct
from margincall.math.solver import Leg, solve_price
from margincall.model.enums import MarginMode, Side
from margincall.model.holding import Holding
from margincall.model.position import Position
from margincall.venues.profiles import get_venue
from margincall.venues.rules import Fees

F64 = npt.NDArray[np.float64]
B = npt.NDArray[np.bool_]


def exact_isolated(arrays: BookArrays, exact: ExactMargins, bank_rows: B, ratio_rows: B) -> tuple[F64, B, F64, B]:
    """For the isolated rows of ``bank_rows`` / ``ratio_rows``: the bankruptcy price in whole ticks and the ratio in
    whole units of 1e-8 (NaN: none), each with whether it was formed here."""
    n = arrays.account.size
    bank_k, ratio_k = np.full(n, np.nan), np.full(n, np.nan)
    bank_ok, ratio_ok = np.zeros(n, np.bool_), np.zeros(n, np.bool_)
    c = exact.cells
    usable = ~arrays.cross & c.plain & c.lev_ok
    which = np.flatnonzero((bank_rows | ratio_rows) & usable)
    if which.size == 0:
        return bank_k, bank_ok, ratio_k, ratio_ok
    profiles = [get_venue(e[0]) for e in arrays.entries]
    forms = [mm_form(p.form(e[3]).rule, e[4]) for p, e in zip(profiles, arrays.entries, strict=True)]
    for r in which.tolist():
        j = int(arrays.instrument[r])
        _, inst, table, _, _ = arrays.entries[j]
        profile = profiles[j]
        sign = int(arrays.side[r])
        q = Decimal(int(c.size[r])).scaleb(-c.ds) * inst.contract_size
        entry = Decimal(int(c.entry[r])).scaleb(-c.dp)
        mark = Decimal(int(c.mark[r])).scaleb(-c.dp)
        margin = initial_margin(notional_of(inst.kind, q, entry), Decimal(int(c.lev[r])).scaleb(-c.dl))
        if bank_rows[r]:
            leg = Leg(kind=inst.kind, sign=sign, qty=q, entry_price=entry, tiers=None,
                      contract_size=inst.contract_size)  # fmt: skip
            price = solve_price([leg], margin, mark).price
            bank_ok[r] = True
            if price is not None:
                rounded = round_trigger_price(price, inst.tick_size, sign, profile.price_rounding)
                bank_k[r] = float(int(rounded / inst.tick_size))
        form = forms[j]
        if ratio_rows[r] and form is not None and not form[0]:
            mm = maintenance_margin(table, inst.kind, q, mark, inst.contract_size, form[2])
            convention = profile.ratio_convention
            ratio = convention.ratio(margin + pnl_of(inst.kind, sign, q, entry, mark), mm)
            ratio_ok[r] = True
            if ratio is not None:
                ratio_k[r] = float(int(ratio.quantize(RATIO_UNIT, RATIO_ROUNDING[convention]).scaleb(8)))
    return bank_k, bank_ok, ratio_k, ratio_ok


def exact_isolated_liquidation(arrays: BookArrays, exact: ExactMargins, rows: B) -> tuple[F64, F64, B]:
    """For the isolated rows of ``rows``: the liquidation price in whole ticks and the distance to it in whole
    units of 1e-4 % (NaN: none), and whether they were formed here — the venue rule's own
    ``isolated_liquidation_price`` on a :class:`~margincall.model.holding.Holding` built as ``evaluate`` builds it
    (the margin ``isolated_margin``, the fees ``Fees(taker)``), rounded by ``round_trigger_price``; the distance
    ``distance_to_liquidation_pct`` of the unrounded price, toward zero (``book_values``)."""
    n = arrays.account.size
    liq_k, dist_k = np.full(n, np.nan), np.full(n, np.nan)
    ok = np.zeros(n, np.bool_)
    c = exact.cells
    which = np.flatnonzero(rows & ~arrays.cross & c.plain & c.lev_ok)
    if which.size == 0:
        return liq_k, dist_k, ok
    profiles = [get_venue(e[0]) for e in arrays.entries]
    rules = [p.form(e[3]).rule for p, e in zip(profiles, arrays.entries, strict=True)]
    for r in which.tolist():
        j = int(arrays.instrument[r])
        _, inst, table, _, taker = arrays.entries[j]
        sign = int(arrays.side[r])
        size, entry = Decimal(int(c.size[r])).scaleb(-c.ds), Decimal(int(c.entry[r])).scaleb(-c.dp)
        position = Position(symbol=inst.symbol, side=Side.LONG if sign > 0 else Side.SHORT, size=size,
                            entry_price=entry, leverage=Decimal(int(c.lev[r])).scaleb(-c.dl),
                            margin_mode=MarginMode.ISOLATED)  # fmt: skip
        h = Holding(position, inst, table, Decimal(int(c.mark[r])).scaleb(-c.dp))
        price = rules[j].isolated_liquidation_price(h, isolated_margin(h), Fees(taker=taker))
        ok[r] = True
        if price is None:
            continue
        rounded = round_trigger_price(price, inst.tick_size, sign, profiles[j].price_rounding)
        liq_k[r] = float(int(rounded / inst.tick_size))
        distance = distance_to_liquidation_pct(h.mark, price, sign).quantize(DISTANCE_UNIT, ROUND_DOWN)
        dist_k[r] = float(int(distance.scaleb(4)))
    return liq_k, dist_k, ok


__all__ = ["exact_isolated", "exact_isolated_liquidation"]
