"""The calculator's input: a scenario of one account on one venue (schema in issue #2 / README).

Numbers are accepted as JSON strings or numbers; JSON numbers are read as text so ``0.1`` is exactly
``Decimal('0.1')``. Every error names the field it is about.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from margincall.model.errors import MarginCallError
from margincall.model.numbers import to_decimal


def _dec(v: Any) -> Decimal:
    if isinstance(v, Decimal | int | float | str) and not isinstance(v, bool):
        return to_decimal(v, "number")
    raise ValueError(f"expected a number or a numeric string, got {type(v).__name__}")


Num = Annotated[Decimal, BeforeValidator(_dec)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TierIn(_Strict):
    floor: Num
    cap: Num | None = None
    mmr: Num
    max_leverage: Num
    maintenance_amount: Num | None = None
    imr: Num | None = None


class InstrumentIn(_Strict):
    kind: Literal["linear", "inverse"] | None = None
    contract_size: Num = Decimal(1)
    tick_size: Num = Decimal("0.01")
    lot_size: Num = Decimal("0.001")
    settle_asset: str | None = None
    tiers: list[TierIn] | None = None
    tier_table: str | None = Field(default=None, description="a built-in table of the venue, by date, e.g. '2021'")
    tier_mode: Literal["bracket", "whole_position"] | None = None
    tier_basis: Literal["notional", "contracts"] | None = None
    cap_inclusive: bool | None = None
    mmr: Num | None = None
    maintenance_amount: Num | None = None
    max_leverage: Num | None = None
    # Tier tables as the venues / ccxt publish them (margincall.venues.loaders): ccxt
    # fetch_market_leverage_tiers() list; Binance leverageBracket object or list; Bybit /v5/market/risk-limit
    # response, result or list; OKX /api/v5/public/position-tiers response or data list.
    ccxt_tiers: list[Any] | None = None
    binance_brackets: dict[str, Any] | list[Any] | None = None
    bybit_risk_limits: dict[str, Any] | list[Any] | None = None
    okx_position_tiers: dict[str, Any] | list[Any] | None = None


class PositionIn(_Strict):
    symbol: str = Field(min_length=1)
    side: Literal["long", "short"]
    size: Num
    entry_price: Num
    mark_price: Num | None = None
    margin_mode: Literal["isolated", "cross"] = "cross"
    leverage: Num
    isolated_margin: Num | None = None
    extra_margin: Num | None = None
    position_side: Literal["both", "long", "short"] = "both"
    target_liquidation_price: Num | None = None


class MarkPriceIn(_Strict):
    """``Price 1`` from the funding basis, and the median mark with ``basis_ma`` and ``last_price`` (§3.6, §4.7)."""

    index: Num
    funding_rate: Num
    hours_until_funding: Num
    funding_interval_hours: Num | None = None
    basis_ma: Num | None = None
    last_price: Num | None = None


class FundingIn(_Strict):
    """The 8-hour rate from a premium index (given, or from impact prices), and the cap and impact notional
    from the rates at max leverage (§3.7, §4.7, §7, §8)."""

    premium_index: Num | None = None
    impact_bid: Num | None = None
    impact_ask: Num | None = None
    index: Num | None = None
    interest_rate: Num | None = None
    imr: Num | None = None
    mmr: Num | None = None


class FillablePriceIn(_Strict):
    """dYdX's fillable price of the order liquidating a position of ``side`` (§8)."""

    side: Literal["long", "short"]
    oracle_price: Num
    mmf: Num
    equity: Num
    total_mmr: Num
    spread_to_mmr: Num | None = None
    bankruptcy_adjustment: Num | None = None
    tick_size: Num | None = None


class CollateralAssetIn(_Strict):
    asset: str = Field(min_length=1)
    amount: Num
    price: Num
    weight: Num
    imf_factor: Num | None = None


class CollateralIn(_Strict):
    """Collateral at its weight (Bitunix's discount, §6; Drift's size-discounted weight with ``imf_factor``, §9)."""

    assets: list[CollateralAssetIn] = Field(min_length=1)


class MarginRatioCheckIn(_Strict):
    """OKX's 2020 fixed-margin ratio against ``mmr + liquidation_fee_rate`` (§5)."""

    margin: Num
    unrealized_pnl: Num
    position_value: Num
    mmr: Num
    liquidation_fee_rate: Num


#: The question sections a scenario may have besides its positions, by name.
SECTIONS = ("mark_price", "funding", "fillable_price", "collateral", "margin_ratio_check")


class Scenario(_Strict):
    venue: str = "generic"
    formula: str | None = None
    wallet_balance: Num = Decimal(0)
    taker_fee: Num | None = None
    instruments: dict[str, InstrumentIn] = Field(default_factory=dict)
    positions: list[PositionIn] = Field(default_factory=list)
    mark_price: MarkPriceIn | None = None
    funding: FundingIn | None = None
    fillable_price: FillablePriceIn | None = None
    collateral: CollateralIn | None = None
    margin_ratio_check: MarginRatioCheckIn | None = None


class ScenarioTooLarge(MarginCallError):
    """A scenario beyond a size limit (positions, instruments, tier rows of one instrument)."""

    code = "scenario_too_large"


def check_size(data: Any, *, max_positions: int, max_instruments: int, max_tiers: int) -> None:
    """Refuse a scenario (as parsed JSON) larger than the limits, before any work on it: at most
    ``max_positions`` positions, ``max_instruments`` instruments and ``max_tiers`` tier rows per instrument — the
    objects in its lists, whichever form the tiers take (``tiers``, a ccxt or venue payload), and at most
    ``max_positions`` collateral assets. Anything else
    is left to :func:`parse_scenario`. Raises :class:`ScenarioTooLarge` naming the field and the limit."""
    if not isinstance(data, dict):
        return
    positions = data.get("positions")
    if isinstance(positions, list) and len(positions) > max_positions:
        raise ScenarioTooLarge(
            f"positions: {len(positions)} positions, more than the limit of {max_positions}", field="positions"
        )
    collateral = data.get("collateral")
    assets = collateral.get("assets") if isinstance(collateral, dict) else None
    if isinstance(assets, list) and len(assets) > max_positions:
        raise ScenarioTooLarge(
            f"collateral.assets: {len(assets)} assets, more than the limit of {max_positions}",
            field="collateral.assets",
        )
    instruments = data.get("instruments")
    if not isinstance(instruments, dict):
        return
    if len(instruments) > max_instruments:
        raise ScenarioTooLarge(
            f"instruments: {len(instruments)} instruments, more than the limit of {max_instruments}",
            field="instruments",
        )
    for symbol, spec in instruments.items():
        if _rows_beyond(spec, max_tiers):
            raise ScenarioTooLarge(
                f"instruments.{symbol}: more than the limit of {max_tiers} tier rows per instrument",
                field=f"instruments.{symbol}",
            )


def _rows_beyond(value: Any, limit: int) -> bool:
    """Whether ``value`` holds more than ``limit`` objects as elements of lists, at any depth (a walk that
    stops once past the limit)."""
    rows, stack = 0, [value]
    while stack:
        v = stack.pop()
        if isinstance(v, dict):
            stack.extend(v.values())
        elif isinstance(v, list):
            rows += sum(1 for x in v if isinstance(x, dict))
            if rows > limit:
                return True
            stack.extend(v)
    return False


def _where(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "scenario"


def parse_scenario(data: str | bytes | dict[str, Any]) -> Scenario:
    """Parse and validate a scenario, raising :class:`MarginCallError` with the offending field."""
    if isinstance(data, str | bytes):
        try:
            data = json.loads(data, parse_float=str, parse_constant=lambda c: c)
        except json.JSONDecodeError as exc:
            raise MarginCallError(
                f"malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}", code="malformed_json"
            ) from None
        except RecursionError:
            raise MarginCallError("malformed JSON: nested too deeply", code="malformed_json") from None
    if not isinstance(data, dict):
        raise MarginCallError("a scenario must be a JSON object", code="malformed_json")
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        msg = str(err.get("msg", "invalid"))
        msg = msg.removeprefix("Value error, ").removeprefix("number: ")
        raise MarginCallError(f"{_where(tuple(err['loc']))}: {msg}", field=_where(tuple(err["loc"]))) from None
