"""The API tests' shared scenario (the README's seed example; see tests/test_api.py's docstring for the numbers):
settings without executor slippage, the keys by role, and small request helpers."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI

from margincall.api import create_app
from margincall.config import EngineSettings, Settings

FLAT_2PCT = [{"floor": "0", "mmr": "0.02", "max_leverage": "50"}]
MARKET = {"venue": "generic", "maker_fee": "0", "taker_fee": "0", "liquidation_fee": "0.01", "tiers": FLAT_2PCT}
NO_SLIP = EngineSettings(slippage=D(0), impact_per_million=D(0))


def settings(db: str, **kw: Any) -> Settings:
    return Settings.load(database=db, engine=NO_SLIP, **kw)


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def ok(r: httpx.Response) -> Any:
    assert r.status_code == 200, r.text
    return r.json()


def seed(c: httpx.Client, admin: str) -> dict[str, str]:
    """Markets, accounts t / mm / o, the fund, t's long; returns the keys by role name."""
    h = auth(admin)
    ok(c.post("/v1/markets", json={**MARKET, "symbol": "BTCUSDT"}, headers=h))
    ok(c.post("/v1/markets", json={**MARKET, "symbol": "ETHUSDT", "lot_size": "0.01"}, headers=h))
    for acct, usdt in (("t", "1000"), ("mm", "100000"), ("o", "5000")):
        ok(c.post("/v1/accounts", json={"account": acct}, headers=h))
        ok(c.post(f"/v1/accounts/{acct}/deposits", json={"asset": "USDT", "amount": usdt}, headers=h))
    ok(c.post("/v1/accounts/t/leverage", json={"symbol": "BTCUSDT", "leverage": "10"}, headers=h))
    ok(c.post("/v1/insurance-fund/deposits", json={"asset": "USDT", "amount": "500"}, headers=h))
    res = ok(c.post("/v1/fills", headers=h, json={"fills": [
        {"account": "t", "symbol": "BTCUSDT", "side": "buy", "size": "1", "price": "10000"},
        {"account": "mm", "symbol": "BTCUSDT", "side": "sell", "size": "1", "price": "10000"}]}))
    assert all("seq" in r for r in res["results"]), res
    ok(c.post("/v1/marks", json={"marks": [{"symbol": "BTCUSDT", "price": "10000"}]}, headers=h))
    keys = {"admin": admin}
    for name, body in (("feeder", {"role": "feeder"}), ("viewer", {"role": "viewer"}),
                       ("trader_own", {"role": "trader", "account": "o"}),
                       ("trader_other", {"role": "trader", "account": "t"})):
        keys[name] = ok(c.post("/v1/keys", json=body, headers=h))["key"]
    return keys


def make_app(tmp_path: Path, **kw: Any) -> FastAPI:
    return create_app(settings(str(tmp_path / "engine.db"), **kw))


def mark(c: httpx.Client, key: str, price: str, symbol: str = "BTCUSDT") -> dict[str, Any]:
    res: dict[str, Any] = ok(c.post("/v1/marks", json={"marks": [{"symbol": symbol, "price": price}]},
                                    headers=auth(key)))["results"][0]
    return res


@contextmanager
def running(database: str, **kw: Any) -> Iterator[tuple[str, Any]]:
    """``create_app`` served by uvicorn on 127.0.0.1, port 0 (the OS picks a free one); stopped afterwards."""
    app = create_app(settings(database, **kw))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"127.0.0.1:{port}", app
    finally:
        server.should_exit = True
        thread.join(20)
        assert not thread.is_alive()
