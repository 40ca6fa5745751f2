"""Instrument: what one contract of a symbol is."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from margincall.model.enums import ContractKind
from margincall.model.errors import MarginCallError
from margincall.model.numbers import NumberLike, positive


@dataclass(frozen=True, slots=True)
class Instrument:
    """A futures contract.

    Linear: ``size × contract_size`` is the quantity in the base asset; margin is in the quote/settle asset.
    Inverse: ``size × contract_size`` is the USD face value; margin is in the coin (``settle_asset``).
    """

    symbol: str
    kind: ContractKind = ContractKind.LINEAR
    contract_size: Decimal = Decimal(1)
    tick_size: Decimal = Decimal("0.01")
    lot_size: Decimal = Decimal("0.001")
    settle_asset: str = "USDT"

    def __post_init__(self) -> None:
        if not self.symbol or not self.symbol.strip():
            raise MarginCallError("instrument symbol must not be empty", field="symbol")
        object.__setattr__(self, "kind", ContractKind(self.kind))
        object.__setattr__(self, "contract_size", positive(self.contract_size, "contract_size"))
        object.__setattr__(self, "tick_size", positive(self.tick_size, "tick_size"))
        object.__setattr__(self, "lot_size", positive(self.lot_size, "lot_size"))

    @classmethod
    def of(
        cls,
        symbol: str,
        kind: ContractKind | str = ContractKind.LINEAR,
        contract_size: NumberLike = 1,
        tick_size: NumberLike = "0.01",
        lot_size: NumberLike = "0.001",
        settle_asset: str = "USDT",
    ) -> Instrument:
        """Build from loosely typed input (strings or numbers), validating every field."""
        return cls(
            symbol=symbol,
            kind=ContractKind(kind),
            contract_size=positive(contract_size, "contract_size"),
            tick_size=positive(tick_size, "tick_size"),
            lot_size=positive(lot_size, "lot_size"),
            settle_asset=settle_asset,
        )

    @property
    def is_inverse(self) -> bool:
        return self.kind is ContractKind.INVERSE
