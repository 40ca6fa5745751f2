"""Position: one leg held by an account."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from margincall.model.enums import MarginMode, PositionSide, Side
from margincall.model.errors import MarginCallError
from margincall.model.numbers import ZERO, NumberLike, non_negative, positive, to_decimal


@dataclass(frozen=True, slots=True)
class Position:
    """An open position.

    ``size`` is in contracts (``> 0``; direction is ``side``). ``isolated_margin`` is the whole margin of
    an isolated position (``None``: the initial margin at ``leverage``, plus ``extra_margin``).
    ``extra_margin`` is margin the user added on top of the initial margin (negative when funding was
    taken out of the position margin, as Bybit does: docs/venues.md §11 V10).
    """

    symbol: str
    side: Side
    size: Decimal
    entry_price: Decimal
    leverage: Decimal
    margin_mode: MarginMode = MarginMode.CROSS
    position_side: PositionSide = PositionSide.BOTH
    isolated_margin: Decimal | None = None
    extra_margin: Decimal = ZERO

    def __post_init__(self) -> None:
        object.__setattr__(self, "side", Side(self.side))
        object.__setattr__(self, "margin_mode", MarginMode(self.margin_mode))
        object.__setattr__(self, "position_side", PositionSide(self.position_side))
        object.__setattr__(self, "size", positive(self.size, "size"))
        object.__setattr__(self, "entry_price", positive(self.entry_price, "entry_price"))
        object.__setattr__(self, "leverage", positive(self.leverage, "leverage"))
        object.__setattr__(self, "extra_margin", to_decimal(self.extra_margin, "extra_margin"))
        if self.isolated_margin is not None:
            object.__setattr__(self, "isolated_margin", non_negative(self.isolated_margin, "isolated_margin"))
        if self.position_side is not PositionSide.BOTH and self.position_side.value != self.side.value:
            raise MarginCallError(
                f"position_side {self.position_side.value} (hedge leg) does not match side {self.side.value}",
                field="position_side",
            )

    @classmethod
    def of(
        cls,
        symbol: str,
        side: Side | str,
        size: NumberLike,
        entry_price: NumberLike,
        leverage: NumberLike = 1,
        margin_mode: MarginMode | str = MarginMode.CROSS,
        position_side: PositionSide | str = PositionSide.BOTH,
        isolated_margin: NumberLike | None = None,
        extra_margin: NumberLike = 0,
    ) -> Position:
        """Build from loosely typed input, validating every field."""
        return cls(
            symbol=symbol,
            side=Side(side),
            size=to_decimal(size, "size"),
            entry_price=to_decimal(entry_price, "entry_price"),
            leverage=to_decimal(leverage, "leverage"),
            margin_mode=MarginMode(margin_mode),
            position_side=PositionSide(position_side),
            isolated_margin=None if isolated_margin is None else to_decimal(isolated_margin, "isolated_margin"),
            extra_margin=to_decimal(extra_margin, "extra_margin"),
        )

    @property
    def sign(self) -> int:
        return self.side.sign

    @property
    def is_isolated(self) -> bool:
        return self.margin_mode is MarginMode.ISOLATED
