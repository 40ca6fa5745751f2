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
* Every position counts once at its own prices: the map is the book's exposure to one symbol's move, the
  other symbols still.

The sums are exact ``Decimal`` (28 significant digits, the project's context); a deficit is rounded **up** to
``money_step`` when one is given (the estimate never understates the fund's draw). Each position adds to one bin
of the grid (found by bisection), and the bins are summed cumulatively, so a map costs ``O(n log moves +
moves)`` time and ``O(moves)`` memory whatever the book's size. For the positions past ``BP``,
``Σ qtyᵢ·(BPᵢ − P) = Σ qtyᵢ·BPᵢ − P·Σ qtyᵢ`` and ``Σ qtyᵢ·(1/P − 1/BPᵢ) = Σ qtyᵢ / P − Σ qtyᵢ/BPᵢ``:
the same PnL rule summed, which ``tests/math/test_liquidation_map.py`` holds equal to the position-by-position
sum of ``pnl_of``.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal
from itertools import accumulate, pairwise
from typing import Any

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


class MapAccumulator:
    """One symbol's map built a position at a time in memory bounded by the grid, not the book: each position
    adds to the bin of the grid's last (or first) move that reaches its price, and :meth:`result` sums the bins
    cumulatively. Moves must be ascending (:func:`move_grid`)."""

    def __init__(self, kind: ContractKind, mark: Decimal, moves: Sequence[Decimal],
                 money_step: Decimal | None = None) -> None:
        if not mark.is_finite() or mark <= 0:
            raise MarginCallError(f"mark: must be above 0, got {mark}", field="mark")
        if not moves or any(m <= -1 for m in moves) or any(a >= b for a, b in pairwise(moves)):
            raise MarginCallError("range: the moves must ascend and stay above −100 %", field="range")
        self.kind, self.mark, self.moves, self.money_step = kind, mark, tuple(moves), money_step
        self.prices = tuple(mark * (ONE + m) for m in moves)
        k = len(moves)
        # longs: bins by the last move that liquidates them (suffix sums); shorts: by the first (prefix sums)
        self.long_n, self.short_n = [0] * k, [0] * k
        self.long_notional, self.short_notional = [ZERO] * k, [ZERO] * k
        # past BP: Σ qty and Σ qty·BP (linear) or Σ qty/BP (inverse), binned the same way
        self.long_q, self.long_w, self.short_q, self.short_w = [ZERO] * k, [ZERO] * k, [ZERO] * k, [ZERO] * k
        self.positions = self.no_liquidation_price = 0

    def add(self, p: MapPosition) -> None:
        if p.side not in (1, -1):
            raise MarginCallError(f"side: must be +1 or -1, got {p.side!r}", field="side")
        if not p.quantity > 0:
            raise MarginCallError(f"size: must be above 0, got {p.quantity}", field="size")
        self.positions += 1
        prices, lp, bp = self.prices, p.liquidation_price, p.bankruptcy_price
        if lp is None or lp <= 0:
            self.no_liquidation_price += 1
        elif p.side > 0:
            i = bisect_right(prices, lp) - 1  # the moves to prices ≤ LP: 0 … i
            if i >= 0:
                self.long_n[i] += 1
                self.long_notional[i] += notional_of(self.kind, p.quantity, lp)
        else:
            i = bisect_left(prices, lp)  # the moves to prices ≥ LP: i … end
            if i < len(prices):
                self.short_n[i] += 1
                self.short_notional[i] += notional_of(self.kind, p.quantity, lp)
        if bp is None or bp <= 0:
            return
        w = p.quantity / bp if self.kind is ContractKind.INVERSE else p.quantity * bp
        if p.side > 0:
            i = bisect_left(prices, bp) - 1  # the moves to prices < BP: 0 … i
            if i >= 0:
                self.long_q[i] += p.quantity
                self.long_w[i] += w
        else:
            i = bisect_right(prices, bp)  # the moves to prices > BP: i … end
            if i < len(prices):
                self.short_q[i] += p.quantity
                self.short_w[i] += w

    def result(self) -> SymbolMap:
        def up(xs: list[Any]) -> list[Any]:  # prefix sums: the bins at or before each move
            return list(accumulate(xs))

        def down(xs: list[Any]) -> list[Any]:  # suffix sums: the bins at or after each move
            return list(accumulate(reversed(xs)))[::-1]

        lq, lw, sq, sw = down(self.long_q), down(self.long_w), up(self.short_q), up(self.short_w)
        deficit = []
        for i, price in enumerate(self.prices):
            if self.kind is ContractKind.INVERSE:
                loss = (lq[i] / price - lw[i]) + (sw[i] - sq[i] / price)
            else:
                loss = (lw[i] - price * lq[i]) + (price * sq[i] - sw[i])
            deficit.append(_money(loss, self.money_step))
        return SymbolMap(self.kind, self.mark, self.moves, self.prices, tuple(down(self.long_n)),
                         tuple(down(self.long_notional)), tuple(up(self.short_n)), tuple(up(self.short_notional)),
                         tuple(deficit), self.positions, self.no_liquidation_price)


def symbol_map(kind: ContractKind, mark: Decimal, positions: Iterable[MapPosition], moves: Sequence[Decimal],
               money_step: Decimal | None = None) -> SymbolMap:
    """The map of one symbol at ``mark`` over ascending ``moves`` (see the module's rules)."""
    acc = MapAccumulator(kind, mark, moves, money_step)
    for p in positions:
        acc.add(p)
    return acc.result()


def fund_draw(fund: Decimal, deficit: Decimal) -> tuple[Decimal, Decimal]:
    """``(covered, shortfall)``: what the insurance fund's ``fund`` pays of ``deficit``, and what is left for ADL
    / socialised loss (docs/venues.md §12.5): ``covered = min(max(fund, 0), deficit)``."""
    covered = min(max(fund, ZERO), deficit)
    return covered, deficit - covered
