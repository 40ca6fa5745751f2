"""Ledger events with hand-computed balances, and the bad-input suite (every rejection leaves no trace)."""

from __future__ import annotations

from decimal import Decimal as D
from typing import Any

import pytest

from margincall.ledger import Ledger, PositionKey, Rejected
from margincall.model.enums import PositionSide


def make(*, hedge: bool = False) -> Ledger:
    led = Ledger()
    led.apply("market_listed", {"venue": "binance-usdm", "symbol": "BTCUSDT"}, 1)
    led.apply("market_listed", {"venue": "binance-usdm", "symbol": "ETHUSDT"}, 1)
    led.apply("market_listed", {"venue": "generic", "symbol": "BTCUSD", "kind": "inverse", "contract_size": "100",
                                "lot_size": "1", "settle_asset": "BTC",
                                "tiers": [{"floor": "0", "cap": None, "mmr": "0.005", "max_leverage": "100"}]}, 1)
    for a in ("a", "b"):
        led.apply("account_opened", {"account": a, "position_mode": "hedge" if hedge else "one_way"}, 1)
        led.apply("deposit", {"account": a, "asset": "USDT", "amount": "10000"}, 1)
    return led


def wallet(led: Ledger, acct: str, asset: str = "USDT") -> D:
    return led.wallet(acct, asset)


def test_open_increase_reduce_flip_close_linear():
    led = make()
    led.apply("leverage_set", {"account": "a", "symbol": "BTCUSDT", "leverage": "10"}, 2)
    # buy 0.1 @ 60,000 taker 0.05 %: fee = 6,000 × 0.0005 = 3
    led.apply("fill", {"account": "a", "symbol": "BTCUSDT", "side": "buy", "size": "0.1", "price": "60000"}, 2)
    # buy 0.1 @ 62,000 maker 0.02 %: fee = 6,200 × 0.0002 = 1.24; entry = (0.1·60000 + 0.1·62000)/0.2 = 61,000
    led.apply("fill", {"account": "a", "symbol": "BTCUSDT", "side": "buy", "size": "0.1", "price": "62000",
                       "liquidity": "maker"}, 3)
    pos = led.positions[PositionKey("a", "BTCUSDT")]
    assert pos.size == D("0.2") and pos.entry_price == D(61000)
    # sell 0.3 @ 63,000: closes 0.2 (pnl 0.2 × 2,000 = 400), opens 0.1 short at 63,000; fee 18,900 × 0.0005 = 9.45
    r = led.apply("fill", {"account": "a", "symbol": "BTCUSDT", "side": "sell", "size": "0.3", "price": "63000"}, 4)
    assert D(r.details["realized_pnl"]) == 400 and D(r.details["fee"]) == D("9.45")
    pos = led.positions[PositionKey("a", "BTCUSDT")]
    assert pos.size == D("-0.1") and pos.entry_price == D(63000)
    # buy 0.1 @ 64,000 closes: pnl −0.1 × 1,000 = −100; fee 6,400 × 0.0005 = 3.2
    led.apply("fill", {"account": "a", "symbol": "BTCUSDT", "side": "buy", "size": "0.1", "price": "64000"}, 5)
    assert PositionKey("a", "BTCUSDT") not in led.positions
    # 10,000 − 3 − 1.24 + 400 − 9.45 − 100 − 3.2 = 10,283.11
    assert wallet(led, "a") == D("10283.11")
    assert led.book_balance("fees", "USDT") == D("16.89")
    assert led.book_balance("clearing", "USDT") == D(-300)
    assert led.conservation_error() is None


def test_inverse_average_entry_is_harmonic_and_pnl_in_coin():
    led = make()
    led.apply("deposit", {"account": "a", "asset": "BTC", "amount": "1"}, 2)
    led.apply("leverage_set", {"account": "a", "symbol": "BTCUSD", "leverage": "10"}, 2)
    # 100 contracts × $100 = $10,000 at 50,000 and at 40,000: coin values 0.2 + 0.25 = 0.45 BTC for $20,000
    # → entry = 20,000 / 0.45 = 44,444.44…; generic fees: taker 0.05 % of the coin notional
    led.apply("fill", {"account": "a", "symbol": "BTCUSD", "side": "buy", "size": "100", "price": "50000"}, 2)
    led.apply("fill", {"account": "a", "symbol": "BTCUSD", "side": "buy", "size": "100", "price": "40000"}, 3)
    pos = led.positions[PositionKey("a", "BTCUSD")]
    assert abs(pos.entry_price - D(20000) / D("0.45")) < D("1e-20")
    # close all at 50,000: pnl = 20,000 × (1/44,444.44 − 1/50,000) = 0.45 − 0.4 = 0.05 BTC
    r = led.apply("fill", {"account": "a", "symbol": "BTCUSD", "side": "sell", "size": "200", "price": "50000"}, 4)
    assert D(r.details["realized_pnl"]) == D("0.05")
    # fees: 0.2·0.0005 = 0.0001, 0.25·0.0005 = 0.000125, 0.4·0.0005 = 0.0002
    assert wallet(led, "a", "BTC") == D(1) + D("0.05") - D("0.0001") - D("0.000125") - D("0.0002")
    assert led.conservation_error() is None


def test_isolated_margin_locked_released_and_funding_from_position_margin():
    led = make()
    led.apply("leverage_set", {"account": "a", "symbol": "BTCUSDT", "leverage": "20", "margin_mode": "isolated"}, 2)
    # IM = 0.5 × 60,000 / 20 = 1,500 moved to the position; fee 30,000 × 0.0005 = 15
    led.apply("fill", {"account": "a", "symbol": "BTCUSDT", "side": "buy", "size": "0.5", "price": "60000"}, 2)
    key = PositionKey("a", "BTCUSDT")
    assert led.isolated_margin(key) == 1500 and wallet(led, "a") == D(10000 - 1500 - 15)
    led.apply("fill", {"account": "b", "symbol": "BTCUSDT", "side": "sell", "size": "0.5", "price": "60000"}, 2)
    led.apply("mark", {"symbol": "BTCUSDT", "price": "61000"}, 3)
    # funding 0.01 % on 0.5 × 61,000 = 30,500 → 3.05 from a's isolated margin to b's wallet
    led.apply("funding", {"symbol": "BTCUSDT", "rate": "0.0001"}, 4)
    assert led.isolated_margin(key) == D("1496.95")
    # add 100 margin, then remove: removable = margin + min(upnl, 0) − IM at mark = 1,596.95 − 1,525 = 71.95
    led.apply("margin_added", {"account": "a", "symbol": "BTCUSDT", "amount": "100"}, 5)
    with pytest.raises(Rejected) as e:
        led.apply("margin_removed", {"account": "a", "symbol": "BTCUSDT", "amount": "72"}, 6)
    assert e.value.code == "insufficient_margin"
    led.apply("margin_removed", {"account": "a", "symbol": "BTCUSDT", "amount": "71.95"}, 6)
    # close half at 62,000: releases half the margin 1,525/2 = 762.5, pnl 0.25 × 2,000 = 500, fee 7.75
    r = led.apply("fill", {"account": "a", "symbol": "BTCUSDT", "side": "sell", "size": "0.25", "price": "62000"}, 7)
    assert D(r.details["margin_released"]) == D("762.5") and D(r.details["realized_pnl"]) == 500
    assert led.isolated_margin(key) == D("762.5")
    assert led.conservation_error() is None


def test_hedge_mode_legs_are_independent():
    led = make(hedge=True)
    led.apply("fill", {"account": "a", "symbol": "BTCUSDT", "side": "buy", "size": "0.1", "price": "60000",
                       "position_side": "long"}, 2)
    led.apply("fill", {"account": "a", "symbol": "BTCUSDT", "side": "sell", "size": "0.2", "price": "60000",
                       "position_side": "short"}, 2)
    assert led.positions[PositionKey("a", "BTCUSDT", PositionSide.LONG)].size == D("0.1")
    assert led.positions[PositionKey("a", "BTCUSDT", PositionSide.SHORT)].size == D("-0.2")
    with pytest.raises(Rejected) as e:
        led.apply("fill", {"account": "a", "symbol": "BTCUSDT", "side": "sell", "size": "0.2", "price": "60000",
                           "position_side": "long"}, 3)
    assert e.value.code == "reduce_exceeds_position"
    with pytest.raises(Rejected) as e:
        led.apply("fill", {"account": "a", "symbol": "BTCUSDT", "side": "sell", "size": "0.1", "price": "60000"}, 3)
    assert e.value.code == "invalid_field" and e.value.field == "position_side"


def test_funding_pool_nets_to_zero_with_imbalanced_open_interest():
    led = make()
    led.apply("fill", {"account": "a", "symbol": "ETHUSDT", "side": "buy", "size": "3", "price": "2000"}, 2)
    led.apply("fill", {"account": "b", "symbol": "ETHUSDT", "side": "sell", "size": "1", "price": "2000"}, 2)
    # rate −0.03 %: shorts pay longs. b pays 2,000 × 0.0003 = 0.6; a receives 6,000 × 0.0003 = 1.8;
    # the 1.2 difference is the outside counterparty's (clearing) share.
    r = led.apply("funding", {"symbol": "ETHUSDT", "rate": "-0.0003", "mark": "2000"}, 3)
    assert D(r.details["paid"]) == D("0.6") and D(r.details["received"]) == D("1.8")
    assert D(r.details["residual"]) == D("-1.2")
    assert led.book_balance("funding", "USDT") == 0
    assert led.conservation_error() is None


def test_withdrawal_keeps_initial_margin_and_excludes_unrealized_profit():
    led = make()
    led.apply("leverage_set", {"account": "a", "symbol": "BTCUSDT", "leverage": "5"}, 2)
    led.apply("fill", {"account": "a", "symbol": "BTCUSDT", "side": "buy", "size": "0.5", "price": "60000",
                       "liquidity": "maker"}, 2)
    led.apply("mark", {"symbol": "BTCUSDT", "price": "70000"}, 3)
    # wallet 10,000 − 6 (fee) = 9,994; IM at mark = 35,000 / 5 = 7,000; profit 5,000 excluded → 2,994
    assert led.withdrawable("a", "USDT") == D(2994)
    with pytest.raises(Rejected) as e:
        led.apply("withdrawal", {"account": "a", "asset": "USDT", "amount": "2994.00000001"}, 4)
    assert e.value.code == "insufficient_balance"
    led.apply("withdrawal", {"account": "a", "asset": "USDT", "amount": "2994"}, 4)
    assert wallet(led, "a") == 7000
    assert led.conservation_error() is None


def test_leverage_rules():
    led = make()
    # Binance BTCUSDT 2024: bracket 1 (0–50,000) allows 125x, bracket 2 (50,000–600,000) 100x; a 125x position
    # of 1 BTC at 60,000 (notional 60,000, bracket 2) is refused, 0.5 BTC (30,000, bracket 1) is accepted
    led.apply("leverage_set", {"account": "a", "symbol": "BTCUSDT", "leverage": "125"}, 2)
    with pytest.raises(Rejected) as e:
        led.apply("fill", {"account": "a", "symbol": "BTCUSDT", "side": "buy", "size": "1", "price": "60000"}, 3)
    assert e.value.code == "leverage_too_high"
    led.apply("fill", {"account": "a", "symbol": "BTCUSDT", "side": "buy", "size": "0.5", "price": "60000"}, 3)
    with pytest.raises(Rejected) as e:
        led.apply("fill", {"account": "a", "symbol": "BTCUSDT", "side": "buy", "size": "0.5", "price": "60000"}, 3)
    assert e.value.code == "leverage_too_high"
    with pytest.raises(Rejected) as e:
        led.apply("leverage_set", {"account": "a", "symbol": "BTCUSDT", "leverage": "126"}, 3)
    assert e.value.code == "leverage_too_high"
    # margin: 10,000 at 2x can open at most 20,000 − fees: 0.34 BTC @ 60,000 = 20,400 needs 10,200 IM
    led.apply("leverage_set", {"account": "b", "symbol": "BTCUSDT", "leverage": "2"}, 3)
    with pytest.raises(Rejected) as e:
        led.apply("fill", {"account": "b", "symbol": "BTCUSDT", "side": "buy", "size": "0.34", "price": "60000"}, 3)
    assert e.value.code == "insufficient_margin"


def test_order_margin_reduces_available_balance():
    led = make()
    led.apply("order_margin_reserved", {"account": "a", "order_id": "o1", "asset": "USDT", "amount": "9000"}, 2)
    assert led.available_balance("a", "USDT") == 1000 and led.withdrawable("a", "USDT") == 1000
    led.apply("order_margin_released", {"account": "a", "order_id": "o1"}, 3)
    assert led.available_balance("a", "USDT") == 10000


BAD: list[tuple[str, dict[str, Any], str]] = [
    ("deposit", {"account": "a", "asset": "USDT", "amount": "NaN"}, "invalid_number"),
    ("deposit", {"account": "a", "asset": "USDT", "amount": "inf"}, "invalid_number"),
    ("deposit", {"account": "a", "asset": "USDT", "amount": "-5"}, "invalid_number"),
    ("deposit", {"account": "a", "asset": "USDT", "amount": "0"}, "invalid_number"),
    ("deposit", {"account": "a", "asset": "USDT", "amount": "1e30"}, "invalid_number"),
    ("deposit", {"account": "a", "asset": "USDT", "amount": "0.000000001"}, "too_precise"),
    ("deposit", {"account": "a", "asset": "USDT", "amount": "abc"}, "invalid_number"),
    ("deposit", {"account": "a", "asset": "USDT"}, "missing_field"),
    ("deposit", {"account": "zz", "asset": "USDT", "amount": "1"}, "unknown_account"),
    ("deposit", {"account": "a", "asset": "XYZ", "amount": "1"}, "unknown_asset"),
    ("withdrawal", {"account": "a", "asset": "USDT", "amount": "10000.01"}, "insufficient_balance"),
    ("fill", {"account": "a", "symbol": "NOPE", "side": "buy", "size": "1", "price": "1"}, "unknown_symbol"),
    ("fill", {"account": "a", "symbol": "BTCUSDT", "side": "buy", "size": "0.1", "price": "0"}, "invalid_number"),
    ("fill", {"account": "a", "symbol": "BTCUSDT", "side": "buy", "size": "0.1", "price": "NaN"}, "invalid_number"),
    ("fill", {"account": "a", "symbol": "BTCUSDT", "side": "buy", "size": "-0.1", "price": "1"}, "invalid_number"),
    ("fill", {"account": "a", "symbol": "BTCUSDT", "side": "up", "size": "0.1", "price": "1"}, "invalid_field"),
    ("fill", {"account": "a", "symbol": "BTCUSDT", "side": "buy", "size": "0.0001", "price": "1"}, "invalid_lot"),
    ("fill", {"account": "a", "symbol": "BTCUSDT", "side": "buy", "size": "1", "price": "1", "reduce_only": True},
     "reduce_only_violation"),
    ("mark", {"symbol": "BTCUSDT", "price": "-1"}, "invalid_number"),
    ("mark", {"symbol": "NOPE", "price": "1"}, "unknown_symbol"),
    ("funding", {"symbol": "BTCUSDT", "rate": "5", "mark": "1"}, "invalid_number"),
    ("transfer", {"from": "a", "to": "a", "asset": "USDT", "amount": "1"}, "invalid_field"),
    ("account_opened", {"account": "a"}, "duplicate"),
    ("margin_added", {"account": "a", "symbol": "BTCUSDT", "amount": "1"}, "no_position"),
    ("nonsense", {}, "unknown_event_type"),
]


@pytest.mark.parametrize(("etype", "payload", "code"), BAD, ids=[f"{b[0]}-{b[2]}" for b in BAD])
def test_bad_input_is_rejected_with_its_code_and_changes_nothing(etype, payload, code):
    led = make()
    before = led.digest()
    with pytest.raises(Rejected) as e:
        led.apply(etype, payload, 5)
    assert e.value.code == code, str(e.value)
    assert led.digest() == before


def test_out_of_order_timestamp_is_rejected():
    led = make()
    led.apply("mark", {"symbol": "BTCUSDT", "price": "60000"}, 100)
    before = led.digest()
    with pytest.raises(Rejected) as e:
        led.apply("mark", {"symbol": "BTCUSDT", "price": "60001"}, 99)
    assert e.value.code == "out_of_order" and led.digest() == before


def test_snapshot_round_trip():
    led = make()
    led.apply("fill", {"account": "a", "symbol": "BTCUSDT", "side": "buy", "size": "0.1", "price": "60000"}, 2)
    clone = Ledger.from_snapshot(led.snapshot())
    assert clone.digest() == led.digest()
    assert clone.positions == led.positions
