"""A refused event leaves no trace: every change an event makes is staged in its ``Tx`` and written only when
every check has passed, so a refusal — however late, after whatever was staged — leaves the state as it was.

* by construction: a handler that stages every kind of change the ``Tx`` offers and then refuses changes
  nothing; the same handler without the refusal changes every part of the state (the check can fail);
* on random streams of every event type, the risk engine's included, many of them refused (bad fields,
  unknown names, too little margin, a bad last item of a ``marks`` tick, too much leverage for an open position,
  out-of-order timestamps): the state digest and the position indices are unchanged by every refusal.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from decimal import Decimal as D
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from margincall.ledger import Ledger, PositionKey, PositionState, Rejected, Tx
from margincall.ledger.types import INSURANCE, wallet_book
from margincall.model.enums import MarginMode
from margincall.model.errors import MarginCallError
from margincall.risk import events as risk_events
from margincall.venues.market import market_from_listing

#: an inverse market (contracts of 100 USD, settled in BTC)
INVERSE = {"venue": "generic", "symbol": "BTCUSD_PERP", "kind": "inverse", "contract_size": "100",
           "lot_size": "1", "settle_asset": "BTC", "tick_size": "0.1",
           "tiers": [{"floor": "0", "cap": "50", "mmr": "0.005", "max_leverage": "100"},
                     {"floor": "50", "cap": None, "mmr": "0.01", "max_leverage": "50"}]}


def _ledger() -> Ledger:
    led = risk_events.register(Ledger())
    setup: list[tuple[str, dict[str, Any]]] = [
        ("market_listed", {"venue": "binance-usdm", "symbol": "BTCUSDT"}),
        ("market_listed", INVERSE),
        ("account_opened", {"account": "a"}),
        ("account_opened", {"account": "b"}),
        ("account_opened", {"account": "h", "position_mode": "hedge"}),
        ("deposit", {"account": "a", "asset": "USDT", "amount": "20000"}),
        ("deposit", {"account": "b", "asset": "USDT", "amount": "3000"}),
        ("deposit", {"account": "h", "asset": "USDT", "amount": "50000"}),
        ("deposit", {"account": "a", "asset": "BTC", "amount": "1"}),
        ("insurance_fund_deposit", {"asset": "USDT", "amount": "1000"}),
        ("leverage_set", {"account": "b", "symbol": "BTCUSDT", "leverage": "10", "margin_mode": "isolated"}),
        ("fill", {"account": "a", "symbol": "BTCUSDT", "side": "buy", "size": "0.5", "price": "60000"}),
        ("fill", {"account": "b", "symbol": "BTCUSDT", "side": "sell", "size": "0.2", "price": "60000"}),
        ("fill", {"account": "h", "symbol": "BTCUSDT", "side": "buy", "size": "1", "price": "60000",
                  "position_side": "long"}),
        ("order_margin_reserved", {"account": "a", "order_id": "o1", "asset": "USDT", "amount": "100"}),
    ]
    for ts, (t, p) in enumerate(setup):
        led.apply(t, p, ts)
    return led


def _state(led: Ledger) -> tuple[str, dict[str, set[PositionKey]], dict[str, set[PositionKey]]]:
    return (led.digest(), {s: set(k) for s, k in led.by_symbol.items()},
            {a: set(k) for a, k in led.by_account.items()})


# -- by construction ---------------------------------------------------------------------------------------------

def _stage_everything(led: Ledger, tx: Tx, p: Mapping[str, Any]) -> dict[str, Any]:
    key = PositionKey("a", "BTCUSDT")
    tx.move(wallet_book("a"), wallet_book("b"), "USDT", D(7), "moved")
    tx.deposit(wallet_book("b"), "USDT", D(5), "in")
    tx.withdraw(wallet_book("a"), "USDT", D(3), "out")
    tx.put_position(key, PositionState(key, D(2), D(61000), MarginMode.CROSS, D(5)))
    tx.put_position(PositionKey("b", "BTCUSDT"), None)
    tx.set_settings("a", "BTCUSD_PERP", D(3), MarginMode.ISOLATED)
    tx.reserve("b", "o2", "USDT", D(10))
    tx.release("a", "o1")
    tx.list_market(market_from_listing({"venue": "binance-usdm", "symbol": "ETHUSDT"}))
    tx.set_account("c", True)
    tx.set_mark("BTCUSDT", D(59000))
    tx.start_liquidation(wallet_book("b"), "USDT")
    if p.get("refuse"):
        raise Rejected("refused", "refused after staging every kind of change")
    return {}


def test_a_handler_that_refuses_after_staging_every_kind_of_change_changes_nothing() -> None:
    led = _ledger()
    led.register("everything", _stage_everything)
    before = _state(led)
    try:
        led.apply("everything", {"refuse": True}, 100)
    except Rejected as e:
        assert e.code == "refused"
    else:
        raise AssertionError("not refused")
    assert _state(led) == before
    assert led.conservation_error() is None


def test_the_same_handler_accepted_changes_every_part_of_the_state() -> None:
    led = _ledger()
    led.register("everything", _stage_everything)
    snap = led.snapshot()
    led.apply("everything", {}, 100)
    after = led.snapshot()
    changed = {k for k in snap if snap[k] != after[k]}
    assert changed == {"markets", "marks", "accounts", "balances", "positions", "leverage", "modes", "reserved",
                       "liquidating", "deposits", "withdrawals", "events_applied", "last_ts"}
    assert "ETHUSDT" in led.by_symbol and "c" in led.by_account
    assert PositionKey("b", "BTCUSDT") not in led.by_account["b"]
    assert led.conservation_error() is None  # 5 in, 3 out: the deposits and withdrawals counted them


# -- random streams ----------------------------------------------------------------------------------------------

def _pick(r: random.Random, *options: Any) -> Any:
    return options[r.randrange(len(options))]


def random_event(r: random.Random) -> tuple[str, dict[str, Any]]:
    """One event of any type, over accounts a (one-way, cross), b (one-way, isolated on BTCUSDT), h (hedge) and
    an unknown one: mostly well-formed, often refused by a rule, now and then malformed."""
    acct = _pick(r, "a", "b", "h", "a", "b", "h", "zz")
    sym = _pick(r, "BTCUSDT", "BTCUSDT", "BTCUSD_PERP", "NOPE")
    asset = _pick(r, "USDT", "USDT", "BTC", "EUR")
    size = (_pick(r, "0.001", "0.1", "0.5", "1", "3", "40", "-1") if sym != "BTCUSD_PERP"
            else _pick(r, "1", "10", "200", "5000", "0.5"))
    price = _pick(r, "60000", "58000", "63000", "45000", "80000", "60000.5", "0", "x")
    amt = _pick(r, "1", "50", "500", "5000", "90000", "0.000000001", "-5")
    leg = {"position_side": _pick(r, "long", "short")} if acct == "h" else {}
    k = r.random()
    if k < 0.3:
        p: dict[str, Any] = {"account": acct, "symbol": sym, "side": _pick(r, "buy", "sell", "buy", "sell", "hold"),
                             "size": size, "price": price, **leg}
        if r.random() < 0.2:
            p["reduce_only"] = _pick(r, True, False, "yes")
        return "fill", p
    if k < 0.38:
        return "mark", {"symbol": sym, "price": price}
    if k < 0.44:  # a tick whose last item may be bad: the good ones before it are staged, then refused
        return "marks", {"marks": [{"symbol": _pick(r, "BTCUSDT", "BTCUSD_PERP", "NOPE"), "price": price},
                                   {"symbol": _pick(r, "BTCUSDT", "BTCUSD_PERP", "NOPE"),
                                    "price": _pick(r, "61000", "0")}]}
    if k < 0.48:
        return "funding", {"symbol": sym, "rate": _pick(r, "0.0001", "-0.003", "2")}
    if k < 0.55:
        return _pick(r, "deposit", "withdrawal", "transfer"), {
            "account": acct, "from": acct, "to": _pick(r, "a", "b", "h"), "asset": asset, "amount": amt}
    if k < 0.62:  # too much leverage for an open position is refused after the settings are staged
        return "leverage_set", {"account": acct, "symbol": sym, "leverage": _pick(r, "2", "20", "100", "125", "150"),
                                "margin_mode": _pick(r, "cross", "isolated", "cross")}
    if k < 0.66:
        return _pick(r, "margin_added", "margin_removed"), {"account": acct, "symbol": sym, "amount": amt, **leg}
    if k < 0.72:
        return _pick(r, "order_margin_reserved", "order_margin_released"), {
            "account": acct, "order_id": _pick(r, "o1", "o2"), "asset": asset, "amount": amt}
    if k < 0.75:
        return _pick(r, "market_listed", "account_opened", "position_mode_set", "insurance_fund_deposit", "audit"), {
            "venue": _pick(r, "binance-usdm", "nowhere"), "symbol": _pick(r, "ETHUSDT", "BTCUSDT"),
            "account": _pick(r, "a", "c", ""), "position_mode": _pick(r, "hedge", "one_way", "x"), "asset": asset,
            "amount": amt, "action": _pick(r, "key_created", "")}
    if k < 0.82:  # orders released, then a bad "what": refused after the release was staged
        return _pick(r, "liquidation_started", "liquidation_finished"), {
            "account": acct, "liquidation_id": "L1", "scope": _pick(r, "cross", "cross", "isolated"),
            "what": _pick(r, "USDT", "BTC", "")}
    if k < 0.92:
        return _pick(r, "partial_liquidation", "adl", "liquidation"), {
            "account": acct, "symbol": sym, "size": size, "price": price, "close_price": price,
            "fee_rate": _pick(r, "0.0125", "-1"), "scope": _pick(r, "cross", "isolated"), **leg}
    if k < 0.96:  # shares charged one by one: a bad later share refuses the moves of the earlier ones
        return "socialized_loss", {"asset": asset, "shares": [
            {"account": _pick(r, "a", "b", "h"), "amount": _pick(r, "1", "5")},
            {"account": acct, "amount": _pick(r, "2", "-5")}]}
    return _pick(r, "bankruptcy_settlement", "no_such_event"), {"account": acct, "asset": asset,
                                                                "liquidation_fee": _pick(r, "3", "-1")}


@settings(max_examples=40, deadline=None)
@given(st.randoms(use_true_random=False))
def test_no_refused_event_changes_the_state(r: random.Random) -> None:
    led = _ledger()
    ts = 100
    for _ in range(120):
        event_type, payload = random_event(r)
        ts += _pick(r, 0, 1, 1, 2, -1)  # -1: an out-of-order timestamp, refused
        before = _state(led)
        try:
            led.apply(event_type, payload, ts)
        except MarginCallError:
            assert _state(led) == before, (event_type, payload)
        else:
            assert led.conservation_error() is None, (event_type, payload)
        ts = max(ts, led.last_ts)
    assert led.book_balance(INSURANCE, "USDT") >= 0
