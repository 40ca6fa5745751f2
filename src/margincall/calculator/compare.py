"""One position on every venue profile, side by side.

The position is given once — side, size in the base asset, entry and mark prices, leverage, margin mode and
margin — and priced on each venue by that venue's default formula form (its current published rule), with
that venue's built-in market for the asset (tier table, tick, contract size) and, where the formula has a fee
term, the venue's published taker rate (or the one given). With one tier given (``mmr``/``max_leverage``) every
venue uses that tier instead, so the rows differ only by formula and rounding.

Inverse (coin-margined) profiles price a position in USD contracts with margin in coin, not comparable with a
linear position; they are listed as skipped with the reason.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from margincall.calculator.evaluate import PositionResult, evaluate
from margincall.calculator.scenario import parse_scenario
from margincall.model.enums import ContractKind, MarginMode
from margincall.model.errors import MarginCallError
from margincall.venues.profiles import VENUES, Market, VenueProfile

_QUOTE = re.compile(r"^([A-Z0-9]+?)(?:[-/_]?(?:USDT|USDC|USD|BUSD|FDUSD)(?:[-_:].*)?)?$")


def base_asset(symbol: str) -> str:
    """The base asset of a symbol as venues and ccxt spell it: BTCUSDT, BTC-USD, ETH-USDT-SWAP, BTC/USDT:USDT."""
    m = _QUOTE.match(symbol.upper())
    return m.group(1) if m else symbol.upper()


@dataclass(frozen=True, slots=True)
class VenueRow:
    """The position priced on one venue (``result``), or why it could not be (``error``)."""

    venue: str
    formula: str
    published: str
    symbol: str
    settle_asset: str
    tiers: str
    taker_fee: Decimal | None
    result: PositionResult | None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Comparison:
    asset: str
    rows: tuple[VenueRow, ...]
    skipped: tuple[tuple[str, str], ...]


def _market_for(profile: VenueProfile, asset: str) -> tuple[str, Market] | None:
    for symbol, market in profile.markets.items():
        if market.base == asset and market.instrument.kind is ContractKind.LINEAR:
            return symbol, market
    return None


def _row(profile: VenueProfile, template: dict[str, Any], asset: str) -> VenueRow:
    form = profile.default_form
    position = dict(template["positions"][0])
    spec = next(iter(template.get("instruments", {}).values()), None)
    scenario: dict[str, Any] = {k: v for k, v in template.items() if k not in ("positions", "instruments", "venue")}
    scenario["venue"] = profile.name
    fee: Decimal | None = None
    mode = MarginMode(position.get("margin_mode", "cross"))
    if form.rule.has_fee_term(ContractKind.LINEAR, mode):
        fee = Decimal(str(template["taker_fee"])) if "taker_fee" in template else profile.taker_fee
        scenario["taker_fee"] = str(fee)
    else:
        scenario.pop("taker_fee", None)
    if spec is not None and any(k in spec for k in ("mmr", "max_leverage")):
        symbol, tiers = position["symbol"], "one tier given"
        scenario["instruments"] = {symbol: spec}
        settle = spec.get("settle_asset") or profile.settle_asset
    else:
        found = _market_for(profile, asset)
        if found is None:
            return VenueRow(
                profile.name,
                form.name,
                form.published,
                "—",
                profile.settle_asset,
                "—",
                fee,
                None,
                f"no built-in {asset} market (give --mmr for one tier)",
            )
        symbol, market = found
        tiers = f"tiers {market.tiers.as_of}"
        settle = market.instrument.settle_asset
        # Sizes are in the base asset; a venue's contracts may be fractions of it (OKX ETH-USDT-SWAP: 0.1 ETH).
        position["size"] = str(Decimal(str(position["size"])) / market.instrument.contract_size)
    position["symbol"] = symbol
    scenario["positions"] = [position]
    try:
        result = evaluate(parse_scenario(scenario)).positions[0]
    except MarginCallError as exc:
        return VenueRow(profile.name, form.name, form.published, symbol, settle, tiers, fee, None, str(exc))
    return VenueRow(profile.name, form.name, form.published, symbol, settle, tiers, fee, result)


def compare_venues(template: dict[str, Any]) -> Comparison:
    """Price the one position of ``template`` (a scenario dict without a venue) on every linear venue profile."""
    if len(template.get("positions", ())) != 1:
        raise MarginCallError("compare takes exactly one position", field="positions")
    asset = base_asset(str(template["positions"][0]["symbol"]))
    spec: dict[str, Any] = next(iter(template.get("instruments", {}).values()), {})
    if spec and not any(k in spec for k in ("mmr", "max_leverage")):
        raise MarginCallError(
            f"instrument fields ({', '.join(sorted(spec))}) apply with one tier given (mmr or max_leverage) when"
            " comparing; without one each venue's built-in market is used",
            code="unused_input",
            field="instruments",
        )
    if spec.get("kind") == ContractKind.INVERSE.value:
        raise MarginCallError(
            "compare prices a linear position; inverse profiles are not comparable with it", field="instruments.kind"
        )
    rows, skipped = [], []
    for profile in VENUES.values():
        if profile.kind is not ContractKind.LINEAR:
            skipped.append((profile.name, "inverse (margin in coin)"))
            continue
        rows.append(_row(profile, template, asset))
    return Comparison(asset, tuple(rows), tuple(skipped))


def _num(d: Decimal | None) -> str | None:
    return None if d is None else format(d.normalize(), "f")


def comparison_to_json(c: Comparison) -> dict[str, Any]:
    """Exact values as Decimal strings (the table rounds them for reading)."""
    fields = (
        "initial_margin",
        "maintenance_margin",
        "liquidation_price",
        "liquidation_price_unrounded",
        "bankruptcy_price",
        "distance_to_liquidation_pct",
        "margin_ratio",
        "tier",
    )
    venues = []
    for r in c.rows:
        row: dict[str, Any] = {
            "venue": r.venue,
            "formula": r.formula,
            "published": r.published,
            "symbol": r.symbol,
            "settle_asset": r.settle_asset,
            "tiers": r.tiers,
            "taker_fee": _num(r.taker_fee),
        }
        for name in fields:
            value = None if r.result is None else getattr(r.result, name)
            row[name] = _num(value) if isinstance(value, Decimal) or value is None else value
        row["error"] = r.error
        venues.append(row)
    return {"asset": c.asset, "venues": venues, "skipped": [{"venue": v, "reason": why} for v, why in c.skipped]}


__all__ = ["Comparison", "VenueRow", "base_asset", "compare_venues", "comparison_to_json"]
