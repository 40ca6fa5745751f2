"""Write calculator results out in ccxt's unified ``Position`` structure.

ccxt (docs.ccxt.com "Position Structure") uses plain numbers; we give floats for interoperability —
the exact values stay in the calculator's own result. ``collateral`` is ccxt's "the maximum amount of
collateral that can be lost, affected by pnl": the isolated margin plus PnL, or the cross account's
equity; ``marginRatio`` is ``maintenanceMargin / collateral`` as ccxt computes it for Binance.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from margincall.calculator.evaluate import CalcResult
from margincall.calculator.scenario import Scenario


def _f(d: Decimal | None) -> float | None:
    return None if d is None else float(d)


def to_ccxt_positions(scenario: Scenario, result: CalcResult) -> list[dict[str, Any]]:
    """One ccxt ``Position`` dict per position, in input order."""
    out: list[dict[str, Any]] = []
    for p_in, p in zip(scenario.positions, result.positions, strict=True):
        collateral = p.position_margin + p.unrealized_pnl if p.position_margin is not None else result.account.equity
        ratio = p.maintenance_margin / collateral if collateral > 0 else None
        mark = p_in.mark_price if p_in.mark_price is not None else p_in.entry_price
        out.append(
            {
                "info": {"venue": result.venue},
                "id": None,
                "symbol": p.symbol,
                "timestamp": None,
                "datetime": None,
                "isolated": p.margin_mode == "isolated",
                "hedged": p_in.position_side != "both",
                "side": p.side,
                "contracts": _f(p_in.size),
                "contractSize": None,
                "entryPrice": _f(p_in.entry_price),
                "markPrice": _f(mark),
                "lastPrice": None,
                "notional": _f(p.notional),
                "leverage": _f(p_in.leverage),
                "collateral": _f(collateral),
                "initialMargin": _f(p.initial_margin),
                "initialMarginPercentage": _f(1 / p_in.leverage),
                "maintenanceMargin": _f(p.maintenance_margin),
                "maintenanceMarginPercentage": _f(p.maintenance_margin / p.notional),
                "unrealizedPnl": _f(p.unrealized_pnl),
                "realizedPnl": None,
                "liquidationPrice": _f(p.liquidation_price),
                "marginMode": p.margin_mode,
                "marginRatio": _f(ratio),
                "percentage": _f(p.unrealized_pnl / p.initial_margin * 100) if p.initial_margin else None,
                "stopLossPrice": None,
                "takeProfitPrice": None,
            }
        )
    return out
