"""``GET /v1/liquidation-map``: the engine's book as a liquidation map, the fund drawn against the deficit, no
account ids for any role, bad parameters named, rate limited as an expensive read.

The seed scenario (tests/support/api.py): ``t`` is long 1 BTC at 10,000 with 1,000 USDT at 10x on the generic
venue (MMR 2 %), liquidated where 1,000 + (P − 10,000) = 0.02·P → P = 9,000 / 0.98 = 9,183.67…, bankrupt at
9,000; ``mm`` is short 1 BTC with 100,000 USDT: LP 110,000 / 1.02 = 107,843.1…, BP 110,000 (beyond ±20 %).
The insurance fund holds 500 USDT."""

from __future__ import annotations

import json
from decimal import Decimal as D
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from margincall.api import create_app
from margincall.api.liquidation_map import BookCache, BookRead
from margincall.config import ReadLimits, Settings
from support.api import auth, make_app, ok, seed


def test_map_of_the_seed_book(api: tuple[TestClient, dict[str, str]]) -> None:
    c, keys = api
    body = ok(c.get("/v1/liquidation-map?range=0.2&steps=2", headers=auth(keys["viewer"])))
    (btc,) = body["symbols"]  # ETHUSDT has no position
    assert btc["symbol"] == "BTCUSDT" and btc["positions"] == 2 and btc["insurance_fund"] == "500"
    assert btc["prices"] == ["8000", "9000", "10000", "11000", "12000"]
    # the long's LP 9,183.67… is ≥ 8,000 and 9,000: liquidated by −20 % and −10 %, at its LP's notional
    assert btc["long_count"] == [1, 1, 0, 0, 0] and btc["short_count"] == [0] * 5
    lp = D(btc["long_notional"][0])  # 1 BTC × LP
    assert abs(lp - D(9000) / D("0.98")) < D("0.01")
    (pos,) = ok(c.get("/v1/accounts/t/positions", headers=auth(keys["admin"])))["positions"]
    assert lp == D(pos["liquidation_price"])  # the same exact price the account's page shows
    # at 8,000 the long is 1,000 past its BP 9,000: deficit 1,000; the fund pays 500, 500 left to ADL
    assert btc["deficit"] == ["1000", "0", "0", "0", "0"]
    assert btc["fund_covers"][0] == "500" and btc["shortfall"][0] == "500"
    assert "\"t\"" not in json.dumps(body) and "\"mm\"" not in json.dumps(body)  # no account ids
    assert body["no_mark"] == []


def test_one_symbol_and_the_cache_follows_the_log(tmp_path: Path) -> None:
    app = make_app(tmp_path, liquidation_map_max_age_ms=0)
    with TestClient(app) as c:
        _follow_the_log(c, auth(seed(c, app.state.admin_key)["admin"]))


def _follow_the_log(c: TestClient, h: dict[str, str]) -> None:
    first = ok(c.get("/v1/liquidation-map?symbol=ETHUSDT", headers=h))
    assert first["symbols"] == [] and len(first["moves"]) == 61  # the default grid: ±30 % in 1 % steps
    again = ok(c.get("/v1/liquidation-map?range=0.1&steps=1", headers=h))
    assert again["seq"] == first["seq"]
    ok(c.post("/v1/marks", json={"marks": [{"symbol": "BTCUSDT", "price": "9500"}]}, headers=h))
    moved = ok(c.get("/v1/liquidation-map?range=0.1&steps=1", headers=h))
    assert moved["seq"] > first["seq"]
    # the mark is now 9,500: −10 % is 8,550, below the long's LP (still 9,183.67…: cross, nothing else moved)
    (btc,) = moved["symbols"]
    assert btc["mark"] == "9500" and btc["prices"] == ["8550", "9500", "10450"]
    assert btc["long_count"] == [1, 0, 0]


def test_the_book_is_read_once_per_seq_and_at_most_once_per_max_age() -> None:
    now = [0.0]
    seq = [5]
    reads: list[int] = []

    def read(fn: Any) -> Any:
        reads.append(seq[0])
        return BookRead(seq[0], (), {}, ())

    cache = BookCache(max_age=1.0, clock=lambda: now[0])
    assert cache.rows(read, lambda: seq[0]).seq == 5
    seq[0] = 6  # a new event, but the rows are younger than max_age: reused
    now[0] = 0.5
    assert cache.rows(read, lambda: seq[0]).seq == 5
    now[0] = 1.5  # older than max_age and the log moved: read again
    assert cache.rows(read, lambda: seq[0]).seq == 6
    now[0] = 9.0  # old, but the log has not moved: reused
    assert cache.rows(read, lambda: seq[0]).seq == 6
    assert reads == [5, 6]


def test_bad_parameters_are_named(api: tuple[TestClient, dict[str, str]]) -> None:
    c, keys = api
    h = auth(keys["admin"])
    for query, code, field in (("range=1.5", 422, "range"), ("range=0.0", 400, "range"), ("steps=0", 422, "steps"),
                               ("steps=101", 422, "steps")):
        r = c.get(f"/v1/liquidation-map?{query}", headers=h)
        assert r.status_code == code, (query, r.text)
        assert r.json()["error"]["field"] == field


def test_a_map_costs_map_cost_tokens(tmp_path: Path) -> None:
    # a viewer with a burst of 25 and no refill, a map costing 10: two maps, the third is refused with 429
    limits = ReadLimits(viewer_per_second=0.001, viewer_burst=25, map_cost=10)
    app = create_app(Settings.load(database=str(tmp_path / "engine.db"), read_limits=limits))
    with TestClient(app) as c:
        keys = seed(c, app.state.admin_key)
        h = auth(keys["viewer"])
        assert [c.get("/v1/liquidation-map", headers=h).status_code for _ in range(3)] == [200, 200, 429]
