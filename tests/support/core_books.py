"""Random ledger states for the core's differential tests: books over several venues' tier tables (Binance,
Bybit with inclusive caps, OKX whole-position contract tiers, Hyperliquid and dYdX in USDC, a small table whose
tiers random sizes cross), cross and isolated, one-way and hedge mode, with random marks including crashes and
symbols never marked (valued at the entry price).

A state is made as the ledger's own snapshot (``Ledger.from_snapshot``), so any state the ledger can hold is
reachable without replaying the fills that led to it.
"""

from __future__ import annotations

from decimal import Decimal as D
from typing import Any

from hypothesis import strategies as st

from margincall.ledger import Ledger, PositionKey
from margincall.model.enums import PositionSide
from margincall.risk.status import WatchId
from margincall.venues.market import MarketSpec, market_from_listing
from margincall.venues.profiles import get_venue

UNIT_DIGITS = 8


def _listing_from(venue: str, builtin: str, symbol: str) -> dict[str, Any]:
    """A listing of ``symbol`` with the instrument and newest tier table of ``venue``'s ``builtin`` market."""
    v = get_venue(venue)
    inst = v.markets[builtin].instrument
    table = v.tier_table(builtin, None)
    return {"venue": venue, "symbol": symbol, "kind": inst.kind.value, "contract_size": str(inst.contract_size),
            "tick_size": str(inst.tick_size), "lot_size": str(inst.lot_size), "settle_asset": inst.settle_asset,
            "tiers": [{"floor": str(t.floor), "cap": None if t.cap is None else str(t.cap), "mmr": str(t.mmr),
                       "max_leverage": str(t.max_leverage), "maintenance_amount": str(t.maintenance_amount)}
                      for t in table.tiers]}


#: symbol → (listing, a typical price)
MARKETS: dict[str, tuple[dict[str, Any], D]] = {
    "BTCUSDT": ({"venue": "binance-usdm", "symbol": "BTCUSDT"}, D(60000)),
    "ETHUSDT": ({"venue": "binance-usdm", "symbol": "ETHUSDT"}, D(3000)),
    "BYBITBTC": (_listing_from("bybit-linear", "BTCUSDT", "BYBITBTC"), D(60000)),
    "ETH-USDT-SWAP": ({"venue": "okx", "symbol": "ETH-USDT-SWAP"}, D(3000)),
    "BTC": ({"venue": "hyperliquid", "symbol": "BTC"}, D(60000)),
    "SOL": ({"venue": "hyperliquid", "symbol": "SOL"}, D(150)),
    "BTC-USD": ({"venue": "dydx", "symbol": "BTC-USD"}, D(60000)),
    "TINY": ({"venue": "generic", "symbol": "TINY", "kind": "linear", "contract_size": "1", "tick_size": "0.01",
              "lot_size": "0.1", "settle_asset": "USDT",
              "tiers": [{"floor": "0", "cap": "1000", "mmr": "0.01", "max_leverage": "50"},
                        {"floor": "1000", "cap": "5000", "mmr": "0.025", "max_leverage": "20"},
                        {"floor": "5000", "cap": None, "mmr": "0.1", "max_leverage": "5"}]}, D(25)),
}
SPECS: dict[str, MarketSpec] = {s: market_from_listing(listing) for s, (listing, _p) in MARKETS.items()}
#: Sizes (in lots) exactly at a tier floor of a contract-keyed table (OKX): where an inclusive cap decides the tier.
FLOOR_LOTS: dict[str, list[int]] = {
    s: ([int(t.floor / m.instrument.lot_size) for t in m.tiers.tiers[1:6]] if m.tiers.basis.value == "contracts"
        else [1]) for s, m in SPECS.items()}


def price_digits(symbol: str) -> int:
    """The core's price scale for ``symbol``: what the money unit leaves after the lot and contract size."""
    inst = SPECS[symbol].instrument
    return UNIT_DIGITS - _digits(inst.lot_size) - _digits(inst.contract_size)


def _digits(x: D) -> int:
    e = x.normalize().as_tuple().exponent
    assert isinstance(e, int)
    return max(0, -e)


@st.composite
def prices(draw: st.DrawFn, symbol: str, low: float = 0.05, high: float = 3.0) -> D:
    """A price of ``symbol``: its typical price × a factor in [low, high] (crashes included), at the core's
    price scale (finer than the tick, as venues publish marks), above zero."""
    typical = MARKETS[symbol][1]
    factor = D(draw(st.integers(min_value=int(low * 10_000), max_value=int(high * 10_000)))) / 10_000
    fine = draw(st.integers(min_value=0, max_value=999))  # digits below the tick
    pd = price_digits(symbol)
    p = (typical * factor).quantize(SPECS[symbol].instrument.tick_size) + D(fine).scaleb(-pd)
    return max(p.quantize(D(1).scaleb(-pd)), D(1).scaleb(-pd))


def moves(symbol: str) -> st.SearchStrategy[D]:
    """A mark of ``symbol``: mostly near its entries (where the bands are), or a crash to 5 %, or a rally to 3x."""
    return st.one_of(prices(symbol, 0.9, 1.1), prices(symbol, 0.9, 1.1), prices(symbol, 0.05, 0.9),
                     prices(symbol, 1.1, 3.0))


@st.composite
def _margin_for(draw: st.DrawFn, notional: D) -> D:
    """A margin (wallet or isolated) of ``notional`` × a fraction from 0.1 % to 100 % (tiers' MM rates are
    0.4 % … 10 %), plus a few units so that it is rarely round; at least one unit."""
    frac = D(draw(st.sampled_from([1, 3, 5, 8, 10, 15, 20, 30, 50, 100, 200, 500, 1000]))) / 1000
    extra = D(draw(st.integers(min_value=1, max_value=10**9))).scaleb(-UNIT_DIGITS)
    return (notional * frac).quantize(D(1).scaleb(-UNIT_DIGITS)) + extra


@st.composite
def snapshots(draw: st.DrawFn, max_accounts: int = 4) -> dict[str, Any]:
    """A ledger snapshot: a few accounts, each with a wallet per asset and 1 … 5 position legs."""
    symbols = sorted(MARKETS)
    n_acc = draw(st.integers(min_value=1, max_value=max_accounts))
    accounts: dict[str, bool] = {}
    balances: list[list[str]] = []
    positions: list[list[str]] = []
    for a in range(n_acc):
        acct = f"a{a}"
        hedge = draw(st.booleans())
        accounts[acct] = hedge
        legs = draw(st.lists(st.tuples(st.sampled_from(symbols), st.sampled_from(["long", "short"])),
                             min_size=1, max_size=5, unique_by=(lambda t: t[0]) if not hedge else (lambda t: t)))
        cross_notional = {"USDT": D(0), "USDC": D(0)}
        for sym, direction in legs:
            inst = SPECS[sym].instrument
            lots = draw(st.one_of(st.integers(min_value=1, max_value=100),
                                  st.integers(min_value=1, max_value=10**6), st.sampled_from(FLOOR_LOTS[sym])))
            size = inst.lot_size * lots * (1 if direction == "long" else -1)
            entry = draw(prices(sym, 0.95, 1.05))
            notional = abs(size) * inst.contract_size * entry
            side = direction if hedge else "both"
            iso = draw(st.booleans())
            lev = draw(st.sampled_from(["1", "2", "5", "10", "20", "50", "12.5"]))
            positions.append([acct, sym, side, str(size), str(entry), "isolated" if iso else "cross", lev])
            if iso:
                balances.append([f"isolated:{acct}:{sym}:{side}", inst.settle_asset,
                                 str(draw(_margin_for(notional)))])
            else:
                cross_notional[inst.settle_asset] += notional
        for asset, notional in cross_notional.items():
            if notional or draw(st.booleans()):
                balances.append([f"wallet:{acct}", asset, str(draw(_margin_for(notional)))])
    marks = {}
    for sym in symbols:
        if draw(st.integers(min_value=0, max_value=4)):  # one in five never marked: valued at entry
            marks[sym] = str(draw(moves(sym)))
    fund = draw(st.integers(min_value=0, max_value=10**14))
    if fund:
        balances.append(["insurance", "USDT", str(D(fund).scaleb(-UNIT_DIGITS))])
    settings = draw(st.lists(st.tuples(st.sampled_from(sorted(accounts)), st.sampled_from(symbols),
                                       st.sampled_from(["3", "10", "12.5"]), st.sampled_from(["cross", "isolated"])),
                             unique_by=lambda t: (t[0], t[1]), max_size=4))
    return {
        "unit": "1e-8", "markets": {s: MARKETS[s][0] for s in symbols}, "marks": marks, "accounts": accounts,
        "balances": balances, "positions": positions, "reserved": [],
        "leverage": [[a, s, lev] for a, s, lev, _m in settings], "modes": [[a, s, m] for a, s, _l, m in settings],
        "liquidating": [], "deposits": {}, "withdrawals": {}, "events_applied": 0, "last_ts": 0,
    }


def ledger_of(snapshot: dict[str, Any]) -> Ledger:
    return Ledger.from_snapshot(snapshot)


def watch_id(scope_isolated: bool, account: str, asset: str, symbol: str, side: str) -> WatchId:
    """The reference's :class:`WatchId` of a core watch."""
    if scope_isolated:
        return WatchId.isolated(PositionKey(account, symbol, PositionSide(side)))
    return WatchId.cross(account, asset)
