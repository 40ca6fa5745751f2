"""The service as a careless client or an attacker meets it: time and order, limits before work, no leaks, honest
batch answers, scoped idempotency keys, key revocation and rotation. Each test pins one fault found by attacking
``margincall serve`` (they failed before the fix); the seed scenario is tests/support/api.py's."""

from __future__ import annotations

import logging
import sqlite3
import time
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from margincall.api.guard import redact
from margincall.api.keys import Principal, Role
from margincall.api.views import view_event
from support.api import auth, make_app, mark, ok, seed

API = tuple[TestClient, dict[str, str]]


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def fill(account: str, side: str, size: str = "0.01", price: str = "10000", **kw: Any) -> dict[str, Any]:
    return {"account": account, "symbol": "BTCUSDT", "side": side, "size": size, "price": price, **kw}


def log_rows(tmp_path: Path, sql: str) -> list[tuple[Any, ...]]:
    db = sqlite3.connect(tmp_path / "engine.db")
    try:
        return db.execute(sql).fetchall()
    finally:
        db.close()


# -- 1. a client timestamp cannot poison the log ----------------------------------------------------------------


@pytest.mark.parametrize("ts", [now_ms() * 1000, 2**63 - 1])
def test_a_fill_stamped_in_the_future_is_refused_and_blocks_nothing(api: API, ts: int) -> None:
    c, keys = api
    h = auth(keys["feeder"])
    r = c.post("/v1/fills", json={"fills": [fill("o", "buy", ts=ts), fill("mm", "sell", ts=ts)]}, headers=h)
    # nothing of the batch was taken: 422, each item names its own ts field
    assert r.status_code == 422 and r.json()["error"]["code"] == "batch_refused"
    assert [x["error"]["code"] for x in r.json()["results"]] == ["clock_skew", "clock_skew"]
    assert [x["error"]["field"] for x in r.json()["results"]] == ["fills.0.ts", "fills.1.ts"]
    if ts != 2**63 - 1:  # milliseconds × 1000: named as microseconds
        assert "microseconds" in r.json()["results"][0]["error"]["message"]
    # later marks, with and without ts, and later fills are all taken
    assert mark(c, keys["feeder"], "10010")["type"] == "mark"
    ok(c.post("/v1/marks", json={"marks": [{"symbol": "BTCUSDT", "price": "10020", "ts": now_ms()}]}, headers=h))
    ok(c.post("/v1/fills", json={"fills": [fill("o", "buy"), fill("mm", "sell")]}, headers=h))
    last_ts = max(e["ts"] for e in ok(c.get("/v1/events", params={"limit": 1000}, headers=auth(keys["admin"])))[
        "events"])
    assert last_ts <= now_ms() + 1000  # the log's clock is the service's


def test_a_marks_ts_outside_the_window_is_refused_with_422(api: API) -> None:
    c, keys = api
    r = c.post("/v1/ticks", json={"marks": [{"symbol": "BTCUSDT", "price": "10000"}], "ts": now_ms() + 3_600_000},
               headers=auth(keys["feeder"]))
    assert r.status_code == 422 and r.json()["error"]["code"] == "clock_skew" and r.json()["error"]["field"] == "ts"
    r = c.post("/v1/prices/source", json={"ticks": [{"source": "okx", "symbol": "BTCUSDT", "price": "10000",
                                                     "ts": 1}]}, headers=auth(keys["feeder"]))
    assert r.status_code == 422 and r.json()["results"][0]["error"]["code"] == "clock_skew"


# -- 2. a fill is never refused for arriving after a mark ---------------------------------------------------------


def test_a_fill_from_a_millisecond_before_the_last_mark_is_booked(api: API) -> None:
    c, keys = api
    h = auth(keys["feeder"])
    t = now_ms()
    ok(c.post("/v1/marks", json={"marks": [{"symbol": "BTCUSDT", "price": "10000", "ts": t}]}, headers=h))
    # the matching engine filled at t − 1; the fill reaches the service after the mark: a fact, booked
    res = ok(c.post("/v1/fills", json={"fills": [fill("o", "buy", ts=t - 1), fill("mm", "sell", ts=t - 1)]},
                    headers=h))
    assert (res["accepted"], res["refused"]) == (2, 0)
    events = ok(c.get("/v1/events", params={"type": "fill", "account": "o"}, headers=auth(keys["admin"])))["events"]
    (booked,) = events
    # the source time is kept; the event is stamped at ingestion, not before the mark it follows
    assert booked["payload"]["source_ts"] == t - 1 and booked["ts"] >= t


# -- 3. limits before work ----------------------------------------------------------------------------------------


def test_an_oversized_body_is_413_before_it_is_read_or_authenticated(tmp_path: Path) -> None:
    app = make_app(tmp_path, max_body_bytes=64 * 1024)
    with TestClient(app) as c:
        keys = seed(c, app.state.admin_key)
        big = b'{"fills": [' + b"0," * 40_000 + b"0]}"
        for headers in ({}, auth(keys["feeder"])):
            r = c.post("/v1/fills", content=big, headers={**headers, "content-type": "application/json"})
            assert r.status_code == 413 and r.json()["error"]["code"] == "too_large"

        def chunks() -> Any:  # no Content-Length: counted as it arrives, and cut at the limit
            for _ in range(100):
                yield b" " * 1024

        r = c.post("/v1/fills", content=chunks(), headers={**auth(keys["feeder"]), "content-type": "application/json"})
        assert r.status_code == 413
        # a small chunked body still works
        r = c.post("/v1/marks", content=iter([b'{"marks": [{"symbol": "BTCUSDT", ', b'"price": "10001"}]}']),
                   headers={**auth(keys["feeder"]), "content-type": "application/json"})
        assert r.status_code == 200, r.text


def test_the_key_is_checked_before_the_body_is_parsed(api: API) -> None:
    c, _keys = api
    # malformed JSON without a key: 401, not 400 (the body was never parsed); an unknown key likewise
    for headers in ({}, auth("mc_000000000000_nope")):
        r = c.post("/v1/fills", content=b'{"fills": [', headers={**headers, "content-type": "application/json"})
        assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"


# -- 4. the bankrupt account never reaches a trader ------------------------------------------------------------


def test_an_adl_event_keeps_no_trace_of_the_bankrupt_account_for_the_reduced_trader() -> None:
    adl = {"seq": 9, "ts": 1, "type": "adl", "key": None,
           "payload": {"account": "w", "symbol": "BTCUSDT", "size": "1", "price": "9000",
                       "bankrupt_account": "bankrupt-9"},
           "result": {"type": "adl", "postings": [{"from": "wallet:w", "to": "insurance"}], "account": "w",
                      "bankrupt_account": "bankrupt-9", "realized_pnl": "100"}}
    seen = view_event(adl, Principal("k", Role.TRADER, "w"))
    assert seen is not None and "bankrupt" not in repr(seen)
    assert seen["result"]["realized_pnl"] == "100"  # the trader's own numbers stay
    public = view_event(adl, Principal("v", Role.VIEWER))
    assert public is not None and "bankrupt" not in repr(public) and "'w'" not in repr(public["payload"])


# -- 5. keys never reach a log or a URL --------------------------------------------------------------------------


def test_keys_are_redacted_from_every_log_record(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    key = "mc_0123456789ab_S3cr3t-Pa55_word"
    make_app(tmp_path)  # installs the filter on uvicorn's loggers
    with caplog.at_level(logging.INFO, logger="uvicorn.access"):
        # uvicorn's access-log call, as it logs a request
        logging.getLogger("uvicorn.access").info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:5", "GET",
                                                 f"/v1/stream?topics=marks&key={key}", "1.1", 101)
    assert "S3cr3t" not in caplog.text and "key=*** HTTP/1.1" in caplog.text
    assert redact(f"stored {key}") == "stored mc_0123456789ab_***"
    assert redact("Authorization: Bearer sometoken123") == "Authorization: Bearer ***"
    assert redact("/?ticket=abc&x=1") == "/?ticket=***&x=1"


# -- 7. honest batch answers ---------------------------------------------------------------------------------------


def test_a_batch_says_how_many_items_were_refused(api: API) -> None:
    c, keys = api
    h = auth(keys["feeder"])
    r = c.post("/v1/fills", json={"fills": [fill("o", "buy"), fill("nobody", "sell"), fill("mm", "sell")]},
               headers=h)
    assert r.status_code == 207 and (r.json()["accepted"], r.json()["refused"]) == (2, 1)
    assert r.json()["results"][1]["error"]["code"] == "unknown_account"
    r = c.post("/v1/fills", json={"fills": [fill("nobody", "buy")]}, headers=h)
    assert r.status_code == 422 and (r.json()["accepted"], r.json()["refused"]) == (0, 1)
    # refusals are counted by code in /metrics
    assert 'margincall_refused_total{code="unknown_account"} 2.0' in c.get("/metrics").text


def test_out_of_order_marks_are_counted_in_metrics(api: API) -> None:
    c, keys = api
    t = now_ms()
    r = c.post("/v1/marks", json={"marks": [{"symbol": "BTCUSDT", "price": "10000", "ts": t},
                                            {"symbol": "BTCUSDT", "price": "10001", "ts": t - 5}]},
               headers=auth(keys["feeder"]))
    assert r.status_code == 207 and r.json()["results"][1]["error"]["code"] == "out_of_order"
    assert 'margincall_refused_total{code="out_of_order"} 1.0' in c.get("/metrics").text


# -- 8. idempotency keys are scoped per principal -----------------------------------------------------------------


def test_idempotency_keys_belong_to_their_principal_and_survive_a_rotation(api: API) -> None:
    c, keys = api
    admin = auth(keys["admin"])
    other = ok(c.post("/v1/keys", json={"role": "feeder"}, headers=admin))
    first = ok(c.post("/v1/fills", json={"fills": [fill("o", "buy", key="f-1"), fill("mm", "sell", key="f-2")]},
                      headers=auth(keys["feeder"])))
    # another principal's equal keys are other keys: booked, not a 409
    again = ok(c.post("/v1/fills", json={"fills": [fill("o", "sell", key="f-1"), fill("mm", "buy", key="f-2")]},
                      headers=auth(other["key"])))
    assert [x["duplicate"] for x in again["results"]] == [False, False]
    # the feeder's key rotated: a retry with the new key is recognised as the same fill
    feeder_id = keys["feeder"].split("_")[1]
    rotated = ok(c.post(f"/v1/keys/{feeder_id}/rotate", json={}, headers=admin))
    retry = ok(c.post("/v1/fills", json={"fills": [fill("o", "buy", key="f-1")]}, headers=auth(rotated["key"])))
    assert retry["results"][0]["duplicate"] is True and retry["results"][0]["seq"] == first["results"][0]["seq"]
    # a trader sees its own fill's key as it was sent, without the scope
    trader = auth(keys["trader_own"])
    mine = ok(c.get("/v1/events", params={"type": "fill"}, headers=trader))["events"]
    assert {e["key"] for e in mine} == {"f-1"}


# -- 9. keys: revoke and rotate, recorded in the log; the docs page; the settlement's fee --------------------------


def test_a_revoked_key_is_refused_and_both_acts_are_in_the_log(api: API, tmp_path: Path) -> None:
    c, keys = api
    admin = auth(keys["admin"])
    viewer_id = keys["viewer"].split("_")[1]
    assert c.get("/v1/risk/summary", headers=auth(keys["viewer"])).status_code == 200
    revoked = ok(c.delete(f"/v1/keys/{viewer_id}", headers=admin))
    assert revoked["revoked_ms"] is not None
    assert c.get("/v1/risk/summary", headers=auth(keys["viewer"])).status_code == 401
    # rotation with a grace period: the old key works until it ends, the new one at once
    trader_id = keys["trader_own"].split("_")[1]
    rotated = ok(c.post(f"/v1/keys/{trader_id}/rotate", json={"grace_seconds": 60}, headers=admin))
    assert rotated["account"] == "o" and rotated["old"]["revoked_ms"] > now_ms() + 50_000
    for key in (keys["trader_own"], rotated["key"]):
        assert c.get("/v1/accounts/o", headers=auth(key)).status_code == 200
    listed = {k["id"]: k for k in ok(c.get("/v1/keys", headers=admin))["keys"]}
    assert listed[viewer_id]["revoked_ms"] is not None and "hash" not in listed[viewer_id]
    r = c.delete("/v1/keys/config-admin", headers=admin)
    assert r.status_code == 409 and r.json()["error"]["code"] == "config_key"
    assert c.delete("/v1/keys/000000000000", headers=admin).status_code == 404
    audits = ok(c.get("/v1/events", params={"type": "audit", "limit": 1000}, headers=admin))["events"]
    acts = [(e["payload"]["action"], e["payload"]["key_id"]) for e in audits]
    assert ("key_revoked", viewer_id) in acts and ("key_rotated", trader_id) in acts
    assert ("key_created", rotated["id"]) in acts


def test_docs_is_a_self_contained_page_of_every_operation(api: API) -> None:
    c, _keys = api
    r = c.get("/docs")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "/v1/fills" in r.text and "/v1/keys/{key_id}/rotate" in r.text
    assert "<script" not in r.text and "https://" not in r.text


def test_the_settlement_result_names_the_nominal_fee_and_what_was_waived(api: API) -> None:
    # a gap from 10,000 to 8,000: t's equity 1,000 − 2,000 < 0, below bankruptcy (9,000), so nothing is left for
    # the fee: charged 0, the whole nominal fee waived, and the payload's fee is the nominal one
    c, keys = api
    caused = mark(c, keys["feeder"], "8000")["caused"]
    (settle,) = [e for e in caused if e["type"] == "bankruptcy_settlement"]
    nominal = D(settle["payload"]["liquidation_fee"])
    assert nominal > 0 and D(settle["result"]["nominal_liquidation_fee"]) == nominal
    assert D(settle["result"]["liquidation_fee"]) == 0
    assert D(settle["result"]["liquidation_fee_waived"]) == nominal
