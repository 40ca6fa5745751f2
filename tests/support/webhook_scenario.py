"""A market where marks make margin calls, for the webhook tests (through any ``httpx.Client``: a TestClient or a
real server).

Generic venue, one tier at MMR 2 %, no trading fees, a 1 % liquidation fee. Accounts ``t1`` and ``t2`` deposit
1,000 USDT each and buy 1 BTC at 10,000 at 10x; ``mm`` (100,000 USDT) sells them 2 BTC. For t1 and t2,
equity = 1,000 + (P − 10,000) = P − 9,000 and MM = 0.02·P, so with the default bands (warning at MM/equity ≥ 80 %,
back to healthy below 75 %):

* at P = 10,000: 200 / 1,000 = 20 % — healthy;
* at P = 9,220: 184.4 / 220 = 83.8 % — a ``margin_call`` to ``warning`` for t1 and for t2;
* back at 10,000: 20 % < 75 % — a ``margin_call`` back to ``healthy`` for each;
* at P = 9,180 ≤ 9,000 / 0.98 = 9,183.67: both are liquidated.

mm stays healthy throughout (short 2 BTC: it gains as the price falls; at 10,000 equity 100,000, MM 400).
So every round trip 10,000 → 9,220 → 10,000 makes exactly four margin calls: t1 and t2 to warning, then back.
"""

from __future__ import annotations

from typing import Any

import httpx

from support.api import FLAT_2PCT, auth, ok

MARKET = {"venue": "generic", "symbol": "BTCUSDT", "maker_fee": "0", "taker_fee": "0", "liquidation_fee": "0.01",
          "tiers": FLAT_2PCT}
HIGH, LOW, LIQUIDATING = "10000", "9220", "9180"

__all__ = ["HIGH", "LIQUIDATING", "LOW", "MARKET", "auth", "mark", "ok", "seed"]


def seed(c: httpx.Client, admin: str) -> dict[str, str]:
    """The market and accounts above, marked at 10,000; returns API keys: admin, trader_t1, trader_t2, viewer,
    feeder."""
    h = auth(admin)
    ok(c.post("/v1/markets", json={**MARKET, "key": "seed-market"}, headers=h))
    for acct, usdt in (("t1", "1000"), ("t2", "1000"), ("mm", "100000")):
        ok(c.post("/v1/accounts", json={"account": acct, "key": f"seed-open-{acct}"}, headers=h))
        ok(c.post(f"/v1/accounts/{acct}/deposits", json={"asset": "USDT", "amount": usdt, "key": f"seed-dep-{acct}"},
                  headers=h))
    for acct in ("t1", "t2"):
        ok(c.post(f"/v1/accounts/{acct}/leverage", json={"symbol": "BTCUSDT", "leverage": "10",
                                                         "key": f"seed-lev-{acct}"}, headers=h))
    fills = [{"account": a, "symbol": "BTCUSDT", "side": "buy", "size": "1", "price": "10000", "key": f"seed-{a}"}
             for a in ("t1", "t2")]
    fills.append({"account": "mm", "symbol": "BTCUSDT", "side": "sell", "size": "2", "price": "10000",
                  "key": "seed-mm"})
    res = ok(c.post("/v1/fills", json={"fills": fills}, headers=h))
    assert all("seq" in r for r in res["results"]), res
    mark(c, admin, HIGH)
    keys = {"admin": admin}
    for name, body in (("trader_t1", {"role": "trader", "account": "t1"}),
                       ("trader_t2", {"role": "trader", "account": "t2"}),
                       ("viewer", {"role": "viewer"}), ("feeder", {"role": "feeder"})):
        keys[name] = ok(c.post("/v1/keys", json=body, headers=h))["key"]
    return keys


def mark(c: httpx.Client, key: str, price: str) -> list[dict[str, Any]]:
    """Post one BTCUSDT mark; the events it caused."""
    res = ok(c.post("/v1/marks", json={"marks": [{"symbol": "BTCUSDT", "price": price}]}, headers=auth(key)))
    caused: list[dict[str, Any]] = res["results"][0]["caused"]
    return caused
