"""Holding: a position together with what is needed to value it (instrument, tiers, mark)."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from margincall.model.instrument import Instrument
from margincall.model.numbers import positive
from margincall.model.position import Position
from margincall.model.tiers import TierTable


@dataclass(frozen=True, slots=True)
class Holding:
    position: Position
    instrument: Instrument
    tiers: TierTable
    mark: Decimal
    #: Values at the mark, each computed once (by :mod:`margincall.math.position`): a cross account's solver
    #: reads every other holding's PnL and MM at its mark for each symbol, n² reads for n symbols.
    at_mark: dict[tuple[str, Decimal], Decimal] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "mark", positive(self.mark, "mark_price"))
