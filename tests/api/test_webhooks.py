"""Webhooks in process: the signature, the retry schedule, subscription rules and validation, visibility (a
trader's webhook carries its own account's events only), retries until a 2xx, and the log's typed read.

The market and the hand-computed margin calls are those of tests/support/webhook_scenario.py.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from margincall.api import create_app
from margincall.api.webhooks import backoff, signature, verify
from margincall.config import EngineSettings, Settings
from margincall.store import NewEvent
from support.webhook_receiver import Receiver, check_signature
from support.webhook_scenario import HIGH, LIQUIDATING, LOW, auth, mark, ok, seed

# -- signing and the retry schedule ---------------------------------------------------------------------------


def test_signature_is_the_hmac_of_timestamp_dot_body() -> None:
    body = b'{"seq":7,"type":"margin_call"}'
    # computed here from the documented rule, with the secret as the HMAC key and "<t>.<body>" as the message
    expected = hmac.new(b"whsec_test_secret", b'1700000000.{"seq":7,"type":"margin_call"}', hashlib.sha256)
    assert signature("whsec_test_secret", 1_700_000_000, body) == f"t=1700000000,v1={expected.hexdigest()}"


def test_verify_accepts_the_signed_body_only() -> None:
    body = b'{"seq":7}'
    header = signature("s" * 20, 1_700_000_000, body)
    assert verify("s" * 20, header, body, now=1_700_000_100)
    assert check_signature("s" * 20, header, body, now=1_700_000_100)  # the tests' own verifier agrees
    assert not verify("s" * 20, header, b'{"seq":8}', now=1_700_000_100)  # body changed
    assert not verify("t" * 20, header, body, now=1_700_000_100)  # other secret
    assert not verify("s" * 20, header, body, now=1_700_000_301)  # 301 s old: beyond the 300 s tolerance
    assert not verify("s" * 20, header.replace("t=1700000000", "t=1700000001"), body, now=1_700_000_000)
    assert not verify("s" * 20, "garbage", body) and not verify("s" * 20, "t=x,v1=00", body)


def test_backoff_doubles_up_to_the_cap() -> None:
    # first wait 1 s, doubling: 1, 2, 4, 8, ...; 2^9 = 512 > 300 → capped at 300
    assert [backoff(n, 1.0, 300.0) for n in (1, 2, 3, 4, 9, 10, 10_000)] == [1, 2, 4, 8, 256, 300, 300]
    assert backoff(3, 0.5, 300.0, jitter=0.5) == 1.0  # 0.5 · 2² · 0.5


# -- the service --------------------------------------------------------------------------------------------------


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


@pytest.fixture
def api(tmp_path: Path) -> Iterator[tuple[TestClient, dict[str, str]]]:
    # no executor slippage: a liquidation closes at the mark
    settings = Settings.load(database=str(tmp_path / "engine.db"), engine=EngineSettings(slippage=D(0),
                             impact_per_million=D(0)), webhook_retry_first=0.05,
                             webhook_retry_max=0.2, webhook_poll_interval=0.5)
    app = create_app(settings)
    with TestClient(app) as c:
        yield c, seed(c, app.state.admin_key)


def subscribe(c: TestClient, key: str, url: str, **body: Any) -> dict[str, Any]:
    out: dict[str, Any] = ok(c.post("/v1/webhooks", json={"url": url, **body}, headers=auth(key)))
    return out


def _error(c: TestClient, key: str, body: dict[str, Any]) -> tuple[int, str | None, str]:
    r = c.post("/v1/webhooks", json=body, headers=auth(key))
    err = r.json()["error"]
    return r.status_code, err["field"], err["message"]


def test_subscriptions_are_validated_and_name_the_field(api: tuple[TestClient, dict[str, str]]) -> None:
    c, keys = api
    admin, t1 = keys["admin"], keys["trader_t1"]
    url = "https://example.com/hook"
    for bad in ("ftp://example.com/hook", "example.com/hook", "http://", "https://exa mple.com/"):
        status, field, _ = _error(c, admin, {"url": bad})
        assert (status, field) == (422, "url"), bad
    status, field, message = _error(c, admin, {"url": url, "types": ["margin_call", "fill"]})
    assert (status, field) == (422, "types") and "'fill'" in message
    assert _error(c, admin, {"url": url, "types": []})[:2] == (422, "types")
    assert _error(c, admin, {"url": url, "secret": "short"})[:2] == (422, "secret")
    assert _error(c, admin, {"url": url, "after": 10**9})[:2] == (422, "after")
    assert _error(c, admin, {"url": url, "colour": "red"})[:2] == (422, "colour")  # unknown fields are refused
    assert _error(c, admin, {"url": url, "account": "nobody"})[:2] == (404, "account")
    # a trader subscribes its own account only: not another one, not every account
    assert _error(c, t1, {"url": url, "account": "t2"})[:2] == (403, "account")
    assert _error(c, t1, {"url": url})[:2] == (403, "account")
    for role in ("viewer", "feeder"):
        assert c.post("/v1/webhooks", json={"url": url}, headers=auth(keys[role])).status_code == 403
    assert c.post("/v1/webhooks", json={"url": url}).status_code == 401
    # accepted: the secret is returned once (generated here), never listed
    made = subscribe(c, t1, url, account="t1", types=["margin_call", "liquidation", "margin_call"])
    assert made["secret"].startswith("whsec_") and len(made["secret"]) > 32
    assert made["types"] == ["liquidation", "margin_call"] and made["account"] == "t1"
    listed = ok(c.get("/v1/webhooks", headers=auth(t1)))["webhooks"]
    assert [w["id"] for w in listed] == [made["id"]] and "secret" not in listed[0]


def test_each_webhook_carries_what_its_owner_may_see(api: tuple[TestClient, dict[str, str]],
                                                      receiver: Receiver) -> None:
    c, keys = api
    admin, t1, t2 = keys["admin"], keys["trader_t1"], keys["trader_t2"]
    every = subscribe(c, admin, f"{receiver.base}/all")  # account null: every account
    mine = subscribe(c, t1, f"{receiver.base}/t1", account="t1", secret="my-own-secret-0123456789")
    theirs = subscribe(c, t2, f"{receiver.base}/t2", account="t2")
    assert mine["secret"] == "my-own-secret-0123456789"
    # what each key lists: an admin every webhook, a trader its own account's
    assert {w["id"] for w in ok(c.get("/v1/webhooks", headers=auth(admin)))["webhooks"]} == {
        every["id"], mine["id"], theirs["id"]}
    assert [w["id"] for w in ok(c.get("/v1/webhooks", headers=auth(t2)))["webhooks"]] == [theirs["id"]]
    assert c.get(f"/v1/webhooks/{mine['id']}", headers=auth(t2)).status_code == 404
    assert c.delete(f"/v1/webhooks/{mine['id']}", headers=auth(t2)).status_code == 404
    assert c.delete(f"/v1/webhooks/{every['id']}", headers=auth(t1)).status_code == 404

    down = mark(c, admin, LOW)
    up = mark(c, admin, HIGH)
    calls = [e for e in down + up if e["type"] == "margin_call"]
    # t1 and t2 to warning at 9,220 (83.8 %), then both back to healthy at 10,000 (20 %)
    assert [(e["payload"]["account"], e["payload"]["band"]) for e in calls] == [
        ("t1", "warning"), ("t2", "warning"), ("t1", "healthy"), ("t2", "healthy")]
    receiver.wait_for(lambda: len(receiver.requests("/all")) >= 4 and len(receiver.requests("/t1")) >= 2
                      and len(receiver.requests("/t2")) >= 2)
    for path, hook, owner, accounts in (("/all", every, admin, ["t1", "t2", "t1", "t2"]),
                                        ("/t1", mine, t1, ["t1", "t1"]), ("/t2", theirs, t2, ["t2", "t2"])):
        got = receiver.requests(path)
        assert [r.json()["payload"]["account"] for r in got] == accounts  # in seq order, nobody else's
        shown = {e["seq"]: e for e in ok(c.get("/v1/events", params={"type": "margin_call"},
                                               headers=auth(owner)))["events"]}
        for r in got:
            assert r.seq == r.json()["seq"] and r.headers["x-margincall-event-type"] == "margin_call"
            assert r.headers["x-margincall-webhook-id"] == hook["id"]
            assert check_signature(hook["secret"], r.headers["x-margincall-signature"], r.body)
            assert r.json() == shown[r.seq]  # the event exactly as GET /v1/events shows it to the owner
        state = ok(c.get(f"/v1/webhooks/{hook['id']}", headers=auth(owner)))["delivery"]
        assert state["cursor"] >= max(r.seq for r in got) and state["delivered"] == len(got)
        assert state["attempts"] == 0 and state["last_error"] is None
    assert [r.json()["seq"] for r in receiver.requests("/all")] == [e["seq"] for e in calls]


def test_a_failing_receiver_is_retried_and_the_cursor_waits(api: tuple[TestClient, dict[str, str]],
                                                            receiver: Receiver) -> None:
    c, keys = api
    admin = keys["admin"]
    hook = subscribe(c, admin, f"{receiver.base}/x", account="t1")
    start = hook["delivery"]["cursor"]
    receiver.status = 500
    (call,) = [e for e in mark(c, admin, LOW) if e["type"] == "margin_call" and e["payload"]["account"] == "t1"]
    receiver.wait_for(lambda: len(receiver.requests("/x")) >= 3, what="three failed attempts")
    state = ok(c.get(f"/v1/webhooks/{hook['id']}", headers=auth(admin)))["delivery"]
    assert state["cursor"] == start  # nothing acknowledged: the cursor has not moved
    assert state["status"] == "failing" and state["failing_seq"] == call["seq"] and state["attempts"] >= 1
    assert state["last_error"] == "HTTP 500" and state["next_retry_ms"] is not None
    assert {r.seq for r in receiver.requests("/x")} == {call["seq"]}  # the same event again, nothing after it
    receiver.status = 204
    receiver.wait_for(lambda: receiver.requests("/x")[-1].answered == 204)
    receiver.wait_for(lambda: ok(c.get(f"/v1/webhooks/{hook['id']}", headers=auth(admin)))["delivery"]["cursor"]
                      >= call["seq"], what="the cursor")
    state = ok(c.get(f"/v1/webhooks/{hook['id']}", headers=auth(admin)))["delivery"]
    assert state["status"] != "failing" and state["attempts"] == 0 and state["delivered"] == 1
    failures = len([r for r in receiver.requests("/x") if r.answered == 500])
    metrics = c.get("/metrics").text
    assert f"margincall_webhook_failures_total {failures}.0" in metrics
    assert "margincall_webhook_deliveries_total 1.0" in metrics and "margincall_webhooks_failing 0.0" in metrics


def test_liquidation_events_of_one_account(api: tuple[TestClient, dict[str, str]], receiver: Receiver) -> None:
    c, keys = api
    admin = keys["admin"]
    hook = subscribe(c, admin, f"{receiver.base}/liq", account="t2", types=["liquidation_started", "liquidation"])
    caused = mark(c, admin, LIQUIDATING)  # 9,180 ≤ 9,183.67: t1 and t2 are liquidated
    assert {e["payload"]["account"] for e in caused if e["type"] == "liquidation"} == {"t1", "t2"}
    receiver.wait_for(lambda: len(receiver.requests("/liq")) >= 2)
    got = [r.json() for r in receiver.requests("/liq")]
    assert [(e["type"], e["payload"]["account"]) for e in got] == [("liquidation_started", "t2"),
                                                                   ("liquidation", "t2")]
    assert D(got[1]["payload"]["close_price"]) == 9180
    assert c.delete(f"/v1/webhooks/{hook['id']}", headers=auth(admin)).json() == {"id": hook["id"], "deleted": True}
    assert c.get(f"/v1/webhooks/{hook['id']}", headers=auth(admin)).status_code == 404


def test_a_trader_may_have_at_most_the_configured_webhooks(api: tuple[TestClient, dict[str, str]]) -> None:
    c, keys = api
    for i in range(10):  # webhook_max_per_account defaults to 10
        subscribe(c, keys["trader_t1"], f"https://example.com/{i}", account="t1")
    status, field, _ = _error(c, keys["trader_t1"], {"url": "https://example.com/x", "account": "t1"})
    assert (status, field) == (409, "account")


# -- the log's typed read -------------------------------------------------------------------------------------


def test_the_log_reads_only_the_wanted_types(log: Any) -> None:
    types = ["a", "b", "a", "c", "a", "b"]
    log.append([(NewEvent(t, {"i": str(i)}, None, i), None) for i, t in enumerate(types, 1)])
    assert [e.seq for e in log.read_types(0, 6, {"a"}, 10)] == [1, 3, 5]
    assert [e.seq for e in log.read_types(0, 6, {"a", "b"}, 3)] == [1, 2, 3]  # limit
    assert [e.seq for e in log.read_types(3, 4, {"a", "b"}, 10)] == []  # 3 < seq ≤ 4 holds only the c
    assert [(e.seq, e.payload) for e in log.read_types(4, 5, {"a"}, 10)] == [(5, {"i": "5"})]
    assert log.read_types(0, 6, set(), 10) == []


def test_a_webhook_pauses_when_its_owners_key_is_revoked(api: tuple[TestClient, dict[str, str]],
                                                         receiver: Receiver) -> None:
    c, keys = api
    admin, t1 = keys["admin"], keys["trader_t1"]
    hook = subscribe(c, t1, f"{receiver.base}/t1", account="t1")
    ok(c.delete(f"/v1/keys/{t1.split('_')[1]}", headers=auth(admin)))
    calls = [e for e in mark(c, admin, LOW) if e["type"] == "margin_call" and e["payload"]["account"] == "t1"]
    assert calls  # t1 went to warning: an event the webhook wants
    receiver.wait_for(lambda: ok(c.get(f"/v1/webhooks/{hook['id']}", headers=auth(admin)))["delivery"]["status"]
                      == "paused", what="the paused status")
    assert receiver.requests("/t1") == []  # a revoked principal's webhook delivers nothing
