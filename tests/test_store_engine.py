"""The durable engine: input and caused events are logged together; recovery gives the same engine."""

from __future__ import annotations

from decimal import Decimal as D

from margincall.risk.engine import EngineConfig
from margincall.risk.executor import MarketExecutor
from margincall.store.engine import EngineFactory, open_engine
from margincall.store.journal import verify

CONFIG = EngineConfig(executor=MarketExecutor(slippage=D(0), impact_per_million=D(0)))


def setup(j) -> None:
    j.submit("market_listed", {"venue": "generic", "symbol": "BTCUSDT", "maker_fee": "0", "taker_fee": "0",
                               "tiers": [{"floor": "0", "cap": None, "mmr": "0.02", "max_leverage": "50"}]}, ts=1)
    j.submit("account_opened", {"account": "t"}, ts=1)
    j.submit("deposit", {"account": "t", "asset": "USDT", "amount": "1000"}, key="dep-1", ts=1)
    j.submit("leverage_set", {"account": "t", "symbol": "BTCUSDT", "leverage": "10"}, ts=1)
    j.submit("fill", {"account": "t", "symbol": "BTCUSDT", "side": "buy", "size": "1", "price": "10000"}, ts=2)


def test_liquidation_is_logged_with_its_mark_and_recovered(tmp_path):
    path = str(tmp_path / "engine.db")
    j = open_engine(path, CONFIG, snapshot_every=4)
    setup(j)
    ack = j.submit("mark", {"symbol": "BTCUSDT", "price": "9180"}, key="m-1", ts=3)
    kinds = [e.type for e in ack.caused]
    assert kinds == ["margin_call", "liquidation_started", "liquidation", "bankruptcy_settlement",
                     "liquidation_finished", "margin_call"]
    assert [e.seq for e in ack.caused] == list(range(ack.seq + 1, ack.seq + 7))
    # a repeat of the same mark with the same key changes nothing
    again = j.submit("mark", {"symbol": "BTCUSDT", "price": "9180"}, key="m-1", ts=3)
    assert again.duplicate and again.seq == ack.seq
    live = j.ledger.digest()
    j.log.close()

    j2 = open_engine(path, CONFIG)
    assert j2.ledger.digest() == live
    assert j2.ledger.ledger.wallet("t", "USDT") == 0
    report = verify(j2.log, EngineFactory(CONFIG))
    assert report.ok, report
    j2.log.close()
