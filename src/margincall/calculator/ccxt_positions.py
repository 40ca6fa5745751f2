"""Positions in from ccxt: does the venue's liquidation price hold?

ccxt's ``fetch_positions()`` gives each open position in its unified ``Position`` structure (docs.ccxt.com,
"Position Structure": ``symbol``, ``side``, ``contracts``, ``contractSize``, ``entryPrice``, ``markPrice``,
``leverage``, ``marginMode``, ``hedged``, ``liquidationPrice``, …) with the venue's own response under ``info``;
``fetch_balance()`` gives the account with the venue's response under ``info``. From them this module builds
margincall scenarios — one per settle asset, the cross positions sharing that asset's wallet — prices every
position with the venue's formula, and sets margincall's liquidation price beside the one the venue reported.

What the unified structure leaves out is read from ``info``, per venue (a :class:`CcxtVenue`): the venue's
instrument id, an isolated position's own margin, the mark where ccxt gives none, the cross wallet balance
(without unrealized PnL) and, on Hyperliquid, the asset's max leverage that sets its MMR.

Tiers come from ``instruments`` (the scenario's schema, e.g. ``ccxt_tiers`` from ``fetch_leverage_tiers()``),
else from the venue's built-in market, else (Hyperliquid) from the position's max leverage; a position with none
of these is reported as an error row, never priced on a guessed tier.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from margincall.calculator.evaluate import PositionResult, evaluate
from margincall.calculator.scenario import parse_scenario
from margincall.model.enums import ContractKind, MarginMode
from margincall.model.errors import MarginCallError
from margincall.model.numbers import ZERO, to_decimal
from margincall.venues.profiles import VenueProfile, get_venue


def _dec(value: Any, field: str) -> Decimal:
    return to_decimal(value if isinstance(value, Decimal | int | str) else float(value), field)


def _opt(value: Any, field: str) -> Decimal | None:
    return None if value in (None, "") else _dec(value, field)


def _settle_of(symbol: str) -> str | None:
    """The settle asset of a ccxt unified symbol: ``BTC/USDT:USDT`` → ``USDT``."""
    return symbol.split(":", 1)[1].split("-", 1)[0] if ":" in symbol else None


class CcxtVenue:
    """How one venue's ``info`` completes ccxt's unified position and balance (the default: nothing)."""

    def venue_symbol(self, pos: Mapping[str, Any], where: str) -> str:
        raise NotImplementedError

    def isolated_margin(self, pos: Mapping[str, Any], where: str) -> Decimal:
        """The isolated position's own margin, without unrealized PnL."""
        raise NotImplementedError

    def mark(self, pos: Mapping[str, Any], where: str) -> Decimal:
        return _dec(_need(pos, "markPrice", where), f"{where}.markPrice")

    def cross_wallet(self, balance: Mapping[str, Any], asset: str, positions: Sequence[Mapping[str, Any]]) -> Decimal:
        """The cross wallet balance in ``asset``, without unrealized PnL."""
        raise NotImplementedError

    def instrument(self, pos: Mapping[str, Any], where: str) -> dict[str, Any] | None:
        """Instrument fields the position itself carries (Hyperliquid: its max leverage), if any."""
        return None


def _need(obj: Mapping[str, Any], key: str, where: str) -> Any:
    value = obj.get(key)
    if value in (None, ""):
        raise MarginCallError(f"{where}.{key}: missing", field=f"{where}.{key}")
    return value


def _info(obj: Mapping[str, Any], where: str) -> Mapping[str, Any]:
    info = obj.get("info")
    if not isinstance(info, Mapping):
        raise MarginCallError(f"{where}.info: missing (the venue's own response, as ccxt returns it)",
                              field=f"{where}.info")  # fmt: skip
    return info


def _find_asset(rows: Any, key: str, asset: str, value: str, where: str) -> Decimal:
    for row in rows if isinstance(rows, list) else ():
        if isinstance(row, Mapping) and row.get(key) == asset:
            return _dec(_need(row, value, where), f"{where}.{value}")
    raise MarginCallError(f"{where}: no {asset} entry", field=where)


class BinanceCcxt(CcxtVenue):
    """``info`` = one ``GET /fapi/v2/positionRisk`` entry; balance ``info`` = ``GET /fapi/v2/account``
    (``assets``) or ``GET /fapi/v2/balance`` (a list); the FAQ's cross WB is ``crossWalletBalance``."""

    def venue_symbol(self, pos: Mapping[str, Any], where: str) -> str:
        return str(_need(_info(pos, where), "symbol", f"{where}.info"))

    def isolated_margin(self, pos: Mapping[str, Any], where: str) -> Decimal:
        return _dec(_need(_info(pos, where), "isolatedWallet", f"{where}.info"), f"{where}.info.isolatedWallet")

    def cross_wallet(self, balance: Mapping[str, Any], asset: str, positions: Sequence[Mapping[str, Any]]) -> Decimal:
        info = _info(balance, "balance")
        rows = info.get("assets") if isinstance(info, Mapping) else info
        return _find_asset(rows, "asset", asset, "crossWalletBalance", "balance.info.assets")


class BybitCcxt(CcxtVenue):
    """``info`` = one ``GET /v5/position/list`` entry (``positionBalance``: the position's margin);
    balance ``info`` = ``GET /v5/account/wallet-balance`` (``result.list[0].coin[].walletBalance``)."""

    def venue_symbol(self, pos: Mapping[str, Any], where: str) -> str:
        return str(_need(_info(pos, where), "symbol", f"{where}.info"))

    def isolated_margin(self, pos: Mapping[str, Any], where: str) -> Decimal:
        return _dec(_need(_info(pos, where), "positionBalance", f"{where}.info"), f"{where}.info.positionBalance")

    def mark(self, pos: Mapping[str, Any], where: str) -> Decimal:
        return _dec(pos.get("markPrice") or _need(_info(pos, where), "markPrice", f"{where}.info"), f"{where}.mark")

    def cross_wallet(self, balance: Mapping[str, Any], asset: str, positions: Sequence[Mapping[str, Any]]) -> Decimal:
        accounts = _info(balance, "balance").get("result", {}).get("list") or [{}]
        return _find_asset(accounts[0].get("coin"), "coin", asset, "walletBalance", "balance.info.result.list[0].coin")


class OkxCcxt(CcxtVenue):
    """``info`` = one ``GET /api/v5/account/positions`` entry (``instId``, isolated ``margin``, ``markPx``);
    balance ``info`` = ``GET /api/v5/account/balance`` (``data[0].details[].cashBal``)."""

    def venue_symbol(self, pos: Mapping[str, Any], where: str) -> str:
        return str(_need(_info(pos, where), "instId", f"{where}.info"))

    def isolated_margin(self, pos: Mapping[str, Any], where: str) -> Decimal:
        return _dec(_need(_info(pos, where), "margin", f"{where}.info"), f"{where}.info.margin")

    def mark(self, pos: Mapping[str, Any], where: str) -> Decimal:
        return _dec(pos.get("markPrice") or _need(_info(pos, where), "markPx", f"{where}.info"), f"{where}.mark")

    def cross_wallet(self, balance: Mapping[str, Any], asset: str, positions: Sequence[Mapping[str, Any]]) -> Decimal:
        data = _info(balance, "balance").get("data") or [{}]
        return _find_asset(data[0].get("details"), "ccy", asset, "cashBal", "balance.info.data[0].details")


class HyperliquidCcxt(CcxtVenue):
    """``info`` = one ``assetPositions`` entry of ``clearinghouseState`` (``position.coin``, ``szi``,
    ``positionValue``, ``marginUsed`` = margin + unrealized PnL, ``maxLeverage``); ccxt gives no mark, so it is
    ``positionValue / |szi|``. Balance ``info`` = ``clearinghouseState``: the cross wallet is
    ``crossMarginSummary.accountValue`` less the cross positions' unrealized PnL."""

    @staticmethod
    def _position(pos: Mapping[str, Any], where: str) -> Mapping[str, Any]:
        entry = _info(pos, where).get("position")
        if not isinstance(entry, Mapping):
            raise MarginCallError(f"{where}.info.position: missing", field=f"{where}.info.position")
        return entry

    def venue_symbol(self, pos: Mapping[str, Any], where: str) -> str:
        return str(_need(self._position(pos, where), "coin", f"{where}.info.position"))

    def isolated_margin(self, pos: Mapping[str, Any], where: str) -> Decimal:
        entry, at = self._position(pos, where), f"{where}.info.position"
        used = _dec(_need(entry, "marginUsed", at), f"{at}.marginUsed")
        return used - _dec(entry.get("unrealizedPnl") or 0, f"{at}.unrealizedPnl")

    def mark(self, pos: Mapping[str, Any], where: str) -> Decimal:
        if pos.get("markPrice") not in (None, ""):
            return _dec(pos["markPrice"], f"{where}.markPrice")
        entry, at = self._position(pos, where), f"{where}.info.position"
        size = abs(_dec(_need(entry, "szi", at), f"{at}.szi"))
        return _dec(_need(entry, "positionValue", at), f"{at}.positionValue") / size

    def cross_wallet(self, balance: Mapping[str, Any], asset: str, positions: Sequence[Mapping[str, Any]]) -> Decimal:
        summary = _info(balance, "balance").get("crossMarginSummary") or {}
        value = _dec(_need(summary, "accountValue", "balance.info.crossMarginSummary"), "accountValue")
        upnl = sum((_dec(p.get("unrealizedPnl") or 0, "unrealizedPnl") for p in positions), ZERO)
        return value - upnl

    def instrument(self, pos: Mapping[str, Any], where: str) -> dict[str, Any] | None:
        max_lev = self._position(pos, where).get("maxLeverage")
        return None if max_lev in (None, "") else {"max_leverage": str(max_lev)}


#: The venues whose ccxt ``info`` margincall reads, by margincall venue profile.
CCXT_VENUES: Mapping[str, CcxtVenue] = {
    "binance-usdm": BinanceCcxt(),
    "binance-coinm": BinanceCcxt(),
    "bybit-linear": BybitCcxt(),
    "bybit-inverse": BybitCcxt(),
    "okx": OkxCcxt(),
    "hyperliquid": HyperliquidCcxt(),
}


@dataclass(frozen=True, slots=True)
class CheckRow:
    """One position: the venue's reported liquidation price beside margincall's, or why it was not priced."""

    symbol: str
    venue_symbol: str
    side: str
    margin_mode: str
    contracts: Decimal
    mark_price: Decimal
    venue_liquidation_price: Decimal | None
    result: PositionResult | None
    tiers: str
    error: str | None = None

    @property
    def difference(self) -> Decimal | None:
        """margincall's exact liquidation price minus the venue's."""
        if self.result is None or self.result.liquidation_price_unrounded is None:
            return None
        if self.venue_liquidation_price is None:
            return None
        return self.result.liquidation_price_unrounded - self.venue_liquidation_price

    @property
    def difference_pct(self) -> Decimal | None:
        d = self.difference
        return None if d is None or not self.venue_liquidation_price else d / self.venue_liquidation_price * 100


@dataclass(frozen=True, slots=True)
class CcxtCheck:
    venue: str
    formula: str
    rows: tuple[CheckRow, ...]
    scenarios: tuple[dict[str, Any], ...]
    skipped: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _Leg:
    where: str
    raw: Mapping[str, Any]
    position: dict[str, Any]
    settle: str
    instrument: dict[str, Any] | None
    tiers: str
    venue_lp: Decimal | None


def _leg(
    adapter: CcxtVenue, profile: VenueProfile, raw: Mapping[str, Any], where: str, instruments: Mapping[str, Any]
) -> _Leg:
    native = adapter.venue_symbol(raw, where)
    side = str(_need(raw, "side", where))
    mode = str(raw.get("marginMode") or ("isolated" if raw.get("isolated") else "cross"))
    leverage = raw.get("leverage") or _info(raw, where).get("leverage")
    position: dict[str, Any] = {
        "symbol": native,
        "side": side,
        "size": _dec(_need(raw, "contracts", where), f"{where}.contracts"),
        "entry_price": _dec(_need(raw, "entryPrice", where), f"{where}.entryPrice"),
        "mark_price": adapter.mark(raw, where),
        "leverage": _dec(leverage if leverage not in (None, "") else _need(raw, "leverage", where), "leverage"),
        "margin_mode": mode,
    }
    if mode == MarginMode.ISOLATED.value:
        position["isolated_margin"] = adapter.isolated_margin(raw, where)
    if raw.get("hedged"):
        position["position_side"] = side
    market = profile.markets.get(native)
    spec: dict[str, Any] | None = None
    if native in instruments:
        spec, tiers = dict(instruments[native]), "instruments file"
    elif (own := adapter.instrument(raw, where)) is not None:
        spec, tiers = own, "position's max leverage"
        if market is not None:  # the built-in instrument with the position's own tier
            inst = market.instrument
            spec.update(kind=inst.kind.value, contract_size=str(inst.contract_size), tick_size=str(inst.tick_size),
                        lot_size=str(inst.lot_size), settle_asset=inst.settle_asset)  # fmt: skip
    elif market is not None:
        tiers = f"built-in {market.tiers.as_of}"
    else:
        tiers = "none"
    if market is not None and spec is None:
        settle = market.instrument.settle_asset
    else:
        settle = (spec or {}).get("settle_asset") or _settle_of(str(raw.get("symbol", ""))) or profile.settle_asset
        if spec is not None:
            spec.setdefault("settle_asset", settle)
    return _Leg(
        where, raw, position, settle, spec, tiers, _opt(raw.get("liquidationPrice"), f"{where}.liquidationPrice")
    )


def check_ccxt_positions(
    positions: Sequence[Any],
    balance: Mapping[str, Any] | None,
    venue: str,
    *,
    formula: str | None = None,
    taker_fee: Decimal | None = None,
    instruments: Mapping[str, Any] | None = None,
) -> CcxtCheck:
    """Price every open position of ``positions`` (ccxt ``fetch_positions()``) on ``venue`` with the cross
    wallet from ``balance`` (ccxt ``fetch_balance()``), beside the venue's ``liquidationPrice``."""
    profile = get_venue(venue)
    form = profile.form(formula)
    adapter = CCXT_VENUES.get(profile.name)
    if adapter is None:
        raise MarginCallError(
            f"venue: reading ccxt positions is supported for {', '.join(CCXT_VENUES)}; not {venue}", field="venue"
        )
    if not isinstance(positions, list):
        raise MarginCallError("positions: expected the list fetch_positions() returns", field="positions")
    instruments = instruments or {}
    legs: list[_Leg] = []
    skipped: list[str] = []
    errors: list[CheckRow] = []
    for i, raw in enumerate(positions):
        where = f"positions[{i}]"
        if not isinstance(raw, Mapping):
            raise MarginCallError(f"{where}: expected a ccxt Position object", field=where)
        if not raw.get("contracts"):
            skipped.append(f"{raw.get('symbol', where)} (no open position)")
            continue
        leg = _leg(adapter, profile, raw, where, instruments)
        if leg.tiers == "none":
            errors.append(_row(leg, None, f"no tiers for {leg.position['symbol']}: give them in --instruments"))
            continue
        legs.append(leg)
    unused = sorted(set(instruments) - {leg.position["symbol"] for leg in legs})
    if unused:
        raise MarginCallError(f"instruments.{unused[0]}: no open position has this symbol", code="unused_input",
                              field=f"instruments.{unused[0]}")  # fmt: skip
    crossing = [leg for leg in legs if leg.position["margin_mode"] == MarginMode.CROSS.value]
    if balance is not None and not crossing:
        raise MarginCallError("balance: no cross position uses a wallet balance (every position is isolated)",
                              code="unused_input", field="balance")  # fmt: skip
    if crossing and balance is None:
        raise MarginCallError("balance: cross positions need the account's fetch_balance() JSON", field="balance")
    rows, scenarios = list(errors), []
    for settle in sorted({leg.settle for leg in legs}):
        group = [leg for leg in legs if leg.settle == settle]
        scenario: dict[str, Any] = {"venue": profile.name, "positions": [leg.position for leg in group]}
        if formula is not None:
            scenario["formula"] = formula
        kinds = {ContractKind((leg.instrument or {}).get("kind") or profile.kind) for leg in group}
        modes = {MarginMode(leg.position["margin_mode"]) for leg in group}
        if any(form.rule.has_fee_term(k, m) for k in kinds for m in modes):
            scenario["taker_fee"] = taker_fee if taker_fee is not None else profile.taker_fee
        specs = {leg.position["symbol"]: leg.instrument for leg in group if leg.instrument is not None}
        if specs:
            scenario["instruments"] = specs
        cross_raw = [leg.raw for leg in group if leg.position["margin_mode"] == MarginMode.CROSS.value]
        if cross_raw and balance is not None:
            scenario["wallet_balance"] = adapter.cross_wallet(balance, settle, cross_raw)
        scenarios.append(scenario)
        try:
            result = evaluate(parse_scenario(scenario))
        except MarginCallError as exc:
            rows.extend(_row(leg, None, str(exc)) for leg in group)
            continue
        rows.extend(_row(leg, res, None) for leg, res in zip(group, result.positions, strict=True))
    if taker_fee is not None and not any("taker_fee" in s for s in scenarios):
        raise MarginCallError(f"taker_fee: {profile.name} formula {form.name} has no taker-fee term for these"
                              " positions", code="unused_input", field="taker_fee")  # fmt: skip
    return CcxtCheck(profile.name, form.name, tuple(rows), tuple(scenarios), tuple(skipped))


def _row(leg: _Leg, result: PositionResult | None, error: str | None) -> CheckRow:
    p = leg.position
    return CheckRow(str(leg.raw.get("symbol") or p["symbol"]), p["symbol"], p["side"], p["margin_mode"], p["size"],
                    p["mark_price"], leg.venue_lp, result, leg.tiers, error)  # fmt: skip


def _num(d: Any) -> Any:
    if isinstance(d, Decimal):
        return format(d.normalize(), "f")
    if isinstance(d, dict):
        return {k: _num(v) for k, v in d.items()}
    if isinstance(d, list):
        return [_num(v) for v in d]
    return d


def check_to_json(check: CcxtCheck) -> dict[str, Any]:
    """Exact values as Decimal strings; ``scenarios`` are the margincall scenarios the check priced (feed one to
    ``margincall calc --json -`` to see every number)."""
    rows = []
    for r in check.rows:
        res = r.result
        rows.append({
            "symbol": r.symbol, "venue_symbol": r.venue_symbol, "side": r.side, "margin_mode": r.margin_mode,
            "contracts": _num(r.contracts), "mark_price": _num(r.mark_price), "tiers": r.tiers,
            "venue_liquidation_price": _num(r.venue_liquidation_price),
            "liquidation_price": _num(res.liquidation_price) if res else None,
            "liquidation_price_unrounded": _num(res.liquidation_price_unrounded) if res else None,
            "difference": _num(r.difference), "difference_pct": _num(r.difference_pct),
            "maintenance_margin": _num(res.maintenance_margin) if res else None, "error": r.error,
        })  # fmt: skip
    return {"venue": check.venue, "formula": check.formula, "positions": rows,
            "scenarios": [_num(s) for s in check.scenarios], "skipped": list(check.skipped)}  # fmt: skip


__all__ = ["CCXT_VENUES", "CcxtCheck", "CcxtVenue", "CheckRow", "check_ccxt_positions", "check_to_json"]
