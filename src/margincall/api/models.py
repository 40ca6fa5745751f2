"""Request bodies. Numbers are decimal strings (JSON numbers are accepted when finite); every check names the
field (``fills.3.price``). The engine re-validates everything: these models only keep obvious garbage (NaN,
infinity, negative or zero prices, numbers above 1e18, ids that are not ids) out of the queue."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationInfo, WithJsonSchema

from margincall.api.keys import Role
from margincall.model.errors import MarginCallError
from margincall.model.numbers import non_negative, positive

_NUMBER_SCHEMA = {"type": "string", "pattern": r"^[0-9]{1,18}(\.[0-9]{1,18})?$", "examples": ["100.5"]}


def _number(check: Callable[[Any, str], Decimal]) -> Callable[[Any, ValidationInfo], str]:
    def validate(value: Any, info: ValidationInfo) -> str:
        name = info.field_name or "value"
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            raise ValueError(f"{name}: expected a decimal string")
        try:
            d = check(value, name)
        except MarginCallError as exc:
            raise ValueError(str(exc)) from None
        # text is passed on as written (an idempotent retry must send the same payload); numbers as Decimal text
        return value.strip() if isinstance(value, str) else format(d, "f")

    return validate


Positive = Annotated[str, BeforeValidator(_number(positive)), WithJsonSchema(_NUMBER_SCHEMA)]
NonNegative = Annotated[str, BeforeValidator(_number(non_negative)), WithJsonSchema(_NUMBER_SCHEMA)]
Id = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:@\-]*$")]
Key = Annotated[str, Field(min_length=1, max_length=160, description="idempotency key, scoped to the caller's "
                           "principal (another principal's equal key is a different key)")]
Ts = Annotated[int, Field(ge=0, lt=2**63, description="the source's time in milliseconds since the epoch, within "
                          "the service's clock-skew window; kept as source_ts (events are stamped with ingestion "
                          "time)")]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class KeyIn(Body):
    role: Role
    account: Id | None = None


class RotateIn(Body):
    grace_seconds: int = Field(0, ge=0, le=7 * 86_400, description="how long the old key stays valid")


class TierIn(Body):
    floor: NonNegative
    cap: Positive | None = None
    mmr: NonNegative
    max_leverage: Positive
    maintenance_amount: NonNegative | None = None


class MarketIn(Body):
    """A ``market_listed`` payload: a venue's built-in symbol, or any symbol with its tiers."""

    symbol: Id
    venue: Id = "generic"
    tiers: list[TierIn] | None = Field(None, min_length=1, max_length=100)
    tier_table: Id | None = None
    kind: Literal["linear", "inverse"] | None = None
    contract_size: Positive | None = None
    tick_size: Positive | None = None
    lot_size: Positive | None = None
    settle_asset: Id | None = None
    maker_fee: NonNegative | None = None
    taker_fee: NonNegative | None = None
    liquidation_fee: NonNegative | None = None
    key: Key | None = None


class AccountIn(Body):
    account: Id
    position_mode: Literal["one_way", "hedge"] | None = None
    key: Key | None = None


class AmountIn(Body):
    asset: Id
    amount: Positive
    key: Key | None = None


class LeverageIn(Body):
    symbol: Id
    leverage: Positive
    margin_mode: Literal["cross", "isolated"] | None = None
    key: Key | None = None


class FillIn(Body):
    account: Id
    symbol: Id
    side: Literal["buy", "sell"]
    size: Positive
    price: Positive
    liquidity: Literal["maker", "taker"] | None = None
    reduce_only: bool | None = None
    position_side: Literal["both", "long", "short"] | None = None
    order_id: Id | None = None
    key: Key | None = None
    ts: Ts | None = None


class FillsIn(Body):
    fills: list[FillIn] = Field(min_length=1)


class MarkIn(Body):
    symbol: Id
    price: Positive
    key: Key | None = None
    ts: Ts | None = None


class MarksIn(Body):
    marks: list[MarkIn] = Field(min_length=1)


class TickMarkIn(Body):
    symbol: Id
    price: Positive


class TickIn(Body):
    """One tick of several symbols' marks (logged as one ``marks`` event)."""

    marks: list[TickMarkIn] = Field(min_length=1)
    key: Key | None = None
    ts: Ts | None = None


class SourceTickIn(Body):
    source: Id
    symbol: Id
    price: Positive
    ts: Ts | None = None


class SourceTicksIn(Body):
    ticks: list[SourceTickIn] = Field(min_length=1)


def payload_of(model: BaseModel, *, drop: tuple[str, ...] = ("key", "ts")) -> dict[str, Any]:
    """The event payload: the fields that were given, without the envelope (key, ts)."""
    return model.model_dump(exclude_none=True, exclude=set(drop))
