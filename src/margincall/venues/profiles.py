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
from margincall.venues.quantities import (
    BINANCE_FUNDING,
    BINANCE_MARK,
    BITUNIX_COLLATERAL,
    BYBIT_FUNDING,
    BYBIT_MARK,
    DYDX_FILLABLE,
    DYDX_FUNDING,
    GENERIC_COLLATERAL,
    HYPERLIQUID_FUNDING,
    OKX_LEGACY_RATIO,
    CollateralRule,
    FillableRule,
    FundingBasisMark,
    FundingRule,
    LegacyRatioRule,
)
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
    """docs/venues.md §0: ``mm_over_equity`` (Binance, Bybit; liquidation at ≥ 100 %) or
    ``equity_over_mm`` (OKX, Bitunix, dYdX, Hyperliquid; liquidation at ≤ 100 %)."""

    MM_OVER_EQUITY = "mm_over_equity"
    EQUITY_OVER_MM = "equity_over_mm"

    def ratio(self, equity: Decimal, maintenance: Decimal) -> Decimal | None:
        if self is RatioConvention.MM_OVER_EQUITY:
            return margin_ratio_mm_over_equity(maintenance, equity)
        return margin_ratio_equity_over_mm(equity, maintenance)


@dataclass(frozen=True, slots=True)
class Market:
    """A built-in instrument with its dated tier tables (newest first) and its base asset."""

    instrument: Instrument
    tables: Mapping[str, TierTable]  # as_of -> table
    base: str = ""

    @property
    def tiers(self) -> TierTable:
        return next(iter(self.tables.values()))


@dataclass(frozen=True, slots=True)
class FormulaForm:
    """One published form of a venue's liquidation formula: the rule that computes it, and where and when
    the venue published it (``section`` of docs/venues.md describes it)."""

    name: str
    rule: GenericRule
    published: str
    source: str
    section: str


@dataclass(frozen=True)
class VenueProfile:
    """A venue: its formula forms (the first is the default: the venue's current published rule), fees,
    rounding, ratio convention, tier conventions and built-in markets."""

    name: str
    title: str
    forms: tuple[FormulaForm, ...]
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
    markets: Mapping[str, Market] = field(default_factory=dict)
    notes: str = ""
    #: the published rules for quantities besides liquidation (margincall.venues.quantities); None: none published
    mark: FundingBasisMark | None = None
    funding: FundingRule | None = None
    fillable: FillableRule | None = None
    collateral: CollateralRule | None = None
    legacy_ratio: LegacyRatioRule | None = None

    @property
    def default_form(self) -> FormulaForm:
        return self.forms[0]

    @property
    def rule(self) -> GenericRule:
        """The rule of the default form (the venue's current published rule)."""
        return self.forms[0].rule

    def form(self, name: str | None) -> FormulaForm:
        """The form called ``name`` (``None``: the default); :class:`UnknownVenue` names the known ones."""
        if name is None:
            return self.forms[0]
        for f in self.forms:
            if f.name == name:
                return f
        known = ", ".join(f.name for f in self.forms)
        raise UnknownVenue(
            f"venue {self.name} has no formula {name!r} (known: {known})", code="unknown_formula", field="formula"
        )

    def rule_for(self, form: str | None) -> GenericRule:
        return self.form(form).rule

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


def _market(symbol: str, base: str, *dated: TierTable, **inst: object) -> tuple[str, Market]:
    instrument = Instrument.of(symbol, **inst)  # type: ignore[arg-type]
    return symbol, Market(instrument, MappingProxyType({t.as_of: t for t in dated}), base)


_BYBIT_UTA = "bybit.com help centre: Liquidation Price Calculation under Isolated Mode (Unified Trading Account)"
#: Bybit's forms, newest (the default) first; linear and inverse share them (docs/venues.md §4.2–4.4).
_BYBIT_FORMS = (
    FormulaForm(
        "2026", BybitRule(form=BybitForm.Y2026), "2026-05-27", f"{_BYBIT_UTA}, last updated 2026-05-27", "§4.2–4.3"
    ),
    FormulaForm(
        "2024",
        BybitRule(form=BybitForm.Y2024),
        "2024-09-10",
        "bybit.com help centre: Liquidation Price (USDT Contract); the UTA isolated page of 2024-09-10 (inverse)",
        "§4.2–4.3",
    ),
    FormulaForm(
        "legacy",
        BybitRule(form=BybitForm.LEGACY),
        "2020–21",
        "help.bybit.com articles 900000181046 (USDT isolated) and 360039261334 (inverse cross)",
        "§4.2, 4.4",
    ),
)

_PROFILES = [
    VenueProfile(
        name="binance-usdm",
        mark=BINANCE_MARK,
        funding=BINANCE_FUNDING,
        title="Binance USDⓈ-M futures",
        forms=(
            FormulaForm(
                "faq",
                BinanceRule(),
                "2021",
                "binance.com FAQ: How to Calculate Liquidation Price of USDⓈ-M Futures Contracts",
                "§3.3",
            ),
        ),
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
                    "BTC",
                    tables.BINANCE_USDM_BTCUSDT_2024,
                    tables.BINANCE_USDM_BTCUSDT_2021,
                    tick_size="0.10",
                    lot_size="0.001",
                ),
                _market(
                    "ETHUSDT",
                    "ETH",
                    tables.BINANCE_USDM_ETHUSDT_2024,
                    tables.BINANCE_USDM_ETHUSDT_2021,
                    tick_size="0.01",
                    lot_size="0.001",
                ),
            ]
        ),
        notes="liquidation fee: per-symbol liquidationFee of a 2026 exchangeInfo snapshot (docs/venues.md §3.8)",
    ),
    VenueProfile(
        name="binance-coinm",
        mark=BINANCE_MARK,
        funding=BINANCE_FUNDING,
        title="Binance COIN-M futures",
        forms=(
            FormulaForm(
                "faq",
                BinanceRule(),
                "undated",
                "binance.com FAQ: Liquidation Price of COIN-M Futures Contracts (variables list)",
                "§3.4",
            ),
        ),
        partial_liquidation=TierStepDown(1),
        adl_ranking=BinanceLeveragePnl(),
        kind=ContractKind.INVERSE,
        settle_asset="BTC",
        liquidation_fee_rate=Decimal("0.015"),
        price_rounding=PriceRounding.NEAREST,
    ),
    VenueProfile(
        name="bybit-linear",
        mark=BYBIT_MARK,
        funding=BYBIT_FUNDING,
        title="Bybit USDT perpetual",
        partial_liquidation=TierStepDown(1),
        adl_ranking=BitmexPnlLeverage(),
        forms=_BYBIT_FORMS,
        taker_fee=Decimal("0.00055"),
        maker_fee=Decimal("0.0002"),
        cap_inclusive=True,
        markets=dict([_market("BTCUSDT", "BTC", tables.BYBIT_LINEAR_BTCUSDT_2026, tick_size="0.10", lot_size="0.001")]),
    ),
    VenueProfile(
        name="bybit-inverse",
        mark=BYBIT_MARK,
        funding=BYBIT_FUNDING,
        title="Bybit inverse perpetual",
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
        legacy_ratio=OKX_LEGACY_RATIO,
        title="OKX perpetual swaps",
        forms=(
            FormulaForm(
                "2025",
                OkxRule(),
                "2025-05-16",
                "okx.com help: Tiered maintenance margin ratio rules (updated 2025-05-16)",
                "§5",
            ),
        ),
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
                    "ETH-USDT-SWAP",
                    "ETH",
                    tables.OKX_ETH_USDT_SWAP_2021,
                    contract_size="0.1",
                    tick_size="0.01",
                    lot_size="1",
                ),
            ]
        ),
        notes="liquidation fee = taker rate on the liquidated value (docs/venues.md §5)",
    ),
    VenueProfile(
        name="hyperliquid",
        funding=HYPERLIQUID_FUNDING,
        title="Hyperliquid perpetuals",
        forms=(
            FormulaForm(
                "docs",
                HyperliquidRule(),
                "2026",
                "hyperliquid.gitbook.io docs: trading/liquidations (page snapshot)",
                "§7",
            ),
        ),
        partial_liquidation=FractionStep(),
        adl_ranking=HyperliquidRanking(),
        settle_asset="USDC",
        taker_fee=Decimal("0.00045"),
        maker_fee=Decimal("0.00015"),
        ratio_convention=RatioConvention.EQUITY_OVER_MM,
        markets=dict(
            [
                _market("BTC", "BTC", tables.HYPERLIQUID_BTC, settle_asset="USDC", tick_size="1", lot_size="0.00001"),
                _market("ETH", "ETH", tables.HYPERLIQUID_ETH, settle_asset="USDC", tick_size="0.1", lot_size="0.0001"),
                _market("SOL", "SOL", tables.HYPERLIQUID_SOL, settle_asset="USDC", tick_size="0.01", lot_size="0.01"),
            ]
        ),
    ),
    VenueProfile(
        name="dydx",
        funding=DYDX_FUNDING,
        fillable=DYDX_FILLABLE,
        title="dYdX v4",
        forms=(
            FormulaForm(
                "v4", DydxRule(), "2026", "dydxprotocol/v4-documentation concepts/trading/liquidations.mdx", "§8"
            ),
        ),
        partial_liquidation=FullOnly(),
        adl_ranking=BitmexPnlLeverage(),
        settle_asset="USDC",
        taker_fee=Decimal("0.0005"),
        maker_fee=Decimal("0.0001"),
        liquidation_fee_rate=Decimal("0.015"),
        ratio_convention=RatioConvention.EQUITY_OVER_MM,
        markets=dict(
            [
                _market("BTC-USD", "BTC", tables.DYDX_LARGE_CAP, settle_asset="USDC", tick_size="1", lot_size="0.0001"),
                _market(
                    "ETH-USD", "ETH", tables.DYDX_LARGE_CAP, settle_asset="USDC", tick_size="0.1", lot_size="0.001"
                ),
            ]
        ),
        notes="max liquidation penalty 1.5 % (docs/venues.md §8)",
    ),
    VenueProfile(
        name="bitunix",
        collateral=BITUNIX_COLLATERAL,
        title="Bitunix futures",
        forms=(
            FormulaForm(
                "2024",
                BitunixRule(),
                "2024-03-04",
                "bitunix.com product update: cross margin rate (2024-03-04); tiered MMR rules",
                "§6",
            ),
        ),
        partial_liquidation=TierStepDown(1),
        adl_ranking=BitmexPnlLeverage(),
        taker_fee=Decimal("0.0006"),
        maker_fee=Decimal("0.0002"),
        ratio_convention=RatioConvention.EQUITY_OVER_MM,
    ),
    VenueProfile(
        name="generic",
        collateral=GENERIC_COLLATERAL,
        title="Generic venue (exact equity = MM solver, tiers re-selected at every price)",
        forms=(FormulaForm("exact", GenericRule(), "—", "margincall: equity = MM, tiers re-selected", "§12"),),
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
