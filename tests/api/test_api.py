"""The HTTP/WebSocket API through httpx against the app (starlette's TestClient is an ``httpx.Client``).

Scenario (the README's seed example, computed by hand in tests/test_engine_scenarios.py): generic venue, one
tier at MMR 2 %, no trading fees, a 1 % liquidation fee, no executor slippage. Account ``t`` deposits 1,000
USDT and buys 1 BTC at 10,000 at 10x (IM 1,000); ``mm`` sells it. Equity = P − 9,000, MM = 0.02·P:
a margin call (warning) at MM/equity ≥ 80 % (P ≤ 9,230.77), liquidation at P ≤ 9,000 / 0.98 = 9,183.67.
At 9,180 the fund takes the position over: equity 180 goes to the insurance fund (91.80 fee + 88.20 surplus),
so the fund grows from 500 to 680. Account ``o`` (5,000 USDT, no position) is the trader asking questions.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from margincall.api.ratelimit import TokenBuckets
from margincall.config import Settings
from support.api import FLAT_2PCT, MARKET, NO_SLIP, auth, make_app, mark, ok, seed, settings  # noqa: F401

# -- the seed example end to end ----------------------------------------------------------------------------------


def test_positions_and_account_at_entry(api: tuple[TestClient, dict[str, str]]) -> None:
    c, keys = api
    (pos,) = ok(c.get("/v1/accounts/t/positions", headers=auth(keys["trader_other"])))["positions"]
    # 1 BTC at 10,000, mark 10,000: notional 10,000, IM 1,000 (10x), MM 2 % = 200, no PnL
    assert (pos["symbol"], pos["side"], D(pos["size"]), D(pos["entry_price"])) == ("BTCUSDT", "long", 1, 10000)
    assert D(pos["notional"]) == 10000 and D(pos["initial_margin"]) == 1000
    assert D(pos["maintenance_margin"]) == 200 and D(pos["unrealized_pnl"]) == 0
    # liquidation where 1000 + (P − 10000) = 0.02·P → 9,000 / 0.98; bankruptcy where equity = 0 → 9,000
    assert abs(D(pos["liquidation_price"]) - D(9000) / D("0.98")) < D("0.01")
    assert D(pos["bankruptcy_price"]) == 9000
    acct = ok(c.get("/v1/accounts/t", headers=auth(keys["admin"])))
    usdt = acct["assets"]["USDT"]
    # wallet 1,000, equity 1,000, MM 200 → ratio 0.2; available = 1,000 − IM 1,000 = 0
    assert D(usdt["wallet"]) == 1000 and D(usdt["equity"]) == 1000 and D(usdt["maintenance_margin"]) == 200
    assert D(usdt["margin_ratio"]) == D("0.2") and usdt["band"] == "healthy"
    assert D(usdt["available"]) == 0 and D(usdt["withdrawable"]) == 0


def test_margin_call_then_liquidation_moves_the_insurance_fund(api: tuple[TestClient, dict[str, str]]) -> None:
    c, keys = api
    feeder = keys["feeder"]
    assert mark(c, feeder, "9250")["caused"] == []  # 185 / 250 = 74 %: healthy
    (call,) = mark(c, feeder, "9220")["caused"]  # 184.4 / 220 = 83.8 %: warning
    assert call["type"] == "margin_call" and call["payload"]["band"] == "warning"
    assert D(call["payload"]["equity"]) == 220 and D(call["payload"]["maintenance_margin"]) == D("184.4")
    caused = mark(c, feeder, "9180")["caused"]
    assert [e["type"] for e in caused] == ["margin_call", "liquidation_started", "liquidation",
                                           "bankruptcy_settlement", "liquidation_finished", "margin_call"]
    settle = caused[3]["result"]
    assert D(settle["liquidation_fee"]) == D("91.80") and D(settle["surplus"]) == D("88.20")
    fund = ok(c.get("/v1/insurance-fund", headers=auth(keys["viewer"])))
    assert D(fund["balances"]["USDT"]) == 680  # 500 + 91.80 + 88.20
    assert [D(b) for _ts, b in fund["history"]] == [500, 680]  # one point per event: fee and surplus together
    assert ok(c.get("/v1/accounts/t/positions", headers=auth(keys["admin"])))["positions"] == []
    assert D(ok(c.get("/v1/accounts/t", headers=auth(keys["admin"])))["assets"]["USDT"]["wallet"]) == 0
    liqs = ok(c.get("/v1/events", params={"type": "liquidation"}, headers=auth(keys["admin"])))["events"]
    assert [(e["payload"]["account"], D(e["payload"]["close_price"])) for e in liqs] == [("t", 9180)]
    fund_events = ok(c.get("/v1/events", params={"type": "insurance_fund"}, headers=auth(keys["admin"])))
    assert [e["type"] for e in fund_events["events"]] == ["insurance_fund_deposit", "bankruptcy_settlement"]
    metrics = c.get("/metrics").text
    assert "margincall_liquidations_total 1.0" in metrics
    assert 'margincall_insurance_fund{asset="USDT"} 680.0' in metrics
    assert 'margincall_events_total{type="liquidation"} 1.0' in metrics
    assert "margincall_tick_latency_seconds_count 4.0" in metrics  # the seed's mark and these three
    assert "margincall_carried_work 0.0" in metrics


def test_risk_list_sorts_by_margin_ratio(api: tuple[TestClient, dict[str, str]]) -> None:
    c, keys = api
    mark(c, keys["feeder"], "9220")
    rows = ok(c.get("/v1/risk/accounts", params={"limit": 10}, headers=auth(keys["admin"])))["accounts"]
    # t: MM 184.4 / equity 220 = 0.838…; mm (short 1, wallet 100,000 + 780 PnL): 184.4 / 100,780
    assert [r["account"] for r in rows] == ["t", "mm"]
    assert abs(D(rows[0]["margin_ratio"]) - D("184.4") / 220) < D("1e-20") and rows[0]["band"] == "warning"
    summary = ok(c.get("/v1/risk/summary", headers=auth(keys["viewer"])))
    assert summary["bands"]["warning"] == 1 and summary["bands"]["healthy"] == 1 and summary["accounts"] == 3


# -- every endpoint × role -----------------------------------------------------------------------------------------

ROLES = ("none", "bad", "admin", "feeder", "trader_own", "trader_other", "viewer")
A, F, OWN, OTHER, V = "admin", "feeder", "trader_own", "trader_other", "viewer"
ALL = (A, F, OWN, OTHER, V)


def _endpoints() -> list[tuple[str, str, Any, tuple[str, ...]]]:
    """(method, path, body (role → body), roles answered 200); every other authenticated role gets 403, no
    key or an unknown key 401. The path's account ``o`` belongs to ``trader_own``."""
    fill = {"account": "mm", "symbol": "BTCUSDT", "side": "buy", "size": "0.001", "price": "10000"}
    calc = {"positions": [{"symbol": "BTCUSDT", "side": "long", "size": "1", "entry_price": "10000",
                           "leverage": "10", "margin_mode": "isolated"}], "instruments": {"BTCUSDT": {"mmr": "0.02"}}}
    return [
        ("POST", "/v1/keys", lambda r: {"role": "viewer"}, (A,)),
        ("POST", "/v1/markets", lambda r: {**MARKET, "symbol": f"X{r.upper().replace('_', '')}"}, (A,)),
        ("POST", "/v1/accounts", lambda r: {"account": f"new-{r}"}, (A,)),
        ("POST", "/v1/accounts/o/deposits", lambda r: {"asset": "USDT", "amount": "1"}, (A,)),
        ("POST", "/v1/accounts/o/withdrawals", lambda r: {"asset": "USDT", "amount": "1"}, (A, OWN)),
        ("POST", "/v1/accounts/o/leverage", lambda r: {"symbol": "ETHUSDT", "leverage": "5"}, (A, OWN)),
        ("POST", "/v1/insurance-fund/deposits", lambda r: {"asset": "USDT", "amount": "1"}, (A,)),
        ("POST", "/v1/fills", lambda r: {"fills": [fill]}, (A, F)),
        ("POST", "/v1/marks", lambda r: {"marks": [{"symbol": "ETHUSDT", "price": "2000"}]}, (A, F)),
        ("POST", "/v1/ticks", lambda r: {"marks": [{"symbol": "ETHUSDT", "price": "2000"}]}, (A, F)),
        ("POST", "/v1/prices/source", lambda r: {"ticks": [{"source": "okx", "symbol": "ETHUSDT", "price": "2000"}]},
         (A, F)),
        ("GET", "/v1/prices/index", None, ALL),
        ("GET", "/v1/markets", None, ALL),
        ("GET", "/v1/accounts/o", None, (A, OWN)),
        ("GET", "/v1/accounts/o/positions", None, (A, OWN)),
        ("GET", "/v1/risk/accounts", None, (A,)),
        ("GET", "/v1/risk/summary", None, ALL),
        ("POST", "/v1/calculator", lambda r: calc, ALL),
        ("GET", "/v1/insurance-fund", None, ALL),
        ("GET", "/v1/liquidation-map", None, ALL),
        ("GET", "/v1/events", None, (A, OWN, OTHER, V)),
        ("GET", "/v1/events?account=o", None, (A, OWN)),
    ]


def test_every_endpoint_for_every_role(api: tuple[TestClient, dict[str, str]]) -> None:
    c, keys = api
    keys = {**keys, "bad": "mc_000000000000_not-a-key"}
    seen = 0
    for method, path, body, allowed in _endpoints():
        for role in ROLES:
            headers = {} if role == "none" else auth(keys[role])
            r = c.request(method, path, headers=headers, json=body(role) if body else None)
            want = 401 if role in ("none", "bad") else 200 if role in allowed else 403
            assert r.status_code == want, (method, path, role, r.text)
            if want != 200:
                assert r.json()["error"]["code"] == ("unauthorized" if want == 401 else "forbidden")
            seen += 1
    assert seen == 22 * 7
    for path in ("/healthz", "/metrics"):  # open to all
        assert c.get(path).status_code == 200


def test_trader_never_sees_another_account(api: tuple[TestClient, dict[str, str]]) -> None:
    c, keys = api
    mark(c, keys["feeder"], "9180")  # t is liquidated: events about t exist now
    o = auth(keys["trader_own"])
    for path in ("/v1/accounts/t", "/v1/accounts/t/positions", "/v1/accounts/nobody", "/v1/accounts/nobody/positions"):
        r = c.get(path, headers=o)
        assert r.status_code == 403 and '"t"' not in r.text.replace('"field":"account"', "")
    r = c.post("/v1/accounts/t/withdrawals", json={"asset": "USDT", "amount": "1"}, headers=o)
    assert r.status_code == 403
    assert c.get("/v1/events", params={"account": "t"}, headers=o).status_code == 403
    own = ok(c.get("/v1/events", headers=o))["events"]
    assert own and all(e["payload"].get("account") == "o" for e in own)
    assert {e["type"] for e in own} == {"account_opened", "deposit"}
    theirs = ok(c.get("/v1/events", headers=auth(keys["trader_other"])))["events"]
    assert "liquidation" in {e["type"] for e in theirs}
    assert all("o" not in (e["payload"].get("account"), e["payload"].get("from"), e["payload"].get("to"))
               for e in theirs)


def test_viewer_gets_the_public_feed_without_account_ids(api: tuple[TestClient, dict[str, str]]) -> None:
    c, keys = api
    mark(c, keys["feeder"], "9180")
    v = auth(keys["viewer"])
    r = ok(c.get("/v1/events", headers=v))
    assert [e["type"] for e in r["events"]] == ["liquidation"]
    text = json.dumps(r)
    assert '"account"' not in text and "wallet:" not in text and '"key"' not in text
    assert c.get("/v1/events", params={"type": "margin_call"}, headers=v).status_code == 403
    assert c.get("/v1/events", params={"account": "t"}, headers=v).status_code == 403


# -- bad input ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("price", "why"), [
    ("NaN", "finite"), ("inf", "finite"), ("-1", "greater than zero"), ("0", "greater than zero"),
    ("1e19", "larger"), ("abc", "not a number"), (True, "decimal string"), (None, "decimal string"),
    ("1." + "0" * 18 + "1", "digits"),
])
def test_bad_mark_prices_are_422_naming_the_field(api: tuple[TestClient, dict[str, str]], price: Any,
                                                  why: str) -> None:
    c, keys = api
    before = ok(c.get("/healthz"))["seq"]
    r = c.post("/v1/marks", json={"marks": [{"symbol": "BTCUSDT", "price": "10000"}, {"symbol": "BTCUSDT",
                                                                                 "price": price}]},
               headers=auth(keys["feeder"]))
    assert r.status_code == 422, r.text
    err = r.json()["error"]
    assert err["code"] == "validation_error" and err["field"] == "marks.1.price" and why in err["message"]
    assert ok(c.get("/healthz"))["seq"] == before  # nothing of the batch was stored


def test_bad_requests(api: tuple[TestClient, dict[str, str]]) -> None:
    c, keys = api
    h = auth(keys["admin"])
    r = c.post("/v1/marks", content=b'{"marks": [', headers={**h, "content-type": "application/json"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "malformed_json"
    r = c.post("/v1/fills", json={"fills": [{"account": "t", "symbol": "BTCUSDT", "side": "hold", "size": "1",
                                             "price": "1"}]}, headers=h)
    assert r.status_code == 422 and r.json()["error"]["field"] == "fills.0.side"
    r = c.post("/v1/fills", json={"fills": []}, headers=h)
    assert r.status_code == 422 and r.json()["error"]["field"] == "fills"
    r = c.post("/v1/marks", json={"marks": [{"symbol": "BTCUSDT", "price": "1", "colour": "red"}]}, headers=h)
    assert r.status_code == 422 and r.json()["error"]["field"] == "marks.0.colour"
    # the engine's rejections: per item in a batch (the rest goes through; 207 and the counts say some were
    # refused), 400 for a single command
    r = c.post("/v1/marks", json={"marks": [{"symbol": "DOGEUSDT", "price": "1"},
                                            {"symbol": "ETHUSDT", "price": "2000"}]}, headers=h)
    assert r.status_code == 207 and (r.json()["accepted"], r.json()["refused"]) == (1, 1)
    res = r.json()["results"]
    assert res[0]["error"]["code"] == "unknown_symbol" and res[0]["error"]["field"] == "symbol"
    assert res[1]["type"] == "mark" and res[1]["seq"] > 0
    r = c.post("/v1/accounts", json={"account": "t"}, headers=h)
    assert r.status_code == 400 and r.json()["error"] == {"code": "duplicate", "field": "account",
                                                          "message": "account 't' already exists"}
    r = c.post("/v1/accounts/o/withdrawals", json={"asset": "USDT", "amount": "5000.01"}, headers=h)
    assert r.status_code == 400 and r.json()["error"]["code"] == "insufficient_balance"
    assert c.get("/v1/accounts/nobody", headers=h).status_code == 404
    assert c.get("/v1/nothing", headers=h).json()["error"]["code"] == "not_found"
    r = c.get("/v1/events", params={"type": "liquidaton"}, headers=h)
    assert r.status_code == 400 and r.json()["error"]["field"] == "type"
    r = c.post("/v1/keys", json={"role": "trader", "account": "nobody"}, headers=h)
    assert r.status_code == 404 and r.json()["error"]["field"] == "account"
    r = c.post("/v1/calculator", json={"positions": [{"symbol": "BTCUSDT", "side": "up"}]}, headers=h)
    assert r.status_code == 400 and r.json()["error"]["field"]


def test_idempotency_keys(api: tuple[TestClient, dict[str, str]]) -> None:
    c, keys = api
    h = auth(keys["admin"])
    first = ok(c.post("/v1/accounts/o/deposits", json={"asset": "USDT", "amount": "10", "key": "dep-1"}, headers=h))
    again = ok(c.post("/v1/accounts/o/deposits", json={"asset": "USDT", "amount": "10", "key": "dep-1"}, headers=h))
    assert again["duplicate"] is True and again["seq"] == first["seq"] and first["duplicate"] is False
    r = c.post("/v1/accounts/o/deposits", json={"asset": "USDT", "amount": "11", "key": "dep-1"}, headers=h)
    assert r.status_code == 409 and r.json()["error"]["code"] == "idempotency_conflict"
    assert D(ok(c.get("/v1/accounts/o", headers=h))["assets"]["USDT"]["wallet"]) == 5010


def test_rate_limit_answers_429_with_retry_after(tmp_path: Path) -> None:
    app = make_app(tmp_path, rate_limit_per_second=0.5, rate_limit_burst=3)
    service = app.state.service
    assert (service.limits.rate, service.limits.burst) == (0.5, 3)
    service.limits = TokenBuckets(1e9, 10**9)
    with TestClient(app) as c:
        keys = seed(c, app.state.admin_key)
        service.limits = TokenBuckets(0.5, 3, clock=lambda: 100.0)  # the settings' limits, time frozen
        body = {"marks": [{"symbol": "ETHUSDT", "price": "2000"}] * 3}
        ok(c.post("/v1/marks", json=body, headers=auth(keys["feeder"])))  # 3 items = the whole burst
        r = c.post("/v1/marks", json={"marks": [{"symbol": "ETHUSDT", "price": "2001"}]},
                   headers=auth(keys["feeder"]))
        # empty bucket, 0.5 token/s: one item needs 2 s
        assert r.status_code == 429 and r.headers["Retry-After"] == "2"
        assert r.json()["error"]["code"] == "rate_limited"
        assert c.get("/v1/markets", headers=auth(keys["feeder"])).status_code == 200  # reads: their own buckets


# -- WebSocket ------------------------------------------------------------------------------------------------------


def _until(ws: Any, type_: str, limit: int = 50) -> dict[str, Any]:
    for _ in range(limit):
        msg: dict[str, Any] = ws.receive_json()
        if msg.get("type") == type_:
            return msg
    raise AssertionError(f"no {type_} message")


def test_websocket_streams_the_liquidation_per_role(api: tuple[TestClient, dict[str, str]]) -> None:
    c, keys = api
    ticket = ok(c.post("/v1/stream/tickets", headers=auth(keys["viewer"])))["ticket"]
    with c.websocket_connect("/v1/stream?topics=liquidations", headers=auth(keys["admin"])) as admin_ws, \
            c.websocket_connect(f"/v1/stream?topics=liquidations&ticket={ticket}") as viewer_ws, \
            c.websocket_connect("/v1/stream?topics=marks,liquidations", headers={"X-API-Key": keys["trader_own"]}
                                ) as own_ws:
        for ws in (admin_ws, viewer_ws, own_ws):
            assert ws.receive_json()["topic"] == "hello"
        mark(c, keys["feeder"], "9180")
        liq = _until(admin_ws, "liquidation")
        assert liq["topic"] == "liquidations" and liq["payload"]["account"] == "t"
        assert D(liq["payload"]["close_price"]) == 9180 and D(liq["payload"]["size"]) == 1
        public = _until(viewer_ws, "liquidation")
        assert "account" not in public["payload"] and public["seq"] == liq["seq"] and "result" not in public
        # the trader of o gets the mark and nothing of t's liquidation: the next message is the next mark
        first = own_ws.receive_json()
        assert first["type"] == "mark" and D(first["payload"]["price"]) == 9180
        mark(c, keys["feeder"], "2000", "ETHUSDT")
        nxt = own_ws.receive_json()
        assert nxt["type"] == "mark" and nxt["payload"]["symbol"] == "ETHUSDT"


def test_websocket_refuses_bad_keys_and_topics(api: tuple[TestClient, dict[str, str]]) -> None:
    c, keys = api
    ticket = ok(c.post("/v1/stream/tickets", headers=auth(keys["viewer"])))["ticket"]
    used = ok(c.post("/v1/stream/tickets", headers=auth(keys["viewer"])))["ticket"]
    with c.websocket_connect(f"/v1/stream?topics=marks&ticket={used}") as ws:
        assert ws.receive_json()["topic"] == "hello"
    for url, key, code in (("/v1/stream?topics=margin_calls", keys["viewer"], 4403),
                           (f"/v1/stream?topics=margin_calls&ticket={ticket}", None, 4403),
                           ("/v1/stream?topics=liquidations", keys["feeder"], 4403),
                           ("/v1/stream?topics=marks", "nope", 4401), ("/v1/stream?topics=marks", None, 4401),
                           (f"/v1/stream?topics=marks&ticket={used}", None, 4401),  # single use
                           ("/v1/stream?topics=marks&ticket=forged", None, 4401),
                           # a valid key in the URL is refused: keys never travel in URLs
                           (f"/v1/stream?topics=marks&key={keys['admin']}", None, 4401),
                           ("/v1/stream?topics=gossip", keys["admin"], 4400)):
        with c.websocket_connect(url, headers=auth(key) if key else {}) as ws:
            assert "error" in ws.receive_json()
            with pytest.raises(WebSocketDisconnect) as exc:
                ws.receive_json()
            assert exc.value.code == code, url


# -- keys, restart, async client, config --------------------------------------------------------------------------


def test_keys_are_hashed_at_rest_and_survive_a_restart(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    admin = app.state.admin_key
    assert admin and app.state.service.admin_key_generated
    with TestClient(app) as c:
        keys = seed(c, admin)
    db = sqlite3.connect(tmp_path / "engine.db")
    rows = db.execute("SELECT id, salt, hash, role, account FROM api_keys").fetchall()
    db.close()
    assert len(rows) == 5 and {r[3] for r in rows} == {"admin", "feeder", "viewer", "trader"}
    stored = " ".join(map(str, rows))
    for key in keys.values():
        assert key not in stored and key.split("_", 2)[2] not in stored
    again = make_app(tmp_path)  # the same database: no new admin key, the old keys still work
    assert again.state.admin_key is None and not again.state.service.admin_key_generated
    with TestClient(again) as c:
        assert D(ok(c.get("/v1/accounts/t", headers=auth(admin)))["assets"]["USDT"]["wallet"]) == 1000
        assert ok(c.get("/v1/accounts/o", headers=auth(keys["trader_own"])))["account"] == "o"


def test_configured_admin_key(tmp_path: Path) -> None:
    app = make_app(tmp_path, admin_key="correct horse battery staple")
    assert app.state.admin_key == "correct horse battery staple" and not app.state.service.admin_key_generated
    with TestClient(app) as c:
        assert c.get("/v1/risk/accounts", headers=auth("correct horse battery staple")).status_code == 200
        assert c.get("/v1/risk/accounts", headers={"X-API-Key": "correct horse battery staple"}).status_code == 200
        assert c.get("/v1/risk/accounts", headers=auth("correct horse")).status_code == 401


def test_async_httpx_client_against_the_app(tmp_path: Path) -> None:
    app = make_app(tmp_path)

    async def run() -> list[int]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://margincall") as c:
            h = auth(app.state.admin_key)
            assert (await c.post("/v1/markets", json={**MARKET, "symbol": "BTCUSDT"}, headers=h)).status_code == 200
            # 20 concurrent requests go through the single writer: 20 distinct, gap-free sequence numbers
            rs = await asyncio.gather(*(c.post("/v1/marks", headers=h, json={"marks": [
                {"symbol": "BTCUSDT", "price": str(10000 + i)}]}) for i in range(20)))
            return sorted(r.json()["results"][0]["seq"] for r in rs)

    try:
        assert asyncio.run(run()) == list(range(2, 22))
    finally:
        app.state.service.close()


def test_settings_from_toml_then_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    toml = tmp_path / "margincall.toml"
    toml.write_text('database = "/tmp/from-toml.db"\nport = 9001\nhost = "0.0.0.0"\n'
                    "[engine]\nmax_steps_per_tick = 77\nlast_resort = \"socialize\"\n")
    monkeypatch.setenv("MARGINCALL_PORT", "9002")
    monkeypatch.setenv("MARGINCALL_ENGINE__MAX_STEPS_PER_TICK", "88")
    s = Settings.load(toml)
    assert (s.database, s.port, s.host) == ("/tmp/from-toml.db", 9002, "0.0.0.0")
    assert s.engine.max_steps_per_tick == 88 and s.engine.last_resort == "socialize"
    assert s.engine.to_config().max_steps_per_tick == 88
    assert Settings.load(toml, port=9003, host=None).port == 9003  # CLI options win; None = not given
    monkeypatch.setenv("MARGINCALL_DATABASE_URL", "postgresql://x@127.0.0.1/y")
    assert Settings.load().database == "postgresql://x@127.0.0.1/y"
    with pytest.raises(FileNotFoundError):
        Settings.load(tmp_path / "missing.toml")


def test_event_visibility_rules_on_adl_and_socialized_loss() -> None:
    from margincall.api.keys import Principal, Role
    from margincall.api.views import view_event

    adl = {"seq": 9, "ts": 1, "type": "adl", "key": None, "result": {"postings": [{"to": "wallet:w"}]},
           "payload": {"account": "w", "bankrupt_account": "b", "size": "1", "price": "9000"}}
    loss = {"seq": 10, "ts": 1, "type": "socialized_loss", "key": None, "result": {"postings": []},
            "payload": {"asset": "USDT", "loss": "30", "shares": [{"account": "w", "amount": "10"},
                                                                  {"account": "x", "amount": "20"}]}}
    w, b = Principal("k1", Role.TRADER, "w"), Principal("k2", Role.TRADER, "b")
    viewer, feeder = Principal("k3", Role.VIEWER), Principal("k4", Role.FEEDER)
    seen = view_event(adl, w)
    assert seen is not None and "bankrupt_account" not in seen["payload"] and seen["payload"]["account"] == "w"
    assert view_event(adl, b) is None  # the bankrupt account does not learn who was deleveraged
    assert view_event(adl, viewer) == {"seq": 9, "ts": 1, "type": "adl", "payload": {"size": "1", "price": "9000"}}
    assert view_event(adl, feeder) is None
    mine = view_event(loss, w)
    assert mine is not None and mine["payload"]["shares"] == [{"account": "w", "amount": "10"}]
    assert mine["result"] is None and view_event(loss, viewer) is None
    assert view_event(loss, Principal("k5", Role.ADMIN)) == loss


# -- the price desk: marks checked before the log; source prices → index ----------------------------------------


def test_marks_are_checked_for_order_staleness_and_the_circuit_breaker(api: tuple[TestClient, dict[str, str]]) -> None:
    import time

    c, keys = api
    h = auth(keys["feeder"])
    ok(c.post("/v1/markets", json={**MARKET, "symbol": "SOLUSDT"}, headers=auth(keys["admin"])))
    now = time.time_ns() // 1_000_000
    r = c.post("/v1/marks", json={"marks": [
        {"symbol": "ETHUSDT", "price": "2000", "ts": now},
        {"symbol": "ETHUSDT", "price": "2001", "ts": now},            # not after the last accepted tick
        {"symbol": "SOLUSDT", "price": "150", "ts": now - 120_000},  # two minutes old: stale (limit 60 s)
        {"symbol": "ETHUSDT", "price": "4000", "ts": now + 1},        # +100 %: clamped to the +25 % band edge
    ]}, headers=h)
    assert r.status_code == 207 and (r.json()["accepted"], r.json()["refused"]) == (2, 2)
    res = r.json()["results"]
    assert res[0]["type"] == "mark"
    assert res[1]["error"]["code"] == "out_of_order" and res[2]["error"]["code"] == "stale"
    # 2,000 × 1.25 = 2,500: the logged mark is the band edge, and the result says it was clamped
    assert res[3]["clamped"] == {"requested": "4000", "price": "2500.00"}
    assert res[3]["result"]["price"] == "2500.00"


def test_a_tick_of_several_marks_is_one_event_that_liquidates(api: tuple[TestClient, dict[str, str]]) -> None:
    # the seed example at 9,180 (see the module docstring), with ETH's mark in the same tick: one ``marks`` event,
    # and the liquidation it causes in its result; the fund grows from 500 to 680 as with the single mark
    c, keys = api
    tick = {"marks": [{"symbol": "BTCUSDT", "price": "9180"}, {"symbol": "ETHUSDT", "price": "2000"}]}
    res = ok(c.post("/v1/ticks", json=tick, headers=auth(keys["feeder"])))
    assert res["type"] == "marks"
    marks = [(m["symbol"], m["price"]) for m in res["result"]["marks"]]
    assert marks == [("BTCUSDT", "9180"), ("ETHUSDT", "2000")]
    assert [e["type"] for e in res["caused"]] == ["margin_call", "liquidation_started", "liquidation",
                                                  "bankruptcy_settlement", "liquidation_finished", "margin_call"]
    assert D(ok(c.get("/v1/insurance-fund", headers=auth(keys["viewer"])))["balances"]["USDT"]) == 680
    assert "margincall_tick_latency_seconds_count 2.0" in c.get("/metrics").text  # the seed's mark and this tick


def test_a_tick_is_checked_whole_and_a_refused_one_changes_no_price_feed(
        api: tuple[TestClient, dict[str, str]]) -> None:
    import time

    c, keys = api
    h = auth(keys["feeder"])
    now = time.time_ns() // 1_000_000
    ok(c.post("/v1/ticks", json={"marks": [{"symbol": "ETHUSDT", "price": "2000"}], "ts": now + 10}, headers=h))
    # ETH's last accepted mark is at now + 10: a tick at now + 5 is out of order for it, so BTC's mark in the same
    # tick is refused too (and the answer names the item)
    r = c.post("/v1/ticks", json={"marks": [{"symbol": "BTCUSDT", "price": "9500"}, {"symbol": "ETHUSDT",
                                                                                     "price": "2001"}],
                                  "ts": now + 5}, headers=h)
    assert r.status_code == 400 and r.json()["error"]["code"] == "out_of_order"
    assert r.json()["error"]["field"] == "marks[1].ts"
    r = c.post("/v1/ticks", json={"marks": [{"symbol": "BTCUSDT", "price": "9500"}, {"symbol": "BTCUSDT",
                                                                                     "price": "9501"}]}, headers=h)
    assert r.status_code == 400 and r.json()["error"]["code"] == "duplicate"
    # BTC's circuit-breaker reference is still the seed's 10,000 (not the refused 9,500): +25 % caps 12,600 at 12,500
    res = ok(c.post("/v1/ticks", json={"marks": [{"symbol": "BTCUSDT", "price": "12600"}], "ts": now + 20},
                    headers=h))
    assert res["clamped"] == [{"symbol": "BTCUSDT", "requested": "12600", "price": "12500.00"}]
    assert res["result"]["marks"][0]["price"] == "12500.00"
    assert c.post("/v1/ticks", json={"marks": []}, headers=h).status_code == 422


def test_source_prices_make_an_index_without_the_outlier(tmp_path: Path) -> None:
    import time

    app = make_app(tmp_path, mark_from_index=True)
    with TestClient(app) as c:
        keys = seed(c, app.state.admin_key)
        now = time.time_ns() // 1_000_000
        ticks = [{"source": s, "symbol": "ETHUSDT", "price": p, "ts": now}
                 for s, p in (("binance", "2000"), ("okx", "2004"), ("bybit", "2002"), ("kraken", "2600"))]
        body = ok(c.post("/v1/prices/source", json={"ticks": ticks}, headers=auth(keys["feeder"])))
        last = body["results"][-1]
        # kraken is 30 % off the median of the four (2,003): dropped; the index is the median of the other
        # three, 2,002 — and, with mark_from_index, it is posted as ETHUSDT's mark
        assert last["index"] == "2002" and last["outliers"] == ["kraken"]
        assert body["marks"][0]["result"]["price"] == "2002"
        idx = ok(c.get("/v1/prices/index", headers=auth(keys["viewer"])))["indices"]["ETHUSDT"]
        assert idx["index"] == "2002"
        r = c.post("/v1/prices/source", json={"ticks": [{"source": "nowhere", "symbol": "ETHUSDT", "price": "1"}]},
                   headers=auth(keys["feeder"]))
        # nothing of the batch was taken: 422, and the counts and the item say why
        assert r.status_code == 422 and r.json()["error"]["code"] == "batch_refused"
        assert (r.json()["accepted"], r.json()["refused"]) == (0, 1)
        assert r.json()["results"][0]["error"]["code"] == "unknown_source"
