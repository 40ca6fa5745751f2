"""Reads are rate limited per API key, at the rate of the key's role, weighted by what a read costs: a status
read 1 token, an events page 5, a calculator call 10 (the defaults of ``config.ReadLimits``). A read the
bucket cannot pay is refused with 429 and ``Retry-After`` and counted in ``/metrics``; reads and ingestion
draw on separate buckets."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from margincall.api import create_app
from margincall.api.keys import Role
from margincall.api.ratelimit import TokenBuckets
from margincall.config import ReadLimits, Settings
from support.api import auth, ok

SCENARIO = {"venue": "binance-usdm", "wallet_balance": "1000", "positions": [
    {"symbol": "BTCUSDT", "side": "long", "size": "0.1", "entry_price": "50000", "leverage": "10"}]}


@pytest.fixture
def api(tmp_path: Path) -> Iterator[tuple[TestClient, Any, dict[str, str]]]:
    app = create_app(Settings.load(database=str(tmp_path / "engine.db")))
    with TestClient(app) as c:
        h = auth(app.state.admin_key)
        ok(c.post("/v1/markets", json={"venue": "generic", "symbol": "BTCUSDT",
                                       "tiers": [{"floor": "0", "mmr": "0.02", "max_leverage": "50"}]}, headers=h))
        ok(c.post("/v1/accounts", json={"account": "t"}, headers=h))
        keys = {"admin": app.state.admin_key}
        for name, body in (("viewer", {"role": "viewer"}), ("viewer2", {"role": "viewer"}),
                           ("trader", {"role": "trader", "account": "t"})):
            keys[name] = ok(c.post("/v1/keys", json=body, headers=h))["key"]
        yield c, app.state.service, keys


def frozen(rate: float, burst: int) -> TokenBuckets:
    """A role's buckets with time standing still: what is taken is not given back during the test."""
    return TokenBuckets(rate, burst, clock=lambda: 100.0)


def test_each_role_reads_at_its_configured_rate(tmp_path: Path):
    limits = ReadLimits(viewer_per_second=2, viewer_burst=7, trader_per_second=9, trader_burst=30)
    app = create_app(Settings.load(database=str(tmp_path / "engine.db"), read_limits=limits))
    buckets = app.state.service.read_limits
    assert (buckets[Role.VIEWER].rate, buckets[Role.VIEWER].burst) == (2, 7)
    assert (buckets[Role.TRADER].rate, buckets[Role.TRADER].burst) == (9, 30)
    assert (buckets[Role.ADMIN].rate, buckets[Role.ADMIN].burst) == ReadLimits().of("admin")
    app.state.service.close()
    defaults = ReadLimits()
    # the viewer's default rate is the lowest, the admin's the highest
    rates = {r: defaults.of(r)[0] for r in ("admin", "feeder", "trader", "viewer")}
    assert min(rates, key=rates.__getitem__) == "viewer" and max(rates, key=rates.__getitem__) == "admin"
    assert defaults.status_cost < defaults.events_cost < defaults.calculator_cost


def test_read_limits_from_the_environment(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("MARGINCALL_READ_LIMITS__VIEWER_PER_SECOND", "3")
    monkeypatch.setenv("MARGINCALL_READ_LIMITS__EVENTS_COST", "8")
    settings = Settings.load(database=":memory:")
    assert settings.read_limits.of("viewer") == (3, ReadLimits().viewer_burst)
    assert settings.read_limits.events_cost == 8 and settings.read_limits.of("trader") == ReadLimits().of("trader")


def test_reads_are_charged_by_cost_and_refused_with_retry_after(api):
    c, service, keys = api
    service.read_limits[Role.VIEWER] = frozen(0.5, 12)
    v = auth(keys["viewer"])
    ok(c.get("/v1/events", headers=v))  # 5 of 12 tokens
    ok(c.get("/v1/events", headers=v))  # 10
    r = c.get("/v1/events", headers=v)  # needs 5, holds 2: (5 − 2) / 0.5 = 6 s
    assert r.status_code == 429 and r.headers["Retry-After"] == "6"
    assert r.json()["error"]["code"] == "rate_limited" and "viewer" in r.json()["error"]["message"]
    r = c.post("/v1/calculator", json=SCENARIO, headers=v)  # needs 10, holds 2: 8 / 0.5 = 16 s
    assert r.status_code == 429 and r.headers["Retry-After"] == "16"
    ok(c.get("/v1/markets", headers=v))  # a status read costs 1: 2 → 1
    ok(c.get("/v1/risk/summary", headers=v))  # 1 → 0
    r = c.get("/v1/insurance-fund", headers=v)  # 1 / 0.5 = 2 s
    assert r.status_code == 429 and r.headers["Retry-After"] == "2"
    metrics = c.get("/metrics").text
    assert 'margincall_read_rate_limited_total{role="viewer"} 3.0' in metrics


def test_buckets_are_per_key_and_per_role_and_apart_from_ingestion(api):
    c, service, keys = api
    service.read_limits[Role.VIEWER] = frozen(1, 5)
    service.read_limits[Role.ADMIN] = frozen(1, 5)
    ok(c.get("/v1/events", headers=auth(keys["viewer"])))
    assert c.get("/v1/markets", headers=auth(keys["viewer"])).status_code == 429
    ok(c.get("/v1/markets", headers=auth(keys["viewer2"])))  # another viewer key: its own bucket
    ok(c.get("/v1/events", headers=auth(keys["trader"])))  # the trader role: its own rate
    ok(c.post("/v1/calculator", json=SCENARIO, headers=auth(keys["trader"])))
    admin = auth(keys["admin"])
    ok(c.get("/v1/events", headers=admin))
    assert c.get("/v1/events", headers=admin).status_code == 429
    # ingestion draws on the ingestion bucket: refused reads do not stop the admin writing
    ok(c.post("/v1/accounts/t/deposits", json={"asset": "USDT", "amount": "10"}, headers=admin))
    metrics = c.get("/metrics").text
    assert 'margincall_read_rate_limited_total{role="admin"} 1.0' in metrics
    assert "margincall_rate_limited_total 0.0" in metrics


def test_a_forbidden_read_takes_no_tokens(api):
    c, service, keys = api
    service.read_limits[Role.VIEWER] = frozen(1, 3)
    v = auth(keys["viewer"])
    for _ in range(5):
        assert c.get("/v1/risk/accounts", headers=v).status_code == 403  # admins only
    for _ in range(3):
        ok(c.get("/v1/markets", headers=v))
    assert c.get("/v1/markets", headers=v).status_code == 429
