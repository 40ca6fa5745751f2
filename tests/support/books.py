"""Books for tests: a mixed book of positions over every venue, isolated and cross, with accounts of several legs,
and the instruments file the venues without built-in markets need; and the expected row of a book, computed from
the account's scenario through ``calculate`` (what ``margincall calc --json`` prints) and rounded as the book
documents (prices at their tick as calc gives them; IM, MM up to 1e-8; the ratio to 1e-8 toward more risk; the
distance toward zero to 1e-4 %)."""

from __future__ import annotations

import random
from decimal import ROUND_CEILING, ROUND_DOWN, ROUND_FLOOR, Decimal
from typing import Any

from margincall.calculator import calculate
from margincall.model.errors import MarginCallError

COLUMNS = ["account", "venue", "symbol", "side", "size", "entry_price", "mark_price", "margin_mode", "leverage",
           "isolated_margin", "extra_margin", "wallet_balance"]  # fmt: skip

#: The instruments the venues without built-in markets need (the book's instruments file).
INSTRUMENTS: dict[str, Any] = {
    "venues": {
        "binance-coinm": {"BTCUSD_PERP": {"contract_size": "100", "tick_size": "0.1", "lot_size": "1",
                                          "settle_asset": "BTC", "mmr": "0.004", "max_leverage": "125"}},
        "bybit-inverse": {"BTCUSD": {"contract_size": "1", "tick_size": "0.5", "lot_size": "1",
                                     "settle_asset": "BTC", "mmr": "0.005", "max_leverage": "100"}},
        "bitunix": {"BTCUSDT": {"tick_size": "0.1", "tiers": [
            {"floor": "0", "cap": "200000", "mmr": "0.004", "max_leverage": "125"},
            {"floor": "200000", "cap": "2000000", "mmr": "0.01", "max_leverage": "50", "maintenance_amount": "1200"},
        ]}},
        "generic": {"BTCUSDT": {"tick_size": "0.1", "mmr": "0.005", "max_leverage": "100"}},
    }
}  # fmt: skip

#: (venue, symbol, price, linear) — a symbol built in or in INSTRUMENTS.
MARKETS = [
    ("binance-usdm", "BTCUSDT", 60000, True), ("binance-usdm", "ETHUSDT", 3000, True),
    ("binance-coinm", "BTCUSD_PERP", 60000, False), ("bybit-linear", "BTCUSDT", 60000, True),
    ("bybit-inverse", "BTCUSD", 60000, False), ("okx", "ETH-USDT-SWAP", 3000, True),
    ("hyperliquid", "BTC", 60000, True), ("hyperliquid", "ETH", 3000, True), ("hyperliquid", "SOL", 150, True),
    ("dydx", "BTC-USD", 60000, True), ("dydx", "ETH-USD", 3000, True), ("bitunix", "BTCUSDT", 60000, True),
    ("generic", "BTCUSDT", 60000, True),
]  # fmt: skip


def _row(rng: random.Random, account: str, venue: str, symbol: str, price: int, linear: bool, cross: bool,
         wallet: str) -> dict[str, str]:  # fmt: skip
    entry = Decimal(price) * Decimal(rng.randint(900, 1100)) / 1000
    mark = entry * Decimal(rng.randint(960, 1040)) / 1000
    if venue == "okx":
        size = str(rng.randint(1, 500))  # contracts of 0.1 ETH
    elif not linear:
        size = str(rng.randint(1, 200) * 100)  # USD contracts
    else:
        size = str((Decimal(rng.randint(1, 4000)) / Decimal(price)).quantize(Decimal("0.001")) + Decimal("0.001"))
    leverage = str(rng.choice([1, 2, 3, 5, 10]))
    row = dict.fromkeys(COLUMNS, "")
    row.update(account=account, venue=venue, symbol=symbol, side=rng.choice(["long", "short"]), size=size,
               entry_price=str(entry.quantize(Decimal("0.01"))), mark_price=str(mark.quantize(Decimal("0.01"))),
               margin_mode="cross" if cross else "isolated", leverage=leverage, wallet_balance=wallet)  # fmt: skip
    if not cross and rng.random() < 0.3:
        row["extra_margin"] = str(rng.randint(0, 50)) if linear else "0.0001"
    if rng.random() < 0.2:
        row["mark_price"] = ""
    return row


def mixed_book(accounts: int, seed: int = 7) -> list[dict[str, str]]:
    """Rows of ``accounts`` accounts, each on one venue with 1–4 legs (different symbols where the venue has
    them), cross or isolated legs mixed, grouped by account."""
    rng = random.Random(seed)
    rows: list[dict[str, str]] = []
    for a in range(accounts):
        venue = MARKETS[a % len(MARKETS)][0]
        symbols = [m for m in MARKETS if m[0] == venue]
        settle_btc = venue in ("binance-coinm", "bybit-inverse")
        wallet = str(Decimal(rng.randint(1, 300)) / 100) if settle_btc else str(rng.randint(500, 20000))
        for leg in range(rng.randint(1, 4)):
            _, symbol, price, linear = symbols[leg % len(symbols)]
            if leg >= len(symbols):
                break  # one leg per symbol (one-way mode)
            rows.append(_row(rng, f"acct{a}", venue, symbol, price, linear, rng.random() < 0.6, wallet))
    return rows


def scenario_of(rows: list[dict[str, str]]) -> dict[str, Any]:
    """The calc scenario of one account's rows (what the book means by them)."""
    venue = rows[0]["venue"]
    positions = []
    for r in rows:
        p = {k: r[k] for k in ("symbol", "side", "size", "entry_price", "mark_price", "margin_mode", "leverage",
                                "isolated_margin", "extra_margin") if r.get(k)}  # fmt: skip
        positions.append(p)
    scenario: dict[str, Any] = {"venue": venue, "positions": positions}
    wallets = {r["wallet_balance"] for r in rows if r.get("wallet_balance")}
    if wallets:
        scenario["wallet_balance"] = wallets.pop()
    own = INSTRUMENTS["venues"].get(venue, {})
    specs = {p["symbol"]: own[p["symbol"]] for p in positions if p["symbol"] in own}
    if specs:
        scenario["instruments"] = specs
    return scenario


def expected_rows(rows: list[dict[str, str]]) -> list[dict[str, str | None] | None]:
    """Each row's expected result columns (``None``: calc refuses the account's scenario)."""
    out: list[dict[str, str | None] | None] = []
    start = 0
    while start < len(rows):
        end = start
        while end < len(rows) and rows[end]["account"] == rows[start]["account"]:
            end += 1
        group = rows[start:end]
        try:
            result = calculate(scenario_of(group))
        except MarginCallError:
            out.extend([None] * len(group))
            start = end
            continue
        up = result["account"]["margin_ratio_convention"] == "mm_over_equity"
        for p in result["positions"]:
            out.append({
                "liquidation_price": p["liquidation_price"],
                "bankruptcy_price": p["bankruptcy_price"],
                "initial_margin": _q(p["initial_margin"], "1e-8", ROUND_CEILING),
                "maintenance_margin": _q(p["maintenance_margin"], "1e-8", ROUND_CEILING),
                "margin_ratio": _q(p["margin_ratio"], "1e-8", ROUND_CEILING if up else ROUND_FLOOR),
                "distance_to_liquidation": _q(p["distance_to_liquidation_pct"], "1e-4", ROUND_DOWN),
            })  # fmt: skip
        start = end
    return out


def _q(value: str | None, unit: str, rounding: str) -> str | None:
    return None if value is None else str(Decimal(value).quantize(Decimal(unit), rounding))


def same(a: str | None, b: str | None) -> bool:
    """Two decimal texts that are the same number (``None`` only equal to ``None``)."""
    return (a is None and b is None) or (a is not None and b is not None and Decimal(a) == Decimal(b))
