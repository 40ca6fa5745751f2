"""The arithmetic of the liquidation waterfall: pure functions, each amount rounded once, in the venue's favour.

The risk engine (:mod:`margincall.risk.waterfall`) orders the steps; this module holds their formulas
(docs/venues.md §3.5 bankruptcy price, §3.8 liquidation process and clearance fee, §12.5 the waterfall):

* :func:`bankruptcy_prices_sharing_equity_pro_rata_to_notional` — the price each position of a watch closes at so
  that the watch's equity is exactly zero (the ADL price).
* :func:`partial_step_cost_fee_plus_slippage` — what one partial step takes from the equity.
* :func:`nominal_liquidation_fee` / :func:`liquidation_fee_rounded_up` — the clearance fee on the closed amount.
* :func:`takeover_fund_result_after_closing_at_fills` — what the insurance fund is left with by a takeover.
* :func:`liquidation_fee_of_closes` — the fee of a watch closed in full, rounded up once.
* :func:`market_fill_price` — where the default executor's liquidation order fills.
* :func:`socialized_loss_shares_pro_rata_to_profit` — the last resort: the loss charged to profitable accounts.

Notation as in :mod:`margincall.math.contracts`: ``qty`` is ``|size| × contract_size``; ``sign`` +1 long, −1 short.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, Context, Decimal, localcontext

from margincall.math.contracts import notional_of, pnl_of, price_after_pnl
from margincall.model.enums import ContractKind
from margincall.model.numbers import ONE, ZERO

#: Computed prices carried in events (bankruptcy prices, the executor's fills) keep 10 decimals; the dust this
#: leaves in PnL is settled with the insurance fund at the bankruptcy settlement.
PRICE_QUANTUM = Decimal("1e-10")

#: The context a computed price, and a sum the waterfall compares or rounds, is formed in: 60 digits, so that
#: within the core's ranges (quantities and amounts of at most 19 digits) nothing is rounded before the one
#: rounding the rule names — a quotient that does not end is never within 10^-50 of a 10-decimal tie, and one that
#: ends is exact — and the value is the exact value rounded once (what the core's integer twins compute,
#: ``margincall.core.prices`` and ``margincall.core.takeover``).
EXACT_CONTEXT = Context(prec=60)
#: The most a market executor's fill moves from the mark (``market_fill_price``).
MAX_FILL_MOVE = Decimal("0.5")

#: How far past the edge of positive prices a bankruptcy price is put when no positive price gives the share
#: (an inverse short cannot lose more than ``Q / P``; a linear long cannot lose more than ``Q·P``): the mark
#: divided (linear) or multiplied (inverse) by this.
_PAST_THE_EDGE = 1000


def price_in_event(price: Decimal) -> Decimal:
    """A computed price to 10 decimals (:data:`PRICE_QUANTUM`, half-even: a price is not an amount of money, and
    the PnL it makes is rounded where it is booked), trailing zeros dropped, never in exponent notation."""
    q = price.quantize(PRICE_QUANTUM).normalize()
    exponent = q.as_tuple().exponent
    return q.quantize(ONE) if isinstance(exponent, int) and exponent > 0 else q


@dataclass(frozen=True, slots=True)
class ClosingLeg:
    """One position of a watch being closed: its contract kind, direction, quantity ``Q`` and the mark."""

    kind: ContractKind
    sign: int
    qty: Decimal
    mark: Decimal


def bankruptcy_prices_sharing_equity_pro_rata_to_notional(legs: Sequence[ClosingLeg], equity: Decimal
                                                          ) -> list[Decimal]:
    """Per leg, the price at which it closes with the watch's equity exactly zero (docs/venues.md §3.5: "the
    price at which the position's margin is exactly used up"), for a watch of several positions.

    The equity ``E`` (a deficit when negative) is shared in proportion to the legs' notional at the mark,
    ``share_i = E × N_i / ΣN``, and leg ``i`` closes at the price ``P_i`` with ``pnl(P_i) = pnl(mark) − share_i``
    (:func:`~margincall.math.contracts.price_after_pnl`). With one leg this is the venue's bankruptcy price of
    that position, others fixed. A price past the edge of positive prices is put at ``mark / 1000`` (linear) or
    ``mark × 1000`` (inverse). Each price to 10 decimals (:func:`price_in_event`)."""
    out: list[Decimal] = []
    with localcontext(EXACT_CONTEXT):
        notionals = [notional_of(leg.kind, leg.qty, leg.mark) for leg in legs]
        total = sum(notionals, ZERO)
        for leg, n in zip(legs, notionals, strict=True):
            share = equity * n / total if total > 0 else ZERO
            price = price_after_pnl(leg.kind, leg.sign, leg.qty, leg.mark, -share)
            if price is None:
                price = leg.mark / _PAST_THE_EDGE if leg.kind is ContractKind.LINEAR else leg.mark * _PAST_THE_EDGE
            out.append(price_in_event(price))
    return out


def market_fill_price(sign: int, mark: Decimal, notional: Decimal, slippage: Decimal, impact_per_million: Decimal
                      ) -> Decimal:
    """Where a liquidation's market order fills (the default executor, ``risk.executor.MarketExecutor``): the
    mark moved against the closed side by ``move = slippage + impact_per_million × notional / 1,000,000`` (a
    linear impact model), at most :data:`MAX_FILL_MOVE`: ``mark × (1 − move)`` closing a long (a sell),
    ``mark × (1 + move)`` closing a short. Formed in :data:`EXACT_CONTEXT` and rounded once to 10 decimals
    (:func:`price_in_event`)."""
    with localcontext(EXACT_CONTEXT):
        move = min(slippage + impact_per_million * notional / Decimal(1_000_000), MAX_FILL_MOVE)
        return price_in_event(mark * (ONE - move) if sign > 0 else mark * (ONE + move))


def nominal_liquidation_fee(kind: ContractKind, qty: Decimal, price: Decimal, rate: Decimal) -> Decimal:
    """The clearance fee on an amount liquidated, unrounded: ``notional at the close price × rate`` (Binance §3.8
    "charged on the amount liquidated"; for inverse the notional is in coin, ``Q / P``)."""
    return notional_of(kind, qty, price) * rate


def liquidation_fee_rounded_up(nominal: Decimal, unit: Decimal) -> Decimal:
    """The liquidation fee the venue asks: the nominal fee (of every position closed, summed first) rounded up
    to the asset's smallest ``unit``, once — a fee is paid by the user, so in the venue's favour."""
    return nominal.quantize(unit, ROUND_CEILING)


def partial_step_cost_fee_plus_slippage(kind: ContractKind, sign: int, qty: Decimal, mark: Decimal, fill: Decimal,
                                        fee_rate: Decimal) -> Decimal:
    """What closing ``qty`` at ``fill`` instead of the mark takes from the watch's equity: the liquidation fee
    at the fill plus the slippage ``pnl(mark) − pnl(fill)`` (docs/venues.md §3.8: a partial step stops the
    liquidation when the account "is compliant after that order and its fee"). Unrounded: it is compared with
    the equity, never booked (the ledger books the step's fee and PnL, each rounded once)."""
    return nominal_liquidation_fee(kind, qty, fill, fee_rate) - pnl_of(kind, sign, qty, mark, fill)


def takeover_fund_result_after_closing_at_fills(equity: Decimal, legs: Sequence[ClosingLeg],
                                                fills: Sequence[Decimal]) -> Decimal:
    """What the watch's equity becomes when every leg is closed at its fill instead of the mark: ``E + Σ
    pnl(mark → fill)``. Positive, it is the surplus above bankruptcy the insurance fund takes over; negative, the
    deficit the fund pays (docs/venues.md §3.8: "a better fill goes to the insurance fund, a worse one is paid by
    it"). The fund can take the positions over when its balance plus this is not negative."""
    with localcontext(EXACT_CONTEXT):
        return equity + sum((pnl_of(leg.kind, leg.sign, leg.qty, leg.mark, fill)
                             for leg, fill in zip(legs, fills, strict=True)), ZERO)


def liquidation_fee_of_closes(legs: Sequence[ClosingLeg], fills: Sequence[Decimal], rates: Sequence[Decimal],
                              unit: Decimal) -> Decimal:
    """The liquidation fee of a watch closed in full: the nominal fees of its legs at their fills
    (:func:`nominal_liquidation_fee`), summed exactly (:data:`EXACT_CONTEXT`) and rounded up once to ``unit``
    (:func:`liquidation_fee_rounded_up`)."""
    with localcontext(EXACT_CONTEXT):
        nominal = sum((nominal_liquidation_fee(leg.kind, leg.qty, fill, rate)
                       for leg, fill, rate in zip(legs, fills, rates, strict=True)), ZERO)
        return liquidation_fee_rounded_up(nominal, unit)


def socialized_loss_shares_pro_rata_to_profit(loss: Decimal, profits: Mapping[str, Decimal],
                                              caps: Mapping[str, Decimal], unit: Decimal) -> list[tuple[str, Decimal]]:
    """The last resort (docs/venues.md §12.5, "socialization"): a loss no fund and no ADL counterparty covered is
    charged to the accounts in profit, ``loss × profit_a / Σ profit``, at most the account's ``caps[a]`` (what it
    can pay), each share rounded to ``unit`` once (half-even: a share is a part of a loss the venue already
    took, neither a fee nor the user's PnL). Accounts in name order; shares that round to zero are left out."""
    total = sum(profits.values(), ZERO)
    if total <= 0:
        return []
    out: list[tuple[str, Decimal]] = []
    for account in sorted(profits):
        amount = min(loss * profits[account] / total, caps[account]).quantize(unit)
        if amount > 0:
            out.append((account, amount))
    return out
