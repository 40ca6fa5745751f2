"""Read models: the engine's state and stored events as JSON, and who may see which event.

Visibility (the contract's role rules, applied to ``GET /v1/events`` and the WebSocket stream alike):

* ``admin`` sees every event in full.
* ``trader`` sees the events that concern its own account (``account``, ``from`` or ``to`` is it; a
  ``socialized_loss`` it pays a share of, with the other accounts' shares removed and no postings); an ADL
  event that reduced the trader keeps no trace of the bankrupt account, and the bankrupt account's trader does
  not see whom its position was deleveraged against (the ADL events of other accounts that name it).
* ``viewer`` sees the public liquidation feed — ``liquidation``, ``partial_liquidation`` and ``adl`` — with
  every account id, the idempotency key and the postings removed.
* Marks and insurance-fund balance changes are market data / aggregates: every role may stream them.

Numbers are decimal strings (``format(d, "f")``: never exponent notation).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from margincall.api.keys import Principal, Role
from margincall.ledger import ACCOUNT_FIELDS, accounts_of
from margincall.ledger.types import INSURANCE, wallet_book
from margincall.risk.engine import RiskEngine
from margincall.risk.margin_call import Band
from margincall.risk.status import WatchId, bankruptcy_price, liquidation_price, status, watches_for
from margincall.store.log import StoredEvent

PUBLIC_TYPES = frozenset({"liquidation", "partial_liquidation", "adl"})
#: The pseudo event type of ``GET /v1/events?type=``: every event whose result moved the insurance fund.
FUND_TYPE = "insurance_fund"
_ACCOUNT_FIELDS = (*ACCOUNT_FIELDS, "shares")


def dec(d: Decimal | None) -> str | None:
    return None if d is None else format(d, "f")


# -- events ---------------------------------------------------------------------------------------------------


def concerns(payload: Mapping[str, Any], account: str) -> bool:
    """Whether an event with ``payload`` is about ``account``: one of the accounts it names
    (:func:`margincall.ledger.accounts_of`, the logged form of :attr:`margincall.ledger.ApplyResult.accounts`)."""
    return account in accounts_of(payload)


def event_dict(ev: StoredEvent) -> dict[str, Any]:
    """A stored event as the API shows it (before :func:`view_event`)."""
    return {"seq": ev.seq, "ts": ev.ts, "type": ev.type, "key": ev.key, "payload": ev.payload, "result": ev.result}


def view_event(ev: Mapping[str, Any], who: Principal) -> dict[str, Any] | None:
    """``ev`` (seq, ts, type, key, payload, result) as ``who`` may see it, or None."""
    if who.role is Role.ADMIN:
        return dict(ev)
    payload: Mapping[str, Any] = ev["payload"]
    if who.role is Role.TRADER:
        acct = who.account
        # An ADL of another account names the trader's bankrupt account: it does not learn who was deleveraged.
        if acct is None or not concerns(payload, acct) or payload.get("bankrupt_account") == acct:
            return None
        seen = {**ev, "key": client_key(ev.get("key"))}
        if ev["type"] == "socialized_loss":
            mine = [s for s in payload.get("shares", []) if isinstance(s, Mapping) and s.get("account") == acct]
            return {**seen, "payload": {**payload, "shares": mine}, "result": None}
        if payload.get("bankrupt_account") not in (None, acct):  # no trace of the other party, anywhere
            result = ev.get("result")
            return {**seen, "payload": _without(payload, "bankrupt_account"),
                    "result": _without(result, "bankrupt_account") if isinstance(result, Mapping) else result}
        return seen
    if who.role is Role.VIEWER and ev["type"] in PUBLIC_TYPES:
        return {"seq": ev["seq"], "ts": ev["ts"], "type": ev["type"],
                "payload": {k: v for k, v in payload.items() if k not in _ACCOUNT_FIELDS}}
    return None


def _without(d: Mapping[str, Any], *names: str) -> dict[str, Any]:
    return {k: v for k, v in d.items() if k not in names}


def client_key(key: str | None) -> str | None:
    """An idempotency key as its client sent it: without the ``<principal>/`` scope the service stores it under."""
    return key.split("/", 1)[1] if key is not None and "/" in key else key


# -- insurance fund --------------------------------------------------------------------------------------------


class InsuranceHistory:
    """The insurance fund's balance per asset after every event that moved it, folded from the postings."""

    def __init__(self, maxlen: int = 10_000) -> None:
        self.maxlen = maxlen
        self.balances: dict[str, Decimal] = {}
        self.history: dict[str, deque[tuple[int, str]]] = {}

    def fold(self, ts: int, result: Mapping[str, Any] | None) -> dict[str, tuple[Decimal, Decimal]]:
        """Apply one event's postings; returns {asset: (change, balance)} for the assets it moved."""
        changes: dict[str, Decimal] = {}
        for p in (result or {}).get("postings", ()):
            sign = 1 if p.get("to") == INSURANCE else -1 if p.get("from") == INSURANCE else 0
            if sign:
                changes[p["asset"]] = changes.get(p["asset"], Decimal(0)) + sign * Decimal(p["amount"])
        out = {}
        for asset, change in changes.items():
            bal = self.balances.get(asset, Decimal(0)) + change
            self.balances[asset] = bal
            self.history.setdefault(asset, deque(maxlen=self.maxlen)).append((ts, format(bal, "f")))
            out[asset] = (change, bal)
        return out

    def fold_all(self, events: Iterable[Any]) -> None:
        for ev in events:
            self.fold(ev.ts, ev.result)


# -- state ---------------------------------------------------------------------------------------------------


def _band(engine: RiskEngine, watch: WatchId) -> str:
    return engine.bands.get(watch, Band.HEALTHY).label


def markets_view(engine: RiskEngine) -> list[dict[str, Any]]:
    led = engine.ledger
    out = []
    for symbol, m in sorted(led.markets.items()):
        inst = m.instrument
        out.append({
            "symbol": symbol, "venue": m.venue, "kind": inst.kind.value, "settle_asset": inst.settle_asset,
            "contract_size": dec(inst.contract_size), "tick_size": dec(inst.tick_size),
            "lot_size": dec(inst.lot_size), "max_leverage": dec(m.tiers.max_leverage),
            "maker_fee": dec(m.maker_fee), "taker_fee": dec(m.taker_fee),
            "liquidation_fee": dec(m.liquidation_fee), "mark": dec(led.mark(symbol)),
            "open_positions": len(led.by_symbol.get(symbol, ())),
        })
    return out


def _status_view(engine: RiskEngine, watch: WatchId) -> dict[str, Any]:
    st = status(engine.ledger, watch)
    return {"equity": dec(st.equity), "maintenance_margin": dec(st.maintenance_margin),
            "margin_ratio": dec(st.ratio) if st.positions else "0", "band": _band(engine, watch),
            "liquidating": watch in engine.active}


def account_view(engine: RiskEngine, account: str) -> dict[str, Any] | None:
    """Wallet, equity, MM, margin ratio (MM / equity; null = infinite), band, available and withdrawable per
    settle asset (cross), and each isolated position's own margin status; None for an unknown account."""
    led = engine.ledger
    if account not in led.accounts:
        return None
    book = wallet_book(account)
    assets = {m.instrument.settle_asset for m in led.markets.values()}
    assets |= {a for (b, a) in led.balances if b == book}
    cross = {}
    for asset in sorted(assets):
        watch = WatchId.cross(account, asset)
        cross[asset] = {"wallet": dec(led.wallet(account, asset)), **_status_view(engine, watch),
                        "available": dec(led.available_balance(account, asset)),
                        "withdrawable": dec(led.withdrawable(account, asset))}
    isolated = []
    for pos in led.positions_of(account):
        if pos.is_isolated:
            watch = WatchId.isolated(pos.key)
            isolated.append({"symbol": pos.key.symbol, "position_side": pos.key.position_side.value,
                             "margin": dec(led.isolated_margin(pos.key)), **_status_view(engine, watch)})
    return {"account": account, "position_mode": "hedge" if led.accounts[account] else "one_way",
            "assets": cross, "isolated": isolated}


def positions_view(engine: RiskEngine, account: str) -> list[dict[str, Any]] | None:
    led = engine.ledger
    if account not in led.accounts:
        return None
    out = []
    for pos in led.positions_of(account):
        symbol = pos.key.symbol
        mark = led.mark(symbol)
        price = mark if mark is not None else pos.entry_price
        watch = watches_for(led, pos.key)
        out.append({
            "symbol": symbol, "position_side": pos.key.position_side.value,
            "side": "long" if pos.size > 0 else "short", "size": dec(abs(pos.size)),
            "entry_price": dec(pos.entry_price), "mark": dec(mark), "margin_mode": pos.margin_mode.value,
            "leverage": dec(pos.leverage), "notional": dec(led.position_notional(pos, price)),
            "unrealized_pnl": dec(led.position_upnl(pos, price)),
            "initial_margin": dec(led.position_im(pos, price)),
            "maintenance_margin": dec(led.position_mm(pos, price)),
            "isolated_margin": dec(led.isolated_margin(pos.key)) if pos.is_isolated else None,
            "liquidation_price": dec(liquidation_price(led, watch, symbol)),
            "bankruptcy_price": dec(bankruptcy_price(led, watch, symbol)),
            "band": _band(engine, watch),
        })
    return out


def risk_view(engine: RiskEngine, limit: int) -> list[dict[str, Any]]:
    """Watches holding positions, most at risk first: margin ratio MM / equity descending, equity ≤ 0
    (infinite ratio) before all (:meth:`RiskEngine.most_at_risk`)."""
    return [{"account": st.watch.account, "scope": st.watch.scope, "what": st.watch.what, "equity": dec(st.equity),
             "maintenance_margin": dec(st.maintenance_margin), "margin_ratio": dec(st.ratio),
             "band": _band(engine, st.watch), "liquidating": st.watch in engine.active,
             "positions": [p.key.symbol for p in st.positions]}
            for st in engine.most_at_risk(limit)]


def risk_summary(engine: RiskEngine) -> dict[str, Any]:
    """Aggregates any role may see: watches per band, liquidations in progress, the engine's counters."""
    counts = {b.label: 0 for b in Band}
    for b in engine.bands.values():
        counts[b.label] += 1
    led = engine.ledger
    counts["healthy"] = len({watches_for(led, k) for k in led.positions}) - sum(
        v for k, v in counts.items() if k != "healthy")
    counts["healthy"] = max(counts["healthy"], 0)
    return {"accounts": len(led.accounts), "positions": len(led.positions), "bands": counts,
            "liquidating": len(engine.active), "metrics": engine.metrics.as_dict()}
