"""The inverses of pnl_of and notional (math.contracts), checked by going round the forward formulas."""

from __future__ import annotations

from decimal import Decimal as D

from hypothesis import given
from hypothesis import strategies as st

from margincall.math.contracts import contracts_for_amount, notional_of, pnl_of, price_after_pnl
from margincall.model.enums import ContractKind


def test_hand_computed():
    # linear long 2 BTC at mark 10,000: a PnL 500 lower is at 10,000 − 500/2 = 9,750
    assert price_after_pnl(ContractKind.LINEAR, 1, D(2), D(10000), D(-500)) == 9750
    # inverse long $10,000 at 50,000 with equity −… : 1/P = 1/45,900 + E/10,000 gives the bankruptcy price
    # 10,000/0.22 when E = 0.22 − 10,000/45,900 (the coin-margined scenario's numbers)
    e = D("0.22") - D(10000) / D(45900)
    p = price_after_pnl(ContractKind.INVERSE, 1, D(10000), D(45900), -e)
    assert p is not None and abs(p - D(10000) / D("0.22")) < D("1e-18")
    # a linear long cannot gain more than to price 0: none
    assert price_after_pnl(ContractKind.LINEAR, 1, D(1), D(100), D(-150)) is None
    # 100,000 USDT at 50,000 per 0.001-BTC contract: 2,000 contracts; inverse $100 contracts, 1 BTC at 50,000: 500
    assert contracts_for_amount(ContractKind.LINEAR, D(100000), D(50000), D("0.001")) == 2000
    assert contracts_for_amount(ContractKind.INVERSE, D(1), D(50000), D(100)) == 500


prices = st.decimals(min_value=1, max_value=100000, places=2)


@given(kind=st.sampled_from(list(ContractKind)), sign=st.sampled_from([1, -1]), qty=prices, mark=prices,
       target=prices)
def test_price_after_pnl_inverts_pnl_of(kind, sign, qty, mark, target):
    change = pnl_of(kind, sign, qty, mark, target)  # PnL of moving from mark to target
    back = price_after_pnl(kind, sign, qty, mark, change)
    assert back is not None and abs(back - target) <= target * D("1e-20")


@given(kind=st.sampled_from(list(ContractKind)), contracts=prices, price=prices, cs=st.sampled_from([D("0.001"),
                                                                                                      D(1), D(100)]))
def test_contracts_for_amount_inverts_notional(kind, contracts, price, cs):
    amount = notional_of(kind, contracts * cs, price)
    assert abs(contracts_for_amount(kind, amount, price, cs) - contracts) <= contracts * D("1e-20")
