"""Explain a liquidation: the chain of logged events that led to it, each number with the formula that made it.

Works on any iterable of logged events (``seq``, ``ts``, ``type``, ``payload``, ``result``) — the durable log
of :mod:`margincall.store`, or the ``Applied`` events the engine returned.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from margincall.ledger import accounts_of

#: Which function produced each number an event carries (by event type, then field).
FORMULAS: dict[str, dict[str, str]] = {
    "_common": {
        "equity": "wallet (or isolated margin) + Σ uPnL at the mark — math.contracts.pnl_of (docs/venues.md §3.2)",
        "maintenance_margin": "Σ notional × MMR(tier) − cum(tier), tier at the mark — math.margin.maintenance_margin "
                              "(docs/venues.md §2.1)",
        "margin_ratio": "MM / equity — math.margin.margin_ratio_mm_over_equity (docs/venues.md §0)",
    },
    "margin_call": {
        "band": "bands on MM/equity with hysteresis — risk.margin_call.BandConfig.next_band",
        "liquidation_marks": "the mark where equity = MM, others fixed — venues.rules.<venue>.cross_liquidation_price"
                             " / isolated_liquidation_price",
        "deposit_to_healthy": "MM / (warning − hysteresis) − equity — risk.margin_call.BandConfig.deposit_to_healthy",
    },
    "partial_liquidation": {
        "size": "the venue's partial rule (tier step-down / 20 % steps) — venues.partial, on the venue profile",
        "price": "executor fill: mark × (1 ∓ slippage − impact) — risk.executor.MarketExecutor",
        "liquidation_fee": "notional × liquidation fee rate — math.trade.trading_fee (docs/venues.md §3.8)",
        "realized_pnl": "closed quantity × (price − entry) — math.trade.realized_pnl",
    },
    "liquidation": {
        "bankruptcy_price": "the price where the equity is exactly 0 (deficit shared by notional) — math.liquidation."
                            "bankruptcy_prices_sharing_equity_pro_rata_to_notional (docs/venues.md §3.5)",
        "close_price": "the executor's fill (ADL: the bankruptcy price) — risk.executor, risk.events._liquidation",
        "price": "executor fill — risk.executor",
        "realized_pnl": "math.trade.realized_pnl at the close price",
    },
    "bankruptcy_settlement": {
        "liquidation_fee": "min(remaining equity, Σ notional × liquidation fee rate rounded up) — "
                           "math.liquidation.liquidation_fee_rounded_up, risk.events._settle",
        "surplus": "remaining equity above bankruptcy, to the insurance fund — risk.events._settle",
        "insurance_paid": "deficit below bankruptcy paid by the fund — risk.events._settle",
        "venue_absorbed": "deficit the fund could not pay — risk.events._settle",
    },
    "adl": {
        "score": "the venue's ADL ranking — venues.adl, on the venue profile",
        "price": "the bankrupt position's bankruptcy price (docs/venues.md §3.8)",
        "realized_pnl": "math.trade.realized_pnl at the bankruptcy price",
    },
    "fill": {
        "realized_pnl": "math.trade.realized_pnl",
        "fee": "notional × maker/taker rate — math.trade.trading_fee",
        "entry_price": "quantity-weighted (linear) or harmonic (inverse) average — math.trade.average_entry",
    },
    "funding": {"paid": "notional at the mark × rate — math.funding.funding_payment (docs/venues.md §3.7)"},
}

_SHOWN = ("symbol", "side", "size", "price", "mark", "band", "previous_band", "equity", "maintenance_margin",
          "margin_ratio", "liquidation_marks", "deposit_to_healthy", "reason", "tier_before", "tier_after",
          "close_price", "bankruptcy_price", "liquidation_fee", "fee", "realized_pnl",
          "surplus", "insurance_paid", "venue_absorbed", "score", "rank", "ranking", "mode", "outcome", "amount",
          "rate", "paid", "received", "entry_price", "position_size")
_RISK = {"margin_call", "liquidation_started", "partial_liquidation", "liquidation", "adl", "socialized_loss",
         "bankruptcy_settlement", "liquidation_finished"}


@dataclass(frozen=True)
class Number:
    name: str
    value: Any
    formula: str | None


@dataclass(frozen=True)
class Step:
    seq: int
    ts: int
    type: str
    numbers: tuple[Number, ...] = field(default_factory=tuple)
    #: The settle asset the step's money is in, when the log says (a cross watch's asset, a symbol's market).
    asset: str | None = None


def _field(e: Any, name: str) -> Any:
    return e[name] if isinstance(e, Mapping) else getattr(e, name)


def _data(e: Any) -> dict[str, Any]:
    """An event's numbers: its payload, and what applying it produced on top (a settlement's liquidation fee is
    what the account could pay, not the nominal fee its payload asked for)."""
    return {**dict(_field(e, "payload") or {}), **dict(_field(e, "result") or {})}


def _involves(account: str, etype: str, data: Mapping[str, Any]) -> bool:
    """Whether the event concerns ``account``: one of the accounts it names
    (:func:`margincall.ledger.accounts_of`, the logged form of :attr:`margincall.ledger.ApplyResult.accounts`)."""
    return account in accounts_of(data)


def explain(events: Iterable[Any], account: str, *, liquidation_id: str | None = None) -> list[Step]:
    """The events that involve ``account`` — and the marks that moved its symbols just before an engine event —
    up to the end of its last (or the given) liquidation, each with its numbers and their formulas."""
    steps: list[Step] = []
    held: set[str] = set()
    pending_marks: dict[str, Step] = {}
    settle: dict[str, str] = {}
    for e in events:
        etype = _field(e, "type")
        payload = dict(_field(e, "payload") or {})
        data = _data(e)
        seq, ts = int(_field(e, "seq")), int(_field(e, "ts"))
        if etype == "market_listed" and data.get("settle_asset"):
            settle[str(data["symbol"])] = str(data["settle_asset"])
        if etype == "mark":
            if data.get("symbol") in held:
                pending_marks[str(data["symbol"])] = _step(seq, ts, etype, data)
            continue
        if etype == "marks":  # a multi-symbol tick: shown as the marks of the account's symbols
            for m in payload.get("marks") or ():
                if isinstance(m, Mapping) and m.get("symbol") in held:
                    pending_marks[str(m["symbol"])] = _step(seq, ts, "mark", m)
            continue
        if not _involves(account, etype, data):
            continue
        if liquidation_id is not None and etype in _RISK and data.get("liquidation_id") not in (None, liquidation_id):
            continue
        if etype in _RISK and pending_marks:
            steps.extend(sorted(pending_marks.values(), key=lambda s: s.seq))
            pending_marks.clear()
        if etype == "fill" and data.get("account") == account and data.get("symbol"):
            held.add(str(data["symbol"]))
        steps.append(_step(seq, ts, etype, data, _asset(data, settle)))
    return steps


def _asset(data: Mapping[str, Any], settle: Mapping[str, str]) -> str | None:
    if data.get("asset"):
        return str(data["asset"])
    if data.get("scope") == "cross" and data.get("what"):
        return str(data["what"])
    if data.get("scope") == "isolated" and data.get("what"):
        return settle.get(str(data["what"]).rsplit(":", 1)[0])
    return settle.get(str(data.get("symbol")))


def _step(seq: int, ts: int, etype: str, data: Mapping[str, Any], asset: str | None = None) -> Step:
    formulas = {**FORMULAS["_common"], **FORMULAS.get(etype, {})}
    nums = tuple(Number(k, data[k], formulas.get(k)) for k in _SHOWN if data.get(k) not in (None, "", {}, []))
    return Step(seq, ts, etype, nums, asset)


def liquidation_ids(events: Iterable[Any], account: str) -> list[str]:
    return [str(_field(e, "payload")["liquidation_id"]) for e in events
            if _field(e, "type") == "liquidation_started" and _field(e, "payload").get("account") == account]


@dataclass(frozen=True)
class LiquidationStory:
    """One liquidation as it happened: when it started, at which marks, the equity against the maintenance
    margin then, and every event of its waterfall in order (``steps``: type and numbers), with the settle asset
    its money is in."""

    liquidation_id: str
    account: str
    ts: int
    scope: str
    what: str
    asset: str
    marks: dict[str, str]
    equity: str
    maintenance_margin: str
    margin_ratio: str | None
    steps: tuple[tuple[str, dict[str, Any]], ...]


def stories(events: Iterable[Any], account: str, *, liquidation_id: str | None = None) -> list[LiquidationStory]:
    """Every (or the given) liquidation of ``account``, from the log: the ``liquidation_started`` event and the
    events that carry its liquidation id (partial steps, closes, ADL, settlement, socialized loss, the end)."""
    settle: dict[str, str] = {}
    started: dict[str, tuple[int, dict[str, Any]]] = {}
    steps: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for e in events:
        etype, data = _field(e, "type"), _data(e)
        if etype == "market_listed" and data.get("settle_asset"):
            settle[str(data["symbol"])] = str(data["settle_asset"])
        lid = data.get("liquidation_id")
        if lid is None or (liquidation_id is not None and lid != liquidation_id):
            continue
        if etype == "liquidation_started" and data.get("account") == account:
            started[str(lid)] = (int(_field(e, "ts")), data)
        elif str(lid) in started and etype in _RISK:
            steps.setdefault(str(lid), []).append((etype, data))
    out = []
    for lid, (ts, d) in started.items():
        what = str(d.get("what", ""))
        # An isolated watch is "SYMBOL:position side"; its money is in the symbol's settle asset.
        asset = settle.get(what.rsplit(":", 1)[0], "") if str(d.get("scope")) == "isolated" else what
        out.append(LiquidationStory(lid, account, ts, str(d.get("scope", "")), what, asset,
                                    {str(k): str(v) for k, v in (d.get("marks") or {}).items()},
                                    str(d.get("equity")), str(d.get("maintenance_margin")),
                                    None if d.get("margin_ratio") is None else str(d["margin_ratio"]),
                                    tuple(steps.get(lid, ()))))
    return out
