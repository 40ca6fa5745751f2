"""Initial margin, tiered maintenance margin and margin ratios.

* IM = notional / leverage (Binance, Bybit "IM = position value ÷ leverage", Hyperliquid), docs/venues.md §2.1.
* MM, bracket tiers: ``N·MMR_n − cum_n`` with the tier chosen by the position's amount *at the price
  considered* (Binance "bracket consistency", §3.3); whole-position tiers (OKX, §2.2, §5): ``N·MMR_n``.
* ``fee_rate`` adds a liquidation-fee term proportional to notional: OKX's margin ratio divides by
  ``notional × (tier MMR + fee rate)`` (§5).
"""

from __future__ import annotations

from decimal import Decimal

from margincall.math.contracts import notional_of
from margincall.model.enums import ContractKind, TierBasis, TierMode
from margincall.model.numbers import ZERO
from margincall.model.tiers import Tier, TierTable


def initial_margin(position_notional: Decimal, leverage: Decimal) -> Decimal:
    """``IM = notional / leverage`` (docs/venues.md §2.1)."""
    return position_notional / leverage


def tier_amount(tiers: TierTable, kind: ContractKind, qty: Decimal, contract_size: Decimal, price: Decimal) -> Decimal:
    """The amount a tier table is keyed on: notional in the settle asset, or the number of contracts."""
    if tiers.basis is TierBasis.CONTRACTS:
        return qty / contract_size
    return notional_of(kind, qty, price)


def mm_for_notional(tiers: TierTable, tier: Tier, position_notional: Decimal, fee_rate: Decimal = ZERO) -> Decimal:
    """MM of a position of value ``position_notional`` in ``tier`` (the formula, tier already chosen)."""
    mm = position_notional * (tier.mmr + fee_rate)
    if tiers.mode is TierMode.BRACKET:
        mm -= tier.maintenance_amount
    return mm


def maintenance_margin(
    tiers: TierTable,
    kind: ContractKind,
    qty: Decimal,
    price: Decimal,
    contract_size: Decimal = Decimal(1),
    fee_rate: Decimal = ZERO,
) -> Decimal:
    """Maintenance margin at ``price``, the tier re-selected at that price.

    Binance USDⓈ-M: ``MM = |Q|·MP·MMR − cum``; COIN-M: ``|Q_usd|/MP·MMR − cum`` (docs/venues.md §3.2);
    Bybit ``position value × MMR − MMD`` (§4.1); Hyperliquid ``notional × MMR − deduction`` (§7);
    OKX whole-position ``notional × MMR_tier`` (§5).
    """
    n = notional_of(kind, qty, price)
    tier = tiers.tier_for(tier_amount(tiers, kind, qty, contract_size, price))
    return mm_for_notional(tiers, tier, n, fee_rate)


def margin_ratio_mm_over_equity(maintenance: Decimal, equity: Decimal) -> Decimal | None:
    """Binance/Bybit convention: ``MM / margin balance``; liquidation at ≥ 100 % (docs/venues.md §0, §3.2).

    ``None`` when equity ≤ 0: the ratio is undefined (infinite) and the account is liquidatable.
    """
    if equity <= 0:
        return None
    return maintenance / equity


def margin_ratio_equity_over_mm(equity: Decimal, maintenance: Decimal) -> Decimal | None:
    """OKX/Bitunix/dYdX convention: ``equity / MM``; liquidation at ≤ 100 % (docs/venues.md §0, §5).

    ``None`` when MM is 0 (no requirement: the ratio is unbounded).
    """
    if maintenance <= 0:
        return None
    return equity / maintenance
