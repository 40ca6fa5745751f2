"""Random input sequences for the core's input tests: fills (opens, increases at the entry price, reductions, closes,
flips, refused ones: reduce-only, beyond a hedge leg, too large for the tier table, too little margin, off the lot,
unknown account), deposits, withdrawals and transfers (exactly the withdrawable, one unit more, more), the insurance
fund's capital and funding payments, over a ledger made by :func:`support.core_books.snapshots`; and the ledger's
state keyed as ``core.loader.reference_values`` keys the core's.
"""

from __future__ import annotations

from decimal import Decimal as D
from typing import Any

from hypothesis import strategies as st

from margincall.ledger import Ledger
from support.core_books import SPECS, moves

ASSETS = ("USDT", "USDC")


def ledger_values(led: Ledger) -> dict[str, Any]:
    """The ledger's state as ``reference_values`` gives the core's."""
    return {
        "balances": dict(led.balances),
        "positions": {(k.account, k.symbol, k.position_side.value): (p.size, p.entry_price, p.is_isolated, p.leverage)
                      for k, p in led.positions.items()},
        "deposits": {a: v for a, v in led.deposits.items() if v},
        "withdrawals": {a: v for a, v in led.withdrawals.items() if v},
        "marks": dict(led.marks),
    }


def averages(led: Ledger, payload: dict[str, Any]) -> bool:
    """Whether the fill ``payload`` increases a position at a price other than its entry (the core refuses it)."""
    if payload["account"] not in led.accounts or payload["symbol"] not in led.markets:
        return False
    key = led.position_key(payload["account"], payload["symbol"], payload)
    pos = led.positions.get(key)
    if pos is None:
        return False
    buy = payload["side"] == "buy"
    return (pos.size > 0) == buy and D(payload["price"]) != pos.entry_price


@st.composite
def fill_payload(draw: st.DrawFn, led: Ledger) -> dict[str, Any]:
    acct = draw(st.sampled_from(sorted(led.accounts)))
    held = sorted((k for k in led.positions if k.account == acct), key=lambda k: (k.symbol, k.position_side.value))
    if held and draw(st.integers(0, 3)):
        k = draw(st.sampled_from(held))
        symbol, leg = k.symbol, k.position_side.value
    else:
        symbol = draw(st.sampled_from(sorted(SPECS)))
        leg = draw(st.sampled_from(["long", "short"])) if led.accounts[acct] else "both"
    key = led.position_key(acct, symbol, {"position_side": leg} if led.accounts[acct] else {})
    pos = led.positions.get(key)
    lot = SPECS[symbol].instrument.lot_size
    cur = 0 if pos is None else int(abs(pos.size) / lot)
    lots = draw(st.one_of(st.integers(1, 200), st.integers(1, 10**6),
                          st.sampled_from([max(cur, 1), max(cur // 3, 1), cur + 7, 2 * cur + 1])))
    side = draw(st.sampled_from(["buy", "sell"]))
    increases = pos is not None and (pos.size > 0) == (side == "buy")
    at_entry = increases and draw(st.integers(0, 5))
    price = pos.entry_price if at_entry and pos is not None else draw(moves(symbol))
    size = lot * lots
    if not draw(st.integers(0, 30)):
        size = size + lot / 2 if lot > D("1e-7") else size  # off the lot
    payload: dict[str, Any] = {"account": acct, "symbol": symbol, "side": side, "size": format(size, "f"),
                               "price": format(price, "f"), "liquidity": draw(st.sampled_from(["maker", "taker"]))}
    if led.accounts[acct]:
        payload["position_side"] = leg
    if not draw(st.integers(0, 6)):
        payload["reduce_only"] = True
    if not draw(st.integers(0, 40)):
        payload["account"] = "nobody"
    return payload


@st.composite
def money_payload(draw: st.DrawFn, led: Ledger, withdrawal: bool) -> dict[str, Any]:
    acct = draw(st.sampled_from(sorted(led.accounts)))
    asset = draw(st.sampled_from(ASSETS))
    if withdrawal:
        free = led.withdrawable(acct, asset)
        unit = D("1e-8")
        amount = draw(st.sampled_from([free.quantize(unit, "ROUND_FLOOR"), free.quantize(unit, "ROUND_FLOOR") + unit,
                                       (free / 2).quantize(unit), free + 1000, D(7)]))
    else:
        amount = D(draw(st.integers(1, 10**16))).scaleb(-8)
    if amount <= 0:
        amount = D("0.00000001")
    return {"account": acct, "asset": asset, "amount": format(amount, "f")}


@st.composite
def transfer_payload(draw: st.DrawFn, led: Ledger) -> dict[str, Any]:
    """Wallet to wallet: mostly within the withdrawable of the source; now and then to itself (refused)."""
    payload = draw(money_payload(led, True))
    src = payload.pop("account")
    others = sorted(a for a in led.accounts if a != src)
    dst = src if not others or not draw(st.integers(0, 9)) else draw(st.sampled_from(others))
    return {"from": src, "to": dst, **payload}


@st.composite
def funding_payload(draw: st.DrawFn, led: Ledger) -> dict[str, Any]:
    symbol = draw(st.sampled_from(sorted({k.symbol for k in led.positions} or set(SPECS))))
    rate = D(draw(st.integers(-300_000, 300_000))).scaleb(-8)
    payload: dict[str, Any] = {"symbol": symbol, "rate": format(rate, "f")}
    if draw(st.booleans()):
        payload["mark"] = format(draw(moves(symbol)), "f")
    return payload
