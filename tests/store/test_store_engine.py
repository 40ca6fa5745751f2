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


def test_an_engine_fault_is_not_acknowledged_and_memory_is_rebuilt_from_the_log(tmp_path, monkeypatch):
    import pytest

    from margincall.risk.engine import EngineFault, RiskEngine
    from margincall.store.journal import replay

    j = open_engine(str(tmp_path / "engine.db"), CONFIG)
    setup(j)
    before, last = j.ledger.digest(), j.last_seq

    def broken(self, watches):  # the mark is applied, then the engine's reaction fails
        raise RuntimeError("boom")

    monkeypatch.setattr(RiskEngine, "_check", broken)
    with pytest.raises(EngineFault):
        j.submit("mark", {"symbol": "BTCUSDT", "price": "9180"}, ts=3)
    monkeypatch.undo()
    assert j.last_seq == last  # nothing logged
    assert j.ledger.digest() == before == replay(j.log, EngineFactory(CONFIG)).digest()
    assert j.ledger.ledger.marks.get("BTCUSDT") is None  # the in-memory mark was rolled back
    j.log.close()
