"""Venue profiles: each venue's formula choices, fees, liquidation steps, ADL ranking and built-in markets, as data.

A profile never branches on its own name; everything a venue does differently is a field here or a
strategy object: its formulas in :mod:`margincall.venues.rules`, its partial-liquidation rule in
:mod:`margincall.venues.partial`, its ADL ranking in :mod:`margincall.venues.adl`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from types import MappingProxyType

from margincall.math.bybit import BybitForm
from margincall.math.margin import margin_ratio_equity_over_mm, margin_ratio_mm_over_equity
from margincall.model.enums import ContractKind, PriceRounding, TierBasis, TierMode
from margincall.model.errors import UnknownSymbol, UnknownVenue
from margincall.model.instrument import Instrument
from margincall.model.tiers import TierTable
from margincall.venues import tables
from margincall.venues.adl import AdlRanking, BinanceLeveragePnl, BitmexPnlLeverage, HyperliquidRanking
from margincall.venues.partial import FractionStep, FullOnly, PartialRule, TierStepDown
from margincall.venues.rules import (
    BinanceRule,
    BitunixRule,
    BybitRule,
    DydxRule,
    GenericRule,
    HyperliquidRule,
    OkxRule,
)


class RatioConvention(StrEnum):
    """venues.md §0: ``mm_over_equity`` (Binance, Bybit; liquidation at ≥ 100 %) or
    ``equity_over_mm`` (OKX, Bitunix, dYdX, Hyperliquid; liquidation at ≤ 100 %)."""

    MM_OVER_EQUITY = "mm_over_equity"
    EQUITY_OVER_MM = "equity_over_mm"

    def ratio(self, equity: Decimal, maintenance: Decimal) -> Decimal | None:
        if self is RatioConvention.MM_OVER_EQUITY:
            return margin_ratio_mm_over_equity(maintenance, equity)
        return margin_ratio_equity_over_mm(equity, maintenance)


@dataclass(frozen=True, slots=True)
class Market:
    """A built-in instrument with its dated tier tables (newest first)."""

    instrument: Instrument
    tables: Mapping[str, TierTable]  # as_of -> table

    @property
    def tiers(self) -> TierTable:
        return next(iter(self.tables.values()))


@dataclass(frozen=True)
class VenueProfile:
    name: str
    title: str
    #: the venue's formulas (maintenance, liquidation and bankruptcy prices, margin to add)
    rule: GenericRule
    #: how much of a position one liquidation step closes
    partial_liquidation: PartialRule
    #: the order in which opposite positions are auto-deleveraged
    adl_ranking: AdlRanking
    kind: ContractKind = ContractKind.LINEAR
    settle_asset: str = "USDT"
    taker_fee: Decimal = Decimal("0.0005")
    maker_fee: Decimal = Decimal("0.0002")
    liquidation_fee_rate: Decimal = Decimal(0)
    price_rounding: PriceRounding = PriceRounding.VENUE_FAVOUR
    ratio_convention: RatioConvention = RatioConvention.MM_OVER_EQUITY
    tier_mode: TierMode = TierMode.BRACKET
    tier_basis: TierBasis = TierBasis.NOTIONAL
    cap_inclusive: bool = False
    #: Alternative formula forms a scenario may pick with ``"formula"`` (Bybit: legacy / 2024 / 2026).
    forms: Mapping[str, GenericRule] = field(default_factory=dict)
    markets: Mapping[str, Market] = field(default_factory=dict)
    notes: str = ""

    def rule_for(self, form: str | None) -> GenericRule:
        if form is None:
            return self.rule
        try:
            return self.forms[form]
        except KeyError:
            known = ", ".join(sorted(self.forms)) or "none"
            raise UnknownVenue(
                f"venue {self.name} has no formula {form!r} (known: {known})",
                code="unknown_formula",
                field="formula",
            ) from None

    def market(self, symbol: str) -> Market:
        try:
            return self.markets[symbol]
        except KeyError:
            known = ", ".join(sorted(self.markets)) or "none"
            raise UnknownSymbol(
                f'unknown symbol {symbol!r} on {self.name} (built in: {known}); give it under "instruments"',
                field="symbol",
            ) from None

    def tier_table(self, symbol: str, as_of: str | None = None) -> TierTable:
        market = self.market(symbol)
        if as_of is None:
            return market.tiers
        try:
            return market.tables[as_of]
        except KeyError:
            raise UnknownSymbol(
                f"{self.name} {symbol} has no tier table dated {as_of!r} (have: {', '.join(market.tables)})",
                field="tier_table",
            ) from None


def _market(symbol: str, *dated: TierTable, **inst: object) -> tuple[str, Market]:
    instrument = Instrument.of(symbol, **inst)  # type: ignore[arg-type]
    return symbol, Market(instrument, MappingProxyType({t.as_of: t for t in dated}))


_BYBIT_FORMS = {f.value: BybitRule(form=f) for f in BybitForm}

_PROFILES = [
    VenueProfile(
        name="binance-usdm",
        title="Binance USDⓈ-M futures",
        rule=BinanceRule(),
        partial_liquidation=TierStepDown(1),
        adl_ranking=BinanceLeveragePnl(),
        taker_fee=Decimal("0.0005"),
        maker_fee=Decimal("0.0002"),
        liquidation_fee_rate=Decimal("0.0125"),
        price_rounding=PriceRounding.NEAREST,
        markets=dict(
            [
                _market(
                    "BTCUSDT",
                    tables.BINANCE_USDM_BTCUSDT_2024,
                    tables.BINANCE_USDM_BTCUSDT_2021,
                    tick_size="0.10",
                    lot_size="0.001",
                ),
                _market(
                    "ETHUSDT",
                    tables.BINANCE_USDM_ETHUSDT_2024,
                    tables.BINANCE_USDM_ETHUSDT_2021,
                    tick_size="0.01",
                    lot_size="0.001",
                ),
            ]
        ),
        notes="liquidation fee: per-symbol liquidationFee of a 2026 exchangeInfo snapshot (venues.md §3.8)",
    ),
    VenueProfile(
        name="binance-coinm",
        title="Binance COIN-M futures",
        rule=BinanceRule(),
        partial_liquidation=TierStepDown(1),
        adl_ranking=BinanceLeveragePnl(),
        kind=ContractKind.INVERSE,
        settle_asset="BTC",
        liquidation_fee_rate=Decimal("0.015"),
        price_rounding=PriceRounding.NEAREST,
    ),
    VenueProfile(
        name="bybit-linear",
        title="Bybit USDT perpetual",
        rule=_BYBIT_FORMS["2024"],
        partial_liquidation=TierStepDown(1),
        adl_ranking=BitmexPnlLeverage(),
        forms=_BYBIT_FORMS,
        taker_fee=Decimal("0.00055"),
        maker_fee=Decimal("0.0002"),
        cap_inclusive=True,
        markets=dict([_market("BTCUSDT", tables.BYBIT_LINEAR_BTCUSDT_2026, tick_size="0.10", lot_size="0.001")]),
    ),
    VenueProfile(
        name="bybit-inverse",
        title="Bybit inverse perpetual",
        rule=_BYBIT_FORMS["2024"],
        partial_liquidation=TierStepDown(1),
        adl_ranking=BitmexPnlLeverage(),
        forms=_BYBIT_FORMS,
        kind=ContractKind.INVERSE,
        settle_asset="BTC",
        taker_fee=Decimal("0.00055"),
        maker_fee=Decimal("0.0002"),
        cap_inclusive=True,
    ),
    VenueProfile(
        name="okx",
        title="OKX perpetual swaps",
        rule=OkxRule(),
        partial_liquidation=TierStepDown(2, min_tier=2),
        adl_ranking=BitmexPnlLeverage(),
        taker_fee=Decimal("0.0005"),
        maker_fee=Decimal("0.0002"),
        ratio_convention=RatioConvention.EQUITY_OVER_MM,
        tier_mode=TierMode.WHOLE_POSITION,
        tier_basis=TierBasis.CONTRACTS,
        cap_inclusive=True,
        markets=dict(
            [
                _market(
                    "ETH-USDT-SWAP", tables.OKX_ETH_USDT_SWAP_2021, contract_size="0.1", tick_size="0.01", lot_size="1"
                ),
            ]
        ),
        notes="liquidation fee = taker rate on the liquidated value (venues.md §5)",
    ),
    VenueProfile(
        name="hyperliquid",
        title="Hyperliquid perpetuals",
        rule=HyperliquidRule(),
        partial_liquidation=FractionStep(),
        adl_ranking=HyperliquidRanking(),
        settle_asset="USDC",
        taker_fee=Decimal("0.00045"),
        maker_fee=Decimal("0.00015"),
        ratio_convention=RatioConvention.EQUITY_OVER_MM,
        markets=dict(
            [
                _market("BTC", tables.HYPERLIQUID_BTC, settle_asset="USDC", tick_size="1", lot_size="0.00001"),
                _market("ETH", tables.HYPERLIQUID_ETH, settle_asset="USDC", tick_size="0.1", lot_size="0.0001"),
                _market("SOL", tables.HYPERLIQUID_SOL, settle_asset="USDC", tick_size="0.01", lot_size="0.01"),
            ]
        ),
    ),
    VenueProfile(
        name="dydx",
        title="dYdX v4",
        rule=DydxRule(),
        partial_liquidation=FullOnly(),
        adl_ranking=BitmexPnlLeverage(),
        settle_asset="USDC",
        taker_fee=Decimal("0.0005"),
        maker_fee=Decimal("0.0001"),
        liquidation_fee_rate=Decimal("0.015"),
        ratio_convention=RatioConvention.EQUITY_OVER_MM,
        markets=dict(
            [
                _market("BTC-USD", tables.DYDX_LARGE_CAP, settle_asset="USDC", tick_size="1", lot_size="0.0001"),
                _market("ETH-USD", tables.DYDX_LARGE_CAP, settle_asset="USDC", tick_size="0.1", lot_size="0.001"),
            ]
        ),
        notes="max liquidation penalty 1.5 % (venues.md §8)",
    ),
    VenueProfile(
        name="bitunix",
        title="Bitunix futures",
        rule=BitunixRule(),
        partial_liquidation=TierStepDown(1),
        adl_ranking=BitmexPnlLeverage(),
        taker_fee=Decimal("0.0006"),
        maker_fee=Decimal("0.0002"),
        ratio_convention=RatioConvention.EQUITY_OVER_MM,
    ),
    VenueProfile(
        name="generic",
        title="Generic venue (exact equity = MM solver, tiers re-selected at every price)",
        rule=GenericRule(),
        partial_liquidation=TierStepDown(1),
        adl_ranking=BitmexPnlLeverage(),
    ),
]

VENUES: Mapping[str, VenueProfile] = MappingProxyType({p.name: p for p in _PROFILES})


def get_venue(name: str) -> VenueProfile:
    """The profile called ``name``; :class:`UnknownVenue` names the known ones otherwise."""
    try:
        return VENUES[name]
    except KeyError:
        raise UnknownVenue(f"unknown venue {name!r} (known: {', '.join(VENUES)})", field="venue") from None
