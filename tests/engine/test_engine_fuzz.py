"""Any input — wrong types, missing fields, NaN, huge numbers, nested junk — gets a `Rejected` with a code (or
is applied), never another exception, and a refused input changes nothing."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from margincall.model.errors import MarginCallError
from margincall.risk.engine import RiskEngine

FIELDS = ["account", "symbol", "side", "size", "price", "amount", "asset", "rate", "leverage", "margin_mode",
          "position_side", "liquidity", "reduce_only", "order_id", "from", "to", "venue", "tiers", "mark", "key"]
TYPES = ["market_listed", "account_opened", "deposit", "withdrawal", "transfer", "fill", "mark", "funding",
         "margin_added", "margin_removed", "leverage_set", "order_margin_reserved", "order_margin_released",
         "insurance_fund_deposit", "position_mode_set", "margin_call", "liquidation", "nonsense"]
scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True, allow_infinity=True),
                    st.sampled_from(["BTCUSDT", "a", "b", "USDT", "buy", "sell", "1", "0", "-1", "NaN", "1e99",
                                     "0.0000000001", "60000", "cross", "isolated", "long", "short", "both", ""]),
                    st.text(max_size=8))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5),
                                                                                           inner, max_size=3),
                      max_leaves=6)
payloads = st.one_of(st.dictionaries(st.sampled_from(FIELDS), values, max_size=8), values)


def engine() -> RiskEngine:
    e = RiskEngine()
    e.process("market_listed", {"venue": "binance-usdm", "symbol": "BTCUSDT"}, 1)
    for a in ("a", "b"):
        e.process("account_opened", {"account": a}, 1)
        e.process("deposit", {"account": a, "asset": "USDT", "amount": "100000"}, 1)
    e.process("fill", {"account": "a", "symbol": "BTCUSDT", "side": "buy", "size": "1", "price": "60000"}, 1)
    e.process("mark", {"symbol": "BTCUSDT", "price": "60000"}, 1)
    return e


ENGINE = engine()


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
@given(etype=st.sampled_from(TYPES), payload=payloads, ts=st.one_of(st.integers(min_value=-5, max_value=10),
                                                                    st.floats(), st.none(), st.text(max_size=3)))
def test_bad_input_is_refused_with_a_code_and_changes_nothing(etype: str, payload: Any, ts: Any) -> None:
    e = ENGINE
    before = e.digest()
    try:
        e.process(etype, payload, ts)
    except MarginCallError as exc:
        assert exc.code and isinstance(exc.code, str)
        assert e.digest() == before, f"{etype} {payload!r} was refused but changed the state"
    assert e.conservation_error() is None
