"""Random streams of ledger events (every fast path and its fallbacks) for the ledger's differential tests."""

from __future__ import annotations

import random
from typing import Any

SYMBOLS = {"BTCUSDT": (60000, 1, ("0.001", "0.01", "0.5", "2")), "ETHUSDT": (3000, 2, ("0.01", "0.1", "3")),
           "BTCUSD_PERP": (60000, 1, ("1", "3", "10"))}
ACCOUNTS = ("a1", "a2", "h1", "h2")  # h*: hedge mode
#: an inverse market (contracts of 100 USD, settled in BTC)
INVERSE = {"venue": "generic", "symbol": "BTCUSD_PERP", "kind": "inverse", "contract_size": "100",
           "lot_size": "1", "settle_asset": "BTC", "tick_size": "0.1",
           "tiers": [{"floor": "0", "cap": "50", "mmr": "0.005", "max_leverage": "100"},
                     {"floor": "50", "cap": None, "mmr": "0.01", "max_leverage": "50"}]}


def random_stream(seed: int, n: int) -> list[tuple[str, dict[str, Any]]]:
    """Listings, accounts and deposits, then ``n`` random events of every kind (many of them refused)."""
    r = random.Random(seed)
    events: list[tuple[str, dict[str, Any]]] = [
        ("market_listed", {"venue": "binance-usdm", "symbol": "BTCUSDT"}),
        ("market_listed", {"venue": "binance-usdm", "symbol": "ETHUSDT"}),
        ("market_listed", INVERSE),
    ]
    for a in ACCOUNTS:
        events.append(("account_opened", {"account": a, "position_mode": "hedge" if a[0] == "h" else "one_way"}))
        events.append(("deposit", {"account": a, "asset": "USDT", "amount": r.choice(["1000", "50000", "2500.5"])}))
        events.append(("deposit", {"account": a, "asset": "BTC", "amount": r.choice(["1", "0.5"])}))

    def price(symbol: str, spread: float) -> str:
        base, digits, _ = SYMBOLS[symbol]
        text = f"{base * (1 + r.uniform(-spread, spread)):.{digits}f}"
        if r.random() < 0.06:
            return r.choice([" " + text, f"{float(text):e}", "-" + text, "0", "abc", "1e-30", "NaN"])
        return text

    for i in range(n):
        a, s, k = r.choice(ACCOUNTS), r.choice(list(SYMBOLS)), r.random()
        leg = {"position_side": r.choice(["long", "short"])} if a[0] == "h" else {}
        if k < 0.55:
            p: dict[str, Any] = {"account": a, "symbol": s, "side": r.choice(["buy", "sell"]),
                                 "size": r.choice(SYMBOLS[s][2]), "price": price(s, 0.05), **leg}
            if r.random() < 0.4:
                p["liquidity"] = r.choice(["maker", "taker", "bogus"])
            if r.random() < 0.1:
                p["reduce_only"] = r.choice([True, False, "yes"])
            if r.random() < 0.04:
                p["size"] = r.choice([1, "0.0001", "-1", "1e2", "0.01000"])
            events.append(("fill", p))
        elif k < 0.7:
            events.append(("mark", {"symbol": s, "price": price(s, 0.1)}))
        elif k < 0.75:
            events.append(("funding", {"symbol": s, "rate": r.choice(["0.0001", "-0.0003", "0.001"])}))
        elif k < 0.8:
            events.append(("leverage_set", {"account": a, "symbol": s, "leverage": r.choice(["5", "10", "20", "125"]),
                                            "margin_mode": r.choice(["cross", "isolated"])}))
        elif k < 0.85:
            events.append(("withdrawal", {"account": a, "asset": r.choice(["USDT", "BTC"]),
                                          "amount": r.choice(["10", "100", "0.01"])}))
        elif k < 0.88:
            events.append(("transfer", {"from": a, "to": r.choice(ACCOUNTS), "asset": "USDT", "amount": "5"}))
        elif k < 0.94:
            kind = r.choice(["margin_added", "margin_removed"])
            events.append((kind, {"account": a, "symbol": s, "amount": r.choice(["5", "10"]), **leg}))
        elif k < 0.97:
            events.append(("order_margin_reserved", {"account": a, "order_id": f"o{i % 7}", "asset": "USDT",
                                                     "amount": "20"}))
        else:
            events.append(("order_margin_released", {"account": a, "order_id": f"o{i % 7}"}))
    return events
