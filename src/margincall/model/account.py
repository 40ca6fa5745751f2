"""Account: wallet balances per settle asset and the positions held."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from types import MappingProxyType

from margincall.model.numbers import ZERO, to_decimal
from margincall.model.position import Position


@dataclass(frozen=True, slots=True)
class Account:
    """An account's cross wallet per settle asset (isolated margins are held by their positions)."""

    wallet: Mapping[str, Decimal] = field(default_factory=dict)
    positions: tuple[Position, ...] = ()

    def __post_init__(self) -> None:
        checked = {asset: to_decimal(v, f"wallet[{asset}]") for asset, v in self.wallet.items()}
        object.__setattr__(self, "wallet", MappingProxyType(checked))
        object.__setattr__(self, "positions", tuple(self.positions))

    def balance(self, asset: str) -> Decimal:
        return self.wallet.get(asset, ZERO)
