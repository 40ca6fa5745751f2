"""``margincall demo``: the main job on an embedded default.

Until the risk engine and its service land (issues #4, #5), the demo walks the calculator through
the seed example and the venues' own published examples, so a newcomer sees exact numbers at once.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console

from margincall.calculator import calculate
from margincall.cli.calc import _render

DEMO_SCENARIOS: list[tuple[str, dict[str, Any]]] = [
    (
        "Seed: $1,000 at 10x = $10,000 BTC long, MMR 2 % → MM $200, liquidation after an $800 loss",
        {
            "venue": "generic",
            "instruments": {"BTCUSDT": {"mmr": "0.02"}},
            "positions": [
                {
                    "symbol": "BTCUSDT",
                    "side": "long",
                    "size": "1",
                    "entry_price": "10000",
                    "leverage": "10",
                    "margin_mode": "isolated",
                    "target_liquidation_price": "8000",
                }
            ],
        },
    ),
    (
        "Bybit USDT isolated long, 1 BTC @ 20,000, 50x (published: 19,700)",
        {
            "venue": "bybit-linear",
            "positions": [
                {
                    "symbol": "BTCUSDT",
                    "side": "long",
                    "size": "1",
                    "entry_price": "20000",
                    "leverage": "50",
                    "margin_mode": "isolated",
                }
            ],
        },
    ),
    (
        "Binance USDⓈ-M cross account, FAQ example (published BTCUSDT liquidation price: 26,316.89)",
        {
            "venue": "binance-usdm",
            "wallet_balance": "1535443.01",
            "instruments": {
                "BTCUSDT": {"tier_table": "2021", "tick_size": "0.01"},
                "ETHUSDT": {"tier_table": "2021", "tick_size": "0.01"},
            },
            "positions": [
                {
                    "symbol": "BTCUSDT",
                    "side": "long",
                    "size": "109.488",
                    "entry_price": "32481.98",
                    "mark_price": "31967.27",
                    "margin_mode": "cross",
                    "leverage": "20",
                },
                {
                    "symbol": "ETHUSDT",
                    "side": "long",
                    "size": "3683.979",
                    "entry_price": "1456.84",
                    "mark_price": "1335.18",
                    "margin_mode": "cross",
                    "leverage": "4",
                },
            ],
        },
    ),
]


def demo() -> None:
    """Show the calculator on the seed example and venues' published examples."""
    console = Console()
    for title, scenario in DEMO_SCENARIOS:
        console.rule(title)
        _render(calculate(scenario), console)
    console.print("\nTry: margincall calc --help · margincall venues")
