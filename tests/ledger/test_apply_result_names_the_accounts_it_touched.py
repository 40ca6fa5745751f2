"""``ApplyResult.accounts``: the one answer to "which accounts did this event touch" — the accounts its payload
names, then every other account whose state its transaction changed. For a logged event (no result object) the
payload's names (``accounts_of``) are the same answer for every event but the symbol-wide ones."""

from __future__ import annotations

from decimal import Decimal as D

from margincall.ledger import Ledger, accounts_of
from margincall.risk.engine import EngineConfig, RiskEngine
from margincall.risk.events import register
from margincall.risk.executor import MarketExecutor

TIERS = [{"floor": "0", "cap": None, "mmr": "0.02", "max_leverage": "50"}]
LISTING = {"venue": "generic", "symbol": "BTCUSDT", "maker_fee": "0", "taker_fee": "0", "liquidation_fee": "0",
           "tiers": TIERS}
SYMBOL_WIDE = frozenset({"market_listed", "mark", "marks", "funding"})


def _ledger() -> Ledger:
    led = Ledger()
    led.apply("market_listed", LISTING, 1)
    led.apply("mark", {"symbol": "BTCUSDT", "price": "100"}, 1)
    for acct in ("a", "b", "c"):
        led.apply("account_opened", {"account": acct}, 1)
        led.apply("deposit", {"account": acct, "asset": "USDT", "amount": "1000"}, 1)
    return led


def test_a_transfer_touches_both_accounts_and_a_fill_its_own() -> None:
    led = _ledger()
    assert led.apply("transfer", {"from": "b", "to": "a", "asset": "USDT", "amount": "5"}, 2).accounts == ("b", "a")
    # the fill's other side is the clearing book, not an account
    assert led.apply("fill", {"account": "a", "symbol": "BTCUSDT", "side": "buy", "size": "1", "price": "100"},
                     2).accounts == ("a",)
    # a mark changes no account
    assert led.apply("mark", {"symbol": "BTCUSDT", "price": "101"}, 2).accounts == ()


def test_funding_names_no_account_and_touches_every_holder() -> None:
    led = _ledger()
    led.apply("fill", {"account": "c", "symbol": "BTCUSDT", "side": "buy", "size": "1", "price": "100"}, 2)
    led.apply("fill", {"account": "a", "symbol": "BTCUSDT", "side": "sell", "size": "2", "price": "100"}, 2)
    result = led.apply("funding", {"symbol": "BTCUSDT", "rate": "0.001"}, 3)
    # c (long) pays 100 × 0.001 = 0.1, a (short) receives 0.2; b holds nothing: the holders, by name
    assert accounts_of({"symbol": "BTCUSDT", "rate": "0.001"}) == []
    assert result.accounts == ("a", "c")


def test_every_event_of_a_crash_with_adl_names_what_it_touched() -> None:
    # a (long 10 at 100 with 100 USDT) crashes to 80: equity 100 − 200 = −100, no insurance fund. Bankruptcy
    # price 80 + 100 / 10 = 90: ADL takes the shorts entered above 90 (b 4, c 1); the other 5 close against the
    # venue (e's short entered at 85 is in profit at the mark only)
    e = RiskEngine(EngineConfig(executor=MarketExecutor(slippage=D(0), impact_per_million=D(0)),
                                last_resort="socialize", screener="holders"))
    e.process("market_listed", LISTING, 1)
    e.process("mark", {"symbol": "BTCUSDT", "price": "100"}, 1)
    for acct, usdt in (("a", "100"), ("b", "1000"), ("c", "1000"), ("d", "1000"), ("e", "1000")):
        e.process("account_opened", {"account": acct}, 1)
        e.process("deposit", {"account": acct, "asset": "USDT", "amount": usdt}, 1)
    e.process("leverage_set", {"account": "a", "symbol": "BTCUSDT", "leverage": "20"}, 1)
    fills = [("a", "buy", "10", "100"), ("b", "sell", "4", "100"), ("c", "sell", "6", "100"),
             ("c", "buy", "5", "100"), ("d", "buy", "2", "85"), ("e", "sell", "2", "85")]
    for acct, side, size, price in fills:
        e.process("fill", {"account": acct, "symbol": "BTCUSDT", "side": side, "size": size, "price": price}, 1)
    applied = e.process("mark", {"symbol": "BTCUSDT", "price": "80"}, 2)
    kinds = {a.type for a in applied}
    assert {"liquidation_started", "adl", "liquidation", "bankruptcy_settlement"} <= kinds
    for a in applied:
        if a.type in SYMBOL_WIDE:
            assert a.result.accounts == ()
        else:  # the payload names every account the event changed, and the result says so in the same order
            assert a.result.accounts == tuple(accounts_of(a.payload)), a.type
    # each adl reduced a short and names the bankrupt a, whose state it did not change
    assert [a.result.accounts for a in applied if a.type == "adl"] == [("b", "a"), ("c", "a")]


def test_a_socialized_loss_touches_the_accounts_that_pay_a_share() -> None:
    led = register(_ledger())
    result = led.apply("socialized_loss", {"liquidation_id": "L1", "asset": "USDT", "symbol": "BTCUSDT",
                                           "loss": "3", "shares": [{"account": "c", "amount": "2"},
                                                                   {"account": "a", "amount": "1"}]}, 2)
    assert result.accounts == ("c", "a")
