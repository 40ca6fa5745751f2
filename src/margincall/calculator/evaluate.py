"""Evaluate a scenario: every position's margins and liquidation/bankruptcy prices, and the account totals.

The calculator only assembles; every number comes from ``margincall.math`` through the venue's rule.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from margincall.calculator.inputs import UnusedInput, refuse_unused_inputs
from margincall.calculator.quantities import Quantities, answer
from margincall.calculator.scenario import SECTIONS, InstrumentIn, PositionIn, Scenario
from margincall.math.position import holding_initial_margin, holding_notional, holding_pnl, isolated_margin
from margincall.math.rounding import round_trigger_price
from margincall.math.sizing import distance_to_liquidation_pct
from margincall.model.enums import ContractKind, MarginMode, TierBasis, TierMode
from margincall.model.errors import LeverageTooHigh, MarginCallError, PositionTooLarge
from margincall.model.holding import Holding
from margincall.model.instrument import Instrument
from margincall.model.numbers import ZERO
from margincall.model.position import Position
from margincall.model.tiers import TierSpec, TierTable
from margincall.venues import loaders
from margincall.venues.profiles import VenueProfile, get_venue
from margincall.venues.rules import Fees, GenericRule


@dataclass(frozen=True, slots=True)
class PositionResult:
    symbol: str
    side: str
    margin_mode: str
    liquidation_price: Decimal | None
    liquidation_price_unrounded: Decimal | None
    bankruptcy_price: Decimal | None
    initial_margin: Decimal
    maintenance_margin: Decimal
    unrealized_pnl: Decimal
    notional: Decimal
    margin_ratio: Decimal | None
    position_margin: Decimal | None
    distance_to_liquidation_pct: Decimal | None
    margin_to_add: Decimal | None
    tier: int


@dataclass(frozen=True, slots=True)
class AccountResult:
    equity: Decimal
    maintenance_margin: Decimal
    margin_ratio: Decimal | None
    available_balance: Decimal
    settle_asset: str
    margin_ratio_convention: str


@dataclass(frozen=True, slots=True)
class CalcResult:
    venue: str
    positions: tuple[PositionResult, ...]
    account: AccountResult
    quantities: Quantities = field(default_factory=Quantities)


#: Ways an instrument can give its tier table; at most one may be used at a time.
_TIER_SOURCES = (
    "tiers",
    "tier_table",
    "mmr",
    "ccxt_tiers",
    "binance_brackets",
    "bybit_risk_limits",
    "okx_position_tiers",
)


def _payload_tiers(
    symbol: str, spec: InstrumentIn, mode: TierMode, basis: TierBasis, inclusive: bool
) -> TierTable | None:
    """A table from a venue/ccxt payload given on the instrument (``margincall.venues.loaders``), if any."""
    field = f"instruments.{symbol}"
    try:
        if spec.ccxt_tiers is not None:
            field += ".ccxt_tiers"
            return loaders.load_ccxt_market_tiers(
                spec.ccxt_tiers, symbol=symbol, mode=mode, basis=basis, cap_inclusive=inclusive
            )
        if spec.binance_brackets is not None:
            field += ".binance_brackets"
            return loaders.select_table(loaders.load_binance_brackets(spec.binance_brackets), symbol, field)
        if spec.bybit_risk_limits is not None:
            field += ".bybit_risk_limits"
            return loaders.select_table(loaders.load_bybit_risk_limits(spec.bybit_risk_limits), symbol, field)
        if spec.okx_position_tiers is not None:
            field += ".okx_position_tiers"
            return loaders.select_table(loaders.load_okx_position_tiers(spec.okx_position_tiers), symbol, field)
    except MarginCallError as exc:
        text = str(exc) if str(exc).startswith(field) else f"{field}: {exc}"
        raise type(exc)(text, code=exc.code, field=field) from None
    return None


def instrument_tiers(profile: VenueProfile, symbol: str, spec: InstrumentIn | None) -> TierTable:
    """The tier table an instrument of the scenario schema gives (one source: ``tiers``, ``tier_table``,
    ``mmr`` [+ ``maintenance_amount``], ``max_leverage``, or a ccxt/venue payload read by
    :mod:`margincall.venues.loaders`), else the venue's built-in table for ``symbol``."""
    if spec is None:
        return profile.tier_table(symbol)
    given = [name for name in _TIER_SOURCES if getattr(spec, name) not in (None, [])]
    if len(given) > 1:
        raise MarginCallError(
            f"instruments.{symbol}: give one tier source, not {' and '.join(given)}", field=f"instruments.{symbol}"
        )
    mode = TierMode(spec.tier_mode) if spec.tier_mode else profile.tier_mode
    basis = TierBasis(spec.tier_basis) if spec.tier_basis else profile.tier_basis
    inclusive = profile.cap_inclusive if spec.cap_inclusive is None else spec.cap_inclusive
    loaded = _payload_tiers(symbol, spec, mode, basis, inclusive)
    if loaded is not None:
        return loaded
    if spec.tiers:
        return TierTable.build(
            [TierSpec(t.floor, t.cap, t.mmr, t.max_leverage, t.maintenance_amount, t.imr) for t in spec.tiers],
            mode=mode,
            basis=basis,
            cap_inclusive=inclusive,
            source="scenario",
        )
    if spec.tier_table is not None:
        return profile.tier_table(symbol, spec.tier_table)
    if spec.mmr is not None:
        return TierTable.single(spec.mmr, spec.maintenance_amount, spec.max_leverage or 125)
    if spec.max_leverage is not None:  # Hyperliquid: MMR is half the IM at max leverage
        from margincall.math.hyperliquid import hyperliquid_mmr

        return TierTable.single(hyperliquid_mmr(spec.max_leverage), None, spec.max_leverage)
    if symbol in profile.markets:
        return profile.tier_table(symbol)
    raise MarginCallError(
        f'instruments.{symbol}: give "tiers", "tier_table", "mmr", "max_leverage" or a venue tier payload'
        ' ("ccxt_tiers", "binance_brackets", "bybit_risk_limits", "okx_position_tiers")',
        field=f"instruments.{symbol}",
    )


def instrument_of(profile: VenueProfile, symbol: str, spec: InstrumentIn | None) -> Instrument:
    """The instrument of the scenario schema (``spec``), else the venue's built-in market for ``symbol``."""
    if spec is None:
        return profile.market(symbol).instrument
    kind = ContractKind(spec.kind) if spec.kind else profile.kind
    return Instrument.of(
        symbol, kind, spec.contract_size, spec.tick_size, spec.lot_size, spec.settle_asset or profile.settle_asset
    )


def scenario_instrument(scenario: Scenario, symbol: str) -> Instrument:
    """The contract ``symbol`` is in ``scenario``: its ``instruments`` entry, else the venue's built-in market."""
    return instrument_of(get_venue(scenario.venue), symbol, scenario.instruments.get(symbol))


def holding_of(profile: VenueProfile, scenario: Scenario, i: int, p: PositionIn) -> Holding:
    """Position ``i`` of ``scenario`` (``p``) as the venue's formulas take it: its instrument, tiers and position,
    refused naming ``positions[i]`` when the venue cannot hold it."""
    where = f"positions[{i}]"
    try:
        spec = scenario.instruments.get(p.symbol)
        inst = instrument_of(profile, p.symbol, spec)
        tiers = instrument_tiers(profile, p.symbol, spec)
        pos = Position.of(
            p.symbol,
            p.side,
            p.size,
            p.entry_price,
            p.leverage,
            p.margin_mode,
            p.position_side,
            p.isolated_margin,
            p.extra_margin or 0,
        )
        h = Holding(pos, inst, tiers, p.mark_price if p.mark_price is not None else p.entry_price)
    except MarginCallError as exc:
        msg = str(exc)
        text = f"{where}.{msg}" if exc.field and msg.startswith(f"{exc.field}:") else f"{where}: {msg}"
        raise type(exc)(text, code=exc.code, field=f"{where}.{exc.field}" if exc.field else where) from None
    # Leverage and size are checked against the tier the position opens in (its entry notional).
    key = holding_notional(h, pos.entry_price) if tiers.basis is TierBasis.NOTIONAL else pos.size
    if tiers.exceeds(key):
        raise PositionTooLarge(
            f"{where}: position of {key} is beyond the largest tier's cap {tiers.tiers[-1].cap}", field=f"{where}.size"
        )
    tier = tiers.tier_for(key)
    if pos.leverage > tier.max_leverage:
        raise LeverageTooHigh(
            f"{where}: leverage {pos.leverage} is above the tier's max {tier.max_leverage} for a position of {key}",
            field=f"{where}.leverage",
        )
    return h


def _refuse_without_positions(scenario: Scenario) -> None:
    """A scenario without positions must ask a section, and gives nothing only positions use."""
    if not any(getattr(scenario, name) is not None for name in SECTIONS):
        raise MarginCallError(
            f"positions: give at least one position, or a question section ({', '.join(SECTIONS)})",
            field="positions",
        )
    for name in ("formula", "wallet_balance", "taker_fee", "instruments"):
        if name in scenario.model_fields_set:
            raise UnusedInput(f"{name}: used only by positions, and the scenario has none", field=name)


def evaluate(scenario: Scenario) -> CalcResult:
    """Compute every position's margins and prices and the cross account's totals."""
    profile = get_venue(scenario.venue)
    form = profile.form(scenario.formula)
    if not scenario.positions:
        _refuse_without_positions(scenario)
    quantities = answer(profile, scenario)
    rule: GenericRule = form.rule
    fees = Fees(taker=scenario.taker_fee or ZERO)
    holdings = [holding_of(profile, scenario, i, p) for i, p in enumerate(scenario.positions)]
    refuse_unused_inputs(profile, form, scenario, holdings)
    cross = [h for h in holdings if h.position.margin_mode is MarginMode.CROSS]
    assets = {h.instrument.settle_asset for h in cross}
    if len(assets) > 1:
        raise MarginCallError(
            f"cross positions settle in several assets ({', '.join(sorted(assets))}); a scenario has one cross wallet",
            field="positions",
        )
    settle = (
        next(iter(assets)) if assets else (holdings[0].instrument.settle_asset if holdings else profile.settle_asset)
    )
    wallet = scenario.wallet_balance

    requirement = {id(h): rule.requirement(h, fees) + rule.constant_requirement(h, fees) for h in holdings}
    cross_equity = wallet + sum((holding_pnl(h) for h in cross), ZERO)
    cross_mm = sum((requirement[id(h)] for h in cross), ZERO)
    liq_cache: dict[str, tuple[Decimal | None, Decimal | None]] = {}

    results = []
    for h, p_in in zip(holdings, scenario.positions, strict=True):
        pos = h.position
        target = p_in.target_liquidation_price
        margin: Decimal | None = None
        to_add: Decimal | None = None
        if pos.is_isolated:
            margin = isolated_margin(h)
            liq = rule.isolated_liquidation_price(h, margin, fees)
            bankrupt = rule.isolated_bankruptcy_price(h, margin)
            ratio = profile.ratio_convention.ratio(margin + holding_pnl(h), requirement[id(h)])
            if target is not None:
                to_add = rule.margin_to_add_isolated(h, margin, target, fees)
        else:
            if pos.symbol not in liq_cache:
                liq_cache[pos.symbol] = (
                    rule.cross_liquidation_price(wallet, cross, pos.symbol, fees),
                    rule.cross_bankruptcy_price(wallet, cross, pos.symbol, fees),
                )
            liq, bankrupt = liq_cache[pos.symbol]
            ratio = profile.ratio_convention.ratio(cross_equity, cross_mm)
            if target is not None:
                to_add = rule.margin_to_add_cross(wallet, cross, pos.symbol, target, fees)
        tick = h.instrument.tick_size
        results.append(
            PositionResult(
                symbol=pos.symbol,
                side=pos.side.value,
                margin_mode=pos.margin_mode.value,
                liquidation_price=None
                if liq is None
                else round_trigger_price(liq, tick, pos.sign, profile.price_rounding),
                liquidation_price_unrounded=liq,
                bankruptcy_price=None
                if bankrupt is None
                else round_trigger_price(bankrupt, tick, pos.sign, profile.price_rounding),
                initial_margin=holding_initial_margin(h, h.mark),
                maintenance_margin=requirement[id(h)],
                unrealized_pnl=holding_pnl(h),
                notional=holding_notional(h),
                margin_ratio=ratio,
                position_margin=margin,
                distance_to_liquidation_pct=None if liq is None else distance_to_liquidation_pct(h.mark, liq, pos.sign),
                margin_to_add=to_add,
                tier=h.tiers.index_for(holding_notional(h) if h.tiers.basis is TierBasis.NOTIONAL else pos.size) + 1,
            )
        )
    cross_im = sum((holding_initial_margin(h, h.mark) for h in cross), ZERO)
    account = AccountResult(
        equity=cross_equity,
        maintenance_margin=cross_mm,
        margin_ratio=profile.ratio_convention.ratio(cross_equity, cross_mm) if cross else None,
        available_balance=cross_equity - cross_im,
        settle_asset=settle,
        margin_ratio_convention=profile.ratio_convention.value,
    )
    return CalcResult(venue=profile.name, positions=tuple(results), account=account, quantities=quantities)


def _num(d: Decimal | None) -> str | None:
    if d is None:
        return None
    text = format(d.normalize(), "f")
    return "0" if text in ("-0", "") else text


def result_to_json(result: CalcResult) -> dict[str, object]:
    """The result as JSON-ready data: Decimal strings, positions in input order."""

    def conv(obj: object) -> dict[str, object]:
        out: dict[str, object] = {}
        for name in obj.__dataclass_fields__:  # type: ignore[attr-defined]
            v = getattr(obj, name)
            out[name] = _num(v) if isinstance(v, Decimal) or v is None else v
        return out

    out: dict[str, object] = {"venue": result.venue}
    if result.positions:
        out["positions"] = [conv(p) for p in result.positions]
        out["account"] = conv(result.account)
    for name in SECTIONS:
        section = getattr(result.quantities, name)
        if section is not None:
            out[name] = _json_value(section)
    return out


def _json_value(v: object) -> object:
    """A result value as JSON-ready data: Decimals as strings, dataclasses as objects, tuples as lists."""
    if isinstance(v, Decimal) or v is None:
        return _num(v)
    if isinstance(v, tuple):
        return [_json_value(x) for x in v]
    if hasattr(v, "__dataclass_fields__"):
        return {name: _json_value(getattr(v, name)) for name in v.__dataclass_fields__}
    return v


__all__: Sequence[str] = ["AccountResult", "CalcResult", "PositionResult", "evaluate", "holding_of", "result_to_json"]
