"""``GET /v1/events`` pages through the log's indexes: following ``next_after`` while ``more`` returns exactly
the events a full scan of the log finds for the query and the role (the filter of :mod:`support.event_logs`,
written apart from the code), whatever the page size and the scan budget.

Scenario (generic venue, 2 % MMR, no fees, no slippage, an empty insurance fund): ``b`` deposits 1,000 and buys
1 BTC at 10,000 at 10x; ``s1`` sells it (5,000 deposited), ``s2`` sells 1 at 9,000. The mark gaps to 8,500:
``b``'s equity is 1,000 − 1,500 = −500 (bankrupt at 9,000) and the fund is empty, so a short is deleveraged at
9,000 (an ``adl`` event naming ``b`` as ``bankrupt_account``) and ``b``'s position closes in ``adl`` mode.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from margincall.api import create_app
from margincall.config import EngineSettings, ReadLimits, Settings
from support.api import auth, ok
from support.event_logs import expected

MARKET = {"venue": "generic", "maker_fee": "0", "taker_fee": "0", "liquidation_fee": "0.01",
          "tiers": [{"floor": "0", "mmr": "0.02", "max_leverage": "50"}]}


#: No read rate limit (these tests read page after page; tests/test_read_rate_limits.py pins the limits).
UNLIMITED = ReadLimits(admin_per_second=0, feeder_per_second=0, trader_per_second=0, viewer_per_second=0)


def start(tmp_path: Path, **kw: Any) -> tuple[TestClient, Any]:
    settings = Settings.load(database=str(tmp_path / "engine.db"), read_limits=UNLIMITED,
                             engine=EngineSettings(slippage=D(0), impact_per_million=D(0)), **kw)
    app = create_app(settings)
    return TestClient(app), app


def seed(c: httpx.Client, admin: str) -> dict[str, str]:
    h = auth(admin)
    ok(c.post("/v1/markets", json={**MARKET, "symbol": "BTCUSDT"}, headers=h))
    for acct, usdt in (("b", "1000"), ("s1", "5000"), ("s2", "5000")):
        ok(c.post("/v1/accounts", json={"account": acct}, headers=h))
        ok(c.post(f"/v1/accounts/{acct}/deposits", json={"asset": "USDT", "amount": usdt}, headers=h))
        ok(c.post(f"/v1/accounts/{acct}/leverage", json={"symbol": "BTCUSDT", "leverage": "10"}, headers=h))
    ok(c.post("/v1/fills", headers=h, json={"fills": [
        {"account": "b", "symbol": "BTCUSDT", "side": "buy", "size": "1", "price": "10000"},
        {"account": "s1", "symbol": "BTCUSDT", "side": "sell", "size": "1", "price": "10000"},
        {"account": "s2", "symbol": "BTCUSDT", "side": "buy", "size": "1", "price": "9000"},
        {"account": "s2", "symbol": "BTCUSDT", "side": "sell", "size": "2", "price": "9000"}]}))
    for price in ("10000", "9600", "8500"):
        ok(c.post("/v1/marks", json={"marks": [{"symbol": "BTCUSDT", "price": price}]}, headers=h))
    keys = {"admin": admin}
    for name, body in (("viewer", {"role": "viewer"}), ("b", {"role": "trader", "account": "b"}),
                       ("s1", {"role": "trader", "account": "s1"})):
        keys[name] = ok(c.post("/v1/keys", json=body, headers=h))["key"]
    return keys


@pytest.fixture
def api(tmp_path: Path) -> Iterator[tuple[TestClient, dict[str, str], list[Any]]]:
    c, app = start(tmp_path, events_scan_factor=2)
    with c:
        keys = seed(c, app.state.admin_key)
        yield c, keys, list(app.state.service.journal.log.read())


def follow(c: TestClient, key: str, limit: int, **params: Any) -> tuple[list[int], int]:
    """The seqs of every page of a query, and how many pages came back empty but with ``more``."""
    seqs, after, empty = [], 0, 0
    for _ in range(1000):
        page = ok(c.get("/v1/events", params={**params, "after": after, "limit": limit}, headers=auth(key)))
        got = [e["seq"] for e in page["events"]]
        assert len(got) <= limit and all(after < s <= page["next_after"] for s in got)
        seqs += got
        if not page["more"]:
            return seqs, empty
        empty += not got
        assert page["next_after"] > after
        after = page["next_after"]
    raise AssertionError("paging did not end")


QUERIES: list[dict[str, Any]] = [{}, {"type": "adl"}, {"type": "liquidation,adl"}, {"type": "insurance_fund"},
                                 {"type": "fill,insurance_fund"}, {"account": "b"}, {"account": "s2"},
                                 {"account": "b", "type": "adl"}, {"account": "s1", "type": "fill,adl"},
                                 {"since": 5, "until": 10**15}]


def query(params: dict[str, Any]) -> dict[str, Any]:
    """The query of ``params`` in the terms of :func:`support.event_logs.expected`."""
    q: dict[str, Any] = {k: params[k] for k in ("account", "since", "until") if k in params}
    if "type" in params:
        types = frozenset(params["type"].split(","))
        q["fund"] = "insurance_fund" in types
        q["types"] = types - {"insurance_fund"} or None
    return q


def test_the_scenario_deleverages_a_short_against_the_bankrupt_long(api):
    _c, _keys, log = api
    (adl,) = [e for e in log if e.type == "adl"]
    assert adl.payload["bankrupt_account"] == "b" and D(adl.payload["price"]) == 9000  # 10,000 − 1,000 / 1
    assert any(e.type == "liquidation" and e.payload["mode"] == "adl" for e in log)


@pytest.mark.parametrize("limit", [1, 2, 5, 100])
def test_admin_pages_hold_exactly_the_events_of_a_full_scan(api, limit):
    c, keys, log = api
    for params in QUERIES:
        seqs, _ = follow(c, keys["admin"], limit, **params)
        assert seqs == expected(log, **query(params)), params


@pytest.mark.parametrize("limit", [1, 3, 100])
def test_a_trader_pages_through_its_own_events_and_a_viewer_through_the_public_feed(api, limit):
    c, keys, log = api
    for who in ("b", "s1"):
        for params in ({}, {"type": "adl"}, {"type": "fill,liquidation"}):
            mine = expected(log, account=who, **query(params))
            # the bankrupt account's trader does not see whom it was deleveraged against
            mine = [s for s in mine if log[s - 1].payload.get("bankrupt_account") != who]
            assert follow(c, keys[who], limit, **params)[0] == mine, (who, params)
    public = expected(log, types=frozenset({"liquidation", "partial_liquidation", "adl"}))
    assert len(public) == 2  # the ADL of the short and the bankrupt long's close
    assert follow(c, keys["viewer"], limit)[0] == public
    assert follow(c, keys["viewer"], limit, type="adl")[0] == expected(log, types=frozenset({"adl"}))


def test_a_page_filtered_by_account_and_type_may_be_empty_while_the_cursor_moves_on(api):
    """With ``events_scan_factor`` 2, a page of 1 reads at most 2 of the account's events: ``b``'s ADL comes
    after its account's deposit, leverage, fill and liquidation events, so the first pages hold nothing."""
    c, keys, log = api
    seqs, empty = follow(c, keys["admin"], 1, account="b", type="adl")
    assert seqs == expected(log, account="b", types=frozenset({"adl"})) and len(seqs) == 1
    assert empty >= 2
    first = ok(c.get("/v1/events", params={"account": "b", "type": "adl", "limit": 1}, headers=auth(keys["admin"])))
    assert first["events"] == [] and first["more"] is True and first["next_after"] > 0


def test_an_exhausted_query_leaves_the_cursor_at_the_end_of_the_log(api):
    c, keys, log = api
    page = ok(c.get("/v1/events", params={"type": "adl"}, headers=auth(keys["admin"])))
    assert page["more"] is False and page["next_after"] == log[-1].seq
    until = ok(c.get("/v1/events", params={"until": log[3].ts, "limit": 1000}, headers=auth(keys["admin"])))
    last_in_time = max(e.seq for e in log if e.ts <= log[3].ts)
    assert until["more"] is False and until["next_after"] == last_in_time
    assert [e["seq"] for e in until["events"]] == list(range(1, last_in_time + 1))


def test_a_restarted_service_rebuilds_the_insurance_fund_history_from_the_fund_index(tmp_path):
    c, app = start(tmp_path)
    with c:
        h = auth(app.state.admin_key)
        admin = app.state.admin_key
        seed(c, admin)
        for amount in ("300", "200"):
            ok(c.post("/v1/insurance-fund/deposits", json={"asset": "USDT", "amount": amount}, headers=h))
        before = ok(c.get("/v1/insurance-fund", headers=h))
    c, app = start(tmp_path, admin_key=admin)
    with c:
        after = ok(c.get("/v1/insurance-fund", headers=auth(admin)))
    assert after == before
    assert [D(b) for _ts, b in after["history"]] == [300, 500] and D(after["balances"]["USDT"]) == 500
