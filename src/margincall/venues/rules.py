"""Venue liquidation rules: small strategy objects that pick the venue's formula from ``margincall.math``.

Every rule answers the same questions for a holding (position + instrument + tiers + mark):
its maintenance requirement, its isolated liquidation price, the cross liquidation price of a symbol
in an account, the bankruptcy price, and the margin to add to move the liquidation price to a target.
The generic rule (venue-neutral, exact across tiers) is the base; venues override only what their
published formula does differently.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from margincall.math.batch_kernels import (
    FORM_BITUNIX,
    FORM_BYBIT_2024,
    FORM_BYBIT_2026,
    FORM_BYBIT_LEGACY,
    FORM_GENERIC,
)
from margincall.math.binance import BinanceLeg, binance_liquidation_price
from margincall.math.bitunix import (
    allocate_cross_margin,
    bitunix_liquidation_price,
    bitunix_maintenance_margin,
)
from margincall.math.bybit import BybitForm, bybit_inverse_cross_classic, bybit_isolated_liquidation_price
from margincall.math.contracts import notional, quantity
from margincall.math.dydx import dydx_liquidation_price
from margincall.math.hyperliquid import hyperliquid_liquidation_price
from margincall.math.margin import tier_amount
from margincall.math.okx import okx_liquidation_price
from margincall.math.position import (
    cross_solution,
    holding_initial_margin,
    holding_maintenance,
    holding_notional,
    holding_pnl,
    isolated_solution,
)
from margincall.model.enums import ContractKind, MarginMode
from margincall.model.errors import MarginCallError
from margincall.model.holding import Holding
from margincall.model.numbers import ONE, ZERO
from margincall.model.tiers import Tier

#: Tolerance (relative) when checking that an affine solve for "margin to add" landed on its target.
_AFFINE_CHECK = Decimal("1e-20")


@dataclass(frozen=True, slots=True)
class Fees:
    """Fee rates that enter a venue's liquidation formula. ``taker`` 0 means "no fee term"."""

    taker: Decimal = ZERO


def _others(holdings: Sequence[Holding], symbol: str) -> list[Holding]:
    return [h for h in holdings if h.position.symbol != symbol]


def _mine(holdings: Sequence[Holding], symbol: str) -> list[Holding]:
    return [h for h in holdings if h.position.symbol == symbol]


@dataclass(frozen=True)
class GenericRule:
    """Venue-neutral rule: equity = MM with MM at the candidate price, tiers re-selected (docs/venues.md §12.2)."""

    name: str = "generic"

    def batch_form(self) -> int:
        """The compiled batch kernels' code of this rule's formula (:mod:`margincall.math.batch_kernels`):
        Binance, OKX, Hyperliquid and dYdX publish the equity = requirement equation solved in one tier."""
        return FORM_GENERIC

    # --------------------------------------------------------------------------------- requirement
    def has_fee_term(self, kind: ContractKind, mode: MarginMode) -> bool:
        """Whether this rule's formula for a ``kind`` position in ``mode`` has a taker-fee term.

        A scenario's ``taker_fee`` that no position's formula uses is refused rather than ignored.
        """
        return False

    def fee_rate(self, fees: Fees) -> Decimal:
        """Notional-proportional fee term in the requirement (OKX liquidation fee); none by default."""
        return ZERO

    def requirement(self, h: Holding, fees: Fees, price: Decimal | None = None) -> Decimal:
        """Maintenance requirement the venue compares equity against, at ``price`` (default mark)."""
        return holding_maintenance(h, price, self.fee_rate(fees))

    def constant_requirement(self, h: Holding, fees: Fees) -> Decimal:
        """Price-independent part of the requirement (Bybit UTA: estimated fee to close)."""
        return ZERO

    # ------------------------------------------------------------------------------------ prices
    def isolated_liquidation_price(self, h: Holding, margin: Decimal, fees: Fees) -> Decimal | None:
        return isolated_solution(
            h, margin=margin, fee_rate=self.fee_rate(fees), extra_requirement=self.constant_requirement(h, fees)
        ).price

    def cross_liquidation_price(
        self, wallet: Decimal, holdings: Sequence[Holding], symbol: str, fees: Fees
    ) -> Decimal | None:
        extra = sum((self.constant_requirement(h, fees) for h in holdings), ZERO)
        return cross_solution(wallet, holdings, symbol, fee_rate=self.fee_rate(fees), extra_requirement=extra).price

    def isolated_bankruptcy_price(self, h: Holding, margin: Decimal) -> Decimal | None:
        """Price at which the position's margin is exactly used up (docs/venues.md §3.5: MMR = cum = 0)."""
        return isolated_solution(h, margin=margin, maintenance=False).price

    def cross_bankruptcy_price(
        self, wallet: Decimal, holdings: Sequence[Holding], symbol: str, fees: Fees = Fees()
    ) -> Decimal | None:
        """Price of ``symbol`` at which the cross account's equity is exactly used up (docs/venues.md §3.5)."""
        return cross_solution(wallet, holdings, symbol, maintenance=False).price

    # ---------------------------------------------------------------------------- margin to add
    def margin_to_add_isolated(self, h: Holding, margin: Decimal, target: Decimal, fees: Fees) -> Decimal:
        """Margin to add (negative: removable) so the isolated liquidation price becomes ``target``."""
        return self._solve_margin(
            lambda m: self.isolated_liquidation_price(h, m, fees),
            margin,
            target,
            h.instrument.kind,
            lambda: (
                -(
                    margin
                    + holding_pnl(h, target)
                    - self.requirement(h, fees, target)
                    - self.constant_requirement(h, fees)
                )
            ),
        )

    def margin_to_add_cross(
        self, wallet: Decimal, holdings: Sequence[Holding], symbol: str, target: Decimal, fees: Fees
    ) -> Decimal:
        """Deposit (negative: withdrawable) so the cross liquidation price of ``symbol`` becomes ``target``."""
        kind = _mine(holdings, symbol)[0].instrument.kind

        def fallback() -> Decimal:
            total = wallet
            for h in holdings:
                at = target if h.position.symbol == symbol else None
                total += holding_pnl(h, at) - self.requirement(h, fees, at) - self.constant_requirement(h, fees)
            return -total

        return self._solve_margin(
            lambda w: self.cross_liquidation_price(w, holdings, symbol, fees), wallet, target, kind, fallback
        )

    @staticmethod
    def _solve_margin(
        price_of: Callable[[Decimal], Decimal | None],
        margin: Decimal,
        target: Decimal,
        kind: ContractKind,
        fallback: Callable[[], Decimal],
    ) -> Decimal:
        """Margin to add so ``price_of(margin + Δ) == target``.

        First the exact generic answer (equity = requirement at ``target``); if the venue's formula
        disagrees (Bybit's entry-valued MM, Bitunix's open-price MM), use that every venue's formula is
        affine in margin in ``P`` (linear) or ``1/P`` (inverse) within a tier: two evaluations give Δ,
        which is then confirmed.
        """
        exact = fallback()
        landed = price_of(margin + exact)
        if landed is not None and abs(landed - target) <= _AFFINE_CHECK * target:
            return exact
        p0, p1 = price_of(margin), price_of(margin + ONE)
        if p0 is not None and p1 is not None and p0 != p1:
            inverse = kind is ContractKind.INVERSE
            x0, x1, xt = (ONE / p0, ONE / p1, ONE / target) if inverse else (p0, p1, target)
            delta = (xt - x0) / (x1 - x0)
            check = price_of(margin + delta)
            if check is not None and abs(check - target) <= _AFFINE_CHECK * target:
                return delta
        return exact


@dataclass(frozen=True)
class BinanceRule(GenericRule):
    """Binance USDⓈ-M / COIN-M: the FAQ formula with B/L/S legs and bracket iteration (docs/venues.md §3.3, §3.4)."""

    name: str = "binance"

    @staticmethod
    def _legs(holdings: Sequence[Holding]) -> list[BinanceLeg]:
        return [
            BinanceLeg(
                h.position.position_side,
                h.position.sign,
                quantity(h.instrument, h.position.size),
                h.position.entry_price,
                h.tiers,
            )
            for h in holdings
        ]

    def isolated_liquidation_price(self, h: Holding, margin: Decimal, fees: Fees) -> Decimal | None:
        return binance_liquidation_price(h.instrument.kind, margin, self._legs([h]), h.mark)

    def cross_liquidation_price(
        self, wallet: Decimal, holdings: Sequence[Holding], symbol: str, fees: Fees
    ) -> Decimal | None:
        others = _others(holdings, symbol)
        mine = _mine(holdings, symbol)
        tmm1 = sum((holding_maintenance(h) for h in others), ZERO)
        upnl1 = sum((holding_pnl(h) for h in others), ZERO)
        return binance_liquidation_price(mine[0].instrument.kind, wallet, self._legs(mine), mine[0].mark, tmm1, upnl1)


_BYBIT_BATCH_FORMS = {
    BybitForm.LEGACY: FORM_BYBIT_LEGACY,
    BybitForm.Y2024: FORM_BYBIT_2024,
    BybitForm.Y2026: FORM_BYBIT_2026,
}


@dataclass(frozen=True)
class BybitRule(GenericRule):
    """Bybit formulas by ``form`` (docs/venues.md §4.2–4.5).

    Isolated: the form's published formula, the tier chosen by position value at entry. ``extra_margin``
    is margin above IM; an explicit isolated margin is read as ``IM + extra``. In the 2026 (UTA) form MM
    includes the estimated fee to close, ``Q × EP × (1 ∓ 1/L) × taker fee``.

    Cross: the account MM rate (UTA, §4.4) through the generic solver; under ``legacy`` an inverse
    position uses the classic inverse cross formula with the taker fee in its bankruptcy price (§4.4).
    """

    name: str = "bybit"
    form: BybitForm = BybitForm.Y2026

    def batch_form(self) -> int:
        return _BYBIT_BATCH_FORMS[self.form]

    def has_fee_term(self, kind: ContractKind, mode: MarginMode) -> bool:
        if self.form is BybitForm.Y2026:
            return True
        return self.form is BybitForm.LEGACY and kind is ContractKind.INVERSE and mode is MarginMode.CROSS

    def constant_requirement(self, h: Holding, fees: Fees) -> Decimal:
        if self.form is not BybitForm.Y2026 or fees.taker == 0:
            return ZERO
        p = h.position
        bankruptcy_value = holding_notional(h, p.entry_price) * (ONE - p.sign * ONE / p.leverage)
        if h.instrument.kind is ContractKind.INVERSE:
            # Coin value at the bankruptcy price EP·L/(L ± 1): Q / BP = (Q/EP)·(1 ± 1/L).
            bankruptcy_value = holding_notional(h, p.entry_price) * (ONE + p.sign * ONE / p.leverage)
        return bankruptcy_value * fees.taker

    @staticmethod
    def _entry_tier(h: Holding) -> Tier:
        p, inst = h.position, h.instrument
        return h.tiers.tier_for(
            tier_amount(h.tiers, inst.kind, quantity(inst, p.size), inst.contract_size, p.entry_price)
        )

    def isolated_liquidation_price(self, h: Holding, margin: Decimal, fees: Fees) -> Decimal | None:
        p, inst = h.position, h.instrument
        tier = self._entry_tier(h)
        extra = margin - holding_initial_margin(h)
        return bybit_isolated_liquidation_price(
            self.form,
            inst.kind,
            p.sign,
            quantity(inst, p.size),
            p.entry_price,
            p.leverage,
            tier.mmr,
            tier.maintenance_amount,
            extra,
            fees.taker,
        )

    def _classic_inverse_cross(
        self, wallet: Decimal, holdings: Sequence[Holding], symbol: str, fees: Fees
    ) -> tuple[Decimal | None, Decimal | None] | None:
        """The classic inverse cross prices under ``legacy``; ``None`` when another form applies."""
        mine = _mine(holdings, symbol)
        if self.form is not BybitForm.LEGACY or mine[0].instrument.kind is not ContractKind.INVERSE:
            return None
        if len(holdings) != 1:
            raise MarginCallError(
                f"formula legacy: Bybit's classic inverse cross formula prices one position in its coin wallet;"
                f" {len(holdings)} cross positions given (formula 2026 prices a whole cross account)",
                code="formula_not_applicable",
                field="formula",
            )
        h = holdings[0]
        tier = self._entry_tier(h)
        return bybit_inverse_cross_classic(
            h.position.sign,
            quantity(h.instrument, h.position.size),
            h.position.entry_price,
            wallet,
            tier.mmr,
            tier.maintenance_amount,
            fees.taker,
        )

    def cross_liquidation_price(
        self, wallet: Decimal, holdings: Sequence[Holding], symbol: str, fees: Fees
    ) -> Decimal | None:
        classic = self._classic_inverse_cross(wallet, holdings, symbol, fees)
        if classic is not None:
            return classic[0]
        return super().cross_liquidation_price(wallet, holdings, symbol, fees)

    def cross_bankruptcy_price(
        self, wallet: Decimal, holdings: Sequence[Holding], symbol: str, fees: Fees = Fees()
    ) -> Decimal | None:
        classic = self._classic_inverse_cross(wallet, holdings, symbol, fees)
        if classic is not None:
            return classic[1]
        return super().cross_bankruptcy_price(wallet, holdings, symbol, fees)


@dataclass(frozen=True)
class OkxRule(GenericRule):
    """OKX: whole-position tier by contracts plus the liquidation fee (taker rate) in the requirement (§5)."""

    name: str = "okx"

    def has_fee_term(self, kind: ContractKind, mode: MarginMode) -> bool:
        return True

    def fee_rate(self, fees: Fees) -> Decimal:
        return fees.taker

    def isolated_liquidation_price(self, h: Holding, margin: Decimal, fees: Fees) -> Decimal | None:
        p, inst = h.position, h.instrument
        qty = quantity(inst, p.size)
        tier = h.tiers.tier_for(tier_amount(h.tiers, inst.kind, qty, inst.contract_size, h.mark))
        price = okx_liquidation_price(inst.kind, p.sign, qty, p.entry_price, margin, tier.mmr, fees.taker)
        if (
            price is not None
            and h.tiers.tier_for(tier_amount(h.tiers, inst.kind, qty, inst.contract_size, price)) is not tier
        ):
            return super().isolated_liquidation_price(h, margin, fees)  # notional-keyed table crossed a tier
        return price


@dataclass(frozen=True)
class HyperliquidRule(GenericRule):
    """Hyperliquid: ``liq = price − side·margin_available/size/(1 − l·side)`` (docs/venues.md §7).

    Exact while the tier at the liquidation price is the tier at the mark; otherwise the generic
    solver (the same equation, tier re-selected) answers.
    """

    name: str = "hyperliquid"

    def _literal(self, h: Holding, margin_available: Decimal) -> Decimal | None:
        inst, p = h.instrument, h.position
        if inst.kind is not ContractKind.LINEAR:
            return None
        qty = quantity(inst, p.size)
        tier = h.tiers.tier_for(notional(inst, p.size, h.mark))
        price = hyperliquid_liquidation_price(h.mark, p.sign, qty, margin_available, tier.mmr)
        if price is None or h.tiers.tier_for(qty * price) is not tier:
            return None
        return price

    def isolated_liquidation_price(self, h: Holding, margin: Decimal, fees: Fees) -> Decimal | None:
        available = margin + holding_pnl(h) - holding_maintenance(h)
        price = self._literal(h, available)
        return price if price is not None else super().isolated_liquidation_price(h, margin, fees)

    def cross_liquidation_price(
        self, wallet: Decimal, holdings: Sequence[Holding], symbol: str, fees: Fees
    ) -> Decimal | None:
        mine = _mine(holdings, symbol)
        if len(mine) == 1:
            account_value = wallet + sum((holding_pnl(h) for h in holdings), ZERO)
            available = account_value - sum((holding_maintenance(h) for h in holdings), ZERO)
            price = self._literal(mine[0], available)
            if price is not None:
                return price
        return super().cross_liquidation_price(wallet, holdings, symbol, fees)


@dataclass(frozen=True)
class DydxRule(GenericRule):
    """dYdX v4: ``p' = (e − s·p − MMR_o) / (|s|·MMF − s)`` (v4 docs liquidations.mdx; docs/venues.md §8)."""

    name: str = "dydx"

    def _price(self, h: Holding, equity: Decimal, other_mmr: Decimal) -> Decimal | None:
        p, inst = h.position, h.instrument
        if inst.kind is not ContractKind.LINEAR or len(h.tiers.tiers) != 1:
            return None
        signed = p.sign * quantity(inst, p.size)
        return dydx_liquidation_price(equity, signed, h.mark, h.tiers.tiers[0].mmr, other_mmr)

    def isolated_liquidation_price(self, h: Holding, margin: Decimal, fees: Fees) -> Decimal | None:
        price = self._price(h, margin + holding_pnl(h), ZERO)
        return price if price is not None else super().isolated_liquidation_price(h, margin, fees)

    def cross_liquidation_price(
        self, wallet: Decimal, holdings: Sequence[Holding], symbol: str, fees: Fees
    ) -> Decimal | None:
        mine = _mine(holdings, symbol)
        if len(mine) == 1:
            equity = wallet + sum((holding_pnl(h) for h in holdings), ZERO)
            other = sum((holding_maintenance(h) for h in _others(holdings, symbol)), ZERO)
            price = self._price(mine[0], equity, other)
            if price is not None:
                return price
        return super().cross_liquidation_price(wallet, holdings, symbol, fees)


@dataclass(frozen=True)
class BitunixRule(GenericRule):
    """Bitunix: MM = open price × size × MMR (fixed at entry), est. liquidation fee deducted (docs/venues.md §6)."""

    name: str = "bitunix"

    def batch_form(self) -> int:
        return FORM_BITUNIX

    def has_fee_term(self, kind: ContractKind, mode: MarginMode) -> bool:
        return True

    def _fee(self, h: Holding, fees: Fees) -> Decimal:
        return holding_notional(h, h.position.entry_price) * fees.taker

    def requirement(self, h: Holding, fees: Fees, price: Decimal | None = None) -> Decimal:
        open_value = holding_notional(h, h.position.entry_price)
        tier = h.tiers.tier_for(open_value)
        return bitunix_maintenance_margin(open_value, tier.mmr)

    def constant_requirement(self, h: Holding, fees: Fees) -> Decimal:
        return self._fee(h, fees)

    def isolated_liquidation_price(self, h: Holding, margin: Decimal, fees: Fees) -> Decimal | None:
        p, inst = h.position, h.instrument
        return bitunix_liquidation_price(
            inst.kind,
            p.sign,
            quantity(inst, p.size),
            p.entry_price,
            margin,
            self.requirement(h, fees),
            self._fee(h, fees),
        )

    def cross_liquidation_price(
        self, wallet: Decimal, holdings: Sequence[Holding], symbol: str, fees: Fees
    ) -> Decimal | None:
        """Total cross margin (after estimated fees) allocated by MM; the symbol's legs share its part."""
        total = wallet + sum((holding_pnl(h) - self._fee(h, fees) for h in holdings), ZERO)
        mms = [self.requirement(h, fees) for h in holdings]
        shares = allocate_cross_margin(total, mms)
        for h, share in zip(holdings, shares, strict=True):
            if h.position.symbol == symbol:
                # The allocated share is the position's margin balance at the mark; as an isolated margin
                # measured from entry it is the share less the PnL already in it (plus the fee added back,
                # since the isolated formula deducts it again).
                return self.isolated_liquidation_price(h, share - holding_pnl(h) + self._fee(h, fees), fees)
        return None


__all__ = [
    "BinanceRule",
    "BitunixRule",
    "BybitRule",
    "DydxRule",
    "Fees",
    "GenericRule",
    "HyperliquidRule",
    "OkxRule",
]
