"""The liquidation map of one symbol: how many positions, and how much notional, the mark liquidates as it moves
down and up from now, and the deficit those moves would leave behind (docs/venues.md §3.5, §12.5).

Rules (one symbol's mark moves, every other mark fixed, as each position's liquidation and bankruptcy prices
are stated):

* A move ``m`` (a fraction: ``-0.05`` = 5 % down) takes the mark to ``P = mark × (1 + m)``.
* A **long** is liquidated by the move when ``P ≤ LP`` (its liquidation price), a **short** when ``P ≥ LP``.
  The counts are cumulative by construction: every position a smaller move liquidates, a larger one does too.
  A position with no liquidation price (fully collateralised) is never counted; one already past it counts
  from the move 0.
* The notional liquidated is each position's notional **at its liquidation price**, in the settle asset:
  ``qty × LP`` linear (quote), ``qty / LP`` inverse (coin) (:func:`margincall.math.contracts.notional_of`).
* The **deficit** of a move is the loss beyond the bankruptcy price ``BP`` of every position the move passes,
  closed at ``P``: the negative PnL from ``BP`` to ``P`` (:func:`margincall.math.contracts.pnl_of`), i.e.
  ``(BP − P) × qty`` for a long and ``(P − BP) × qty`` for a short (linear), ``qty × (1/P − 1/BP)`` and
  ``qty × (1/BP − 1/P)`` (inverse, in coin). It is what the insurance fund pays (then ADL) if the book is
  closed at the moved mark with no better fill; positions not past ``BP`` leave none.

The sums are exact ``Decimal`` (28 significant digits, the project's context); a deficit is rounded **up** to
``money_step`` when one is given (the estimate never understates the fund's draw). Each sum is a prefix sum
over the positions sorted by price, so a map costs ``O((n + moves) log n)``, not ``n × moves``: for the
positions past ``BP``, ``Σ qtyᵢ·(BPᵢ − P) = Σ qtyᵢ·BPᵢ − P·Σ qtyᵢ`` and ``Σ qtyᵢ·(1/P − 1/BPᵢ) = Σ qtyᵢ / P −
Σ qtyᵢ/BPᵢ`` — the same PnL rule summed, which ``tests/math/test_liquidation_map.py`` holds equal to the
position-by-position sum of ``pnl_of``.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal
from itertools import accumulate

from margincall.math.contracts import notional_of
from margincall.model.enums import ContractKind
from margincall.model.errors import MarginCallError
from margincall.model.numbers import ONE, ZERO

#: The largest down move a grid may hold: a mark moved by −100 % or more is not a price.
MAX_SPAN = Decimal("0.99")
#: The most steps on each side of a grid.
MAX_STEPS = 500


@dataclass(frozen=True, slots=True)
class MapPosition:
    """One position as the map sees it: ``side`` +1 long / −1 short, ``quantity`` > 0 (base units linear, USD
    face inverse: ``size × contract_size``), its liquidation and bankruptcy prices (None: it has none)."""

    side: int
    quantity: Decimal
    liquidation_price: Decimal | None
    bankruptcy_price: Decimal | None


@dataclass(frozen=True, slots=True)
class SymbolMap:
    """One symbol's map over ``moves``: at each move, the mark ``prices[i]``, the cumulative count and notional
    of the longs and of the shorts liquidated by moving there, and the ``deficit`` the move would leave."""

    kind: ContractKind
    mark: Decimal
    moves: tuple[Decimal, ...]
    prices: tuple[Decimal, ...]
    long_count: tuple[int, ...]
    long_notional: tuple[Decimal, ...]
    short_count: tuple[int, ...]
    short_notional: tuple[Decimal, ...]
    deficit: tuple[Decimal, ...]
    positions: int
    no_liquidation_price: int


def move_grid(span: Decimal, steps: int) -> tuple[Decimal, ...]:
    """``2·steps + 1`` moves from ``−span`` to ``+span`` in equal steps, 0 in the middle (``span`` 0.3, ``steps``
    3: −0.3, −0.2, −0.1, 0, 0.1, 0.2, 0.3). ``0 < span ≤ 0.99``, ``1 ≤ steps ≤ 500``."""
    if not isinstance(span, Decimal) or not span.is_finite() or not ZERO < span <= MAX_SPAN:
        raise MarginCallError(f"range: must be a move above 0 and at most {MAX_SPAN}, got {span}", field="range")
    if isinstance(steps, bool) or not isinstance(steps, int) or not 1 <= steps <= MAX_STEPS:
        raise MarginCallError(f"steps: must be a whole number from 1 to {MAX_STEPS}, got {steps!r}", field="steps")
    down = [-span * k / steps for k in range(steps, 0, -1)]
    return (*down, ZERO, *(-d for d in reversed(down)))


def _money(x: Decimal, step: Decimal | None) -> Decimal:
    if x <= 0:
        return ZERO  # a sum of non-negative losses; a rounding residue below zero is none
    return x if step is None else (x / step).to_integral_value(rounding=ROUND_CEILING) * step


def symbol_map(kind: ContractKind, mark: Decimal, positions: Iterable[MapPosition], moves: Sequence[Decimal],
               money_step: Decimal | None = None) -> SymbolMap:
    """The map of one symbol at ``mark`` over ``moves`` (see the module's rules)."""
    if not mark.is_finite() or mark <= 0:
        raise MarginCallError(f"mark: must be above 0, got {mark}", field="mark")
    if any(m <= -1 for m in moves):
        raise MarginCallError("range: a move of −100 % or more is not a price", field="range")
    inverse = kind is ContractKind.INVERSE
    long_lp: list[tuple[Decimal, Decimal]] = []  # (LP, notional at LP)
    short_lp: list[tuple[Decimal, Decimal]] = []
    long_bp: list[tuple[Decimal, Decimal]] = []  # (BP, quantity)
    short_bp: list[tuple[Decimal, Decimal]] = []
    n = none = 0
    for p in positions:
        n += 1
        if p.side not in (1, -1):
            raise MarginCallError(f"side: must be +1 or -1, got {p.side!r}", field="side")
        if not p.quantity > 0:
            raise MarginCallError(f"size: must be above 0, got {p.quantity}", field="size")
        if p.liquidation_price is None or p.liquidation_price <= 0:
            none += 1
        else:
            (long_lp if p.side > 0 else short_lp).append(
                (p.liquidation_price, notional_of(kind, p.quantity, p.liquidation_price)))
        if p.bankruptcy_price is not None and p.bankruptcy_price > 0:
            (long_bp if p.side > 0 else short_bp).append((p.bankruptcy_price, p.quantity))
    for side in (long_lp, short_lp, long_bp, short_bp):
        side.sort(key=lambda t: t[0])
    l_lp = [t[0] for t in long_lp]
    l_notional = [ZERO, *accumulate(t[1] for t in long_lp)]  # prefix sums: l_notional[i] = Σ of the first i
    s_lp = [t[0] for t in short_lp]
    s_notional = [ZERO, *accumulate(t[1] for t in short_lp)]

    def weighted(bps: list[tuple[Decimal, Decimal]]) -> tuple[list[Decimal], list[Decimal], list[Decimal]]:
        # Σ qty and Σ qty·BP (linear) or Σ qty/BP (inverse), as prefix sums over the positions sorted by BP
        prices = [bp for bp, _ in bps]
        qty = [ZERO, *accumulate(q for _, q in bps)]
        w = [ZERO, *accumulate((q / bp if inverse else q * bp) for bp, q in bps)]
        return prices, qty, w

    lb, lq, lw = weighted(long_bp)
    sb, sq, sw = weighted(short_bp)
    prices, lc, ln, sc, sn, deficit = [], [], [], [], [], []
    for m in moves:
        price = mark * (ONE + m)
        prices.append(price)
        i = bisect_left(l_lp, price)  # longs with LP ≥ P: from i to the end
        lc.append(len(l_lp) - i)
        ln.append(l_notional[-1] - l_notional[i])
        j = bisect_right(s_lp, price)  # shorts with LP ≤ P: the first j
        sc.append(j)
        sn.append(s_notional[j])
        a = bisect_right(lb, price)  # longs past BP (BP > P): from a to the end
        q_long, w_long = lq[-1] - lq[a], lw[-1] - lw[a]
        b = bisect_left(sb, price)  # shorts past BP (BP < P): the first b
        q_short, w_short = sq[b], sw[b]
        if inverse:
            loss = (q_long / price - w_long) + (w_short - q_short / price)
        else:
            loss = (w_long - price * q_long) + (price * q_short - w_short)
        deficit.append(_money(loss, money_step))
    return SymbolMap(kind, mark, tuple(moves), tuple(prices), tuple(lc), tuple(ln), tuple(sc), tuple(sn),
                     tuple(deficit), n, none)


def fund_draw(fund: Decimal, deficit: Decimal) -> tuple[Decimal, Decimal]:
    """``(covered, shortfall)``: what the insurance fund's ``fund`` pays of ``deficit``, and what is left for ADL
    / socialised loss (docs/venues.md §12.5): ``covered = min(max(fund, 0), deficit)``."""
    covered = min(max(fund, ZERO), deficit)
    return covered, deficit - covered
