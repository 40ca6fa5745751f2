"""Tier tables from venue and ccxt payloads: ccxt leverage tiers, Binance brackets, Bybit risk limits, OKX tiers.

Every loader turns one documented payload shape into validated :class:`~margincall.model.TierTable` objects
through :meth:`TierTable.build`, so a given maintenance amount (Binance ``cum``, Bybit ``mmDeduction``) is
checked against the continuity recursion of docs/venues.md §2.1 and gaps, overlaps and decreasing rates are
refused. Any bad field raises a :class:`~margincall.model.MarginCallError` whose message names the source,
the symbol, the tier and the field.

Shapes (field names from each venue's API reference, docs/venues.md §3.1, §4.1, §5):

* ccxt ``fetch_market_leverage_tiers()``: a list of ``{"tier", "currency", "minNotional", "maxNotional",
  "maintenanceMarginRate", "maxLeverage", "info"}``; ``fetch_leverage_tiers()``: a dict symbol → such a list.
  ccxt's unified tier has no maintenance amount: it is read from ``info`` (``cum``, ``mmDeduction``) when the
  venue sends one, else derived.
* Binance ``GET /fapi/v1/leverageBracket``: ``[{"symbol", "notionalCoef"?, "brackets": [{"bracket",
  "initialLeverage", "notionalCap", "notionalFloor", "maintMarginRatio", "cum"}]}]`` or one such object.
  COIN-M ``/dapi/v1|v2/leverageBracket`` has ``qtyCap``/``qtyFloor`` (documented once as ``qtylFloor``) in
  coin and ``cum`` in coin, and may name the entry ``pair``. Brackets are ``[floor, cap)``.
* Bybit ``GET /v5/market/risk-limit``: ``result.list`` of ``{"id", "symbol", "riskLimitValue",
  "maintenanceMargin", "initialMargin", "isLowestRisk", "maxLeverage", "mmDeduction"}``; a tier runs from
  the previous tier's ``riskLimitValue`` up to and including its own (Bybit: "2,000,000 or below → 0.5 %").
* OKX ``GET /api/v5/public/position-tiers``: ``data`` list of ``{"uly", "instFamily", "instId", "tier",
  "minSz", "maxSz", "mmr", "imr", "maxLever", ...}`` in contracts; the whole position takes its tier's rate
  (docs/venues.md §2.2). Tier ``n`` is published as ``prev maxSz + 1 … maxSz`` (e.g. 3,001–6,000): the floor is
  taken as the previous ``maxSz`` with inclusive caps, which covers fractional contract counts too.

Each loader accepts the parsed payload, the venue's whole response envelope, or JSON text (read with
``Decimal`` for every number, so ``0.0065`` stays exact).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from margincall.model.enums import TierBasis, TierMode
from margincall.model.errors import MarginCallError, TierTableError, UnknownSymbol
from margincall.model.numbers import ONE, ZERO, non_negative, positive
from margincall.model.tiers import TierSpec, TierTable

__all__ = [
    "load_binance_brackets",
    "load_bybit_risk_limits",
    "load_ccxt_leverage_tiers",
    "load_ccxt_market_tiers",
    "load_okx_position_tiers",
    "select_table",
]

#: IMR × max leverage must be within this of 1 for Bybit rows; a row off by ~100× was sent in percent.
_IMR_LEVERAGE_TOLERANCE = Decimal("0.05")


class _Context:
    """Where a value came from, for error messages: ``"<source> <symbol> tier <n>: <field>: ..."``."""

    def __init__(self, source: str, symbol: str) -> None:
        self.source = source
        self.symbol = symbol

    def where(self, tier: int | None = None) -> str:
        text = f"{self.source} {self.symbol}".rstrip()
        return f"{text} tier {tier}" if tier is not None else text

    def fail(self, message: str, *, tier: int | None = None, field: str | None = None) -> TierTableError:
        prefix = self.where(tier)
        text = f"{prefix}: {field}: {message}" if field else f"{prefix}: {message}"
        path = ".".join(p for p in (self.symbol or None, None if tier is None else f"tier{tier}", field) if p)
        return TierTableError(text, field=path or None)

    def rethrow(self, exc: MarginCallError, *, tier: int | None = None) -> MarginCallError:
        prefix = self.where(tier)
        return type(exc)(f"{prefix}: {exc}", code=exc.code, field=exc.field)

    # ------------------------------------------------------------------------------------- fields
    def get(self, row: Mapping[str, Any], *names: str, tier: int) -> Any:
        for name in names:
            if name in row and row[name] is not None and row[name] != "":
                return row[name]
        raise self.fail("missing", tier=tier, field=" / ".join(names))

    def optional(self, row: Mapping[str, Any], *names: str) -> Any:
        for name in names:
            value = row.get(name)
            if value is not None and value != "":
                return value
        return None

    def number(self, value: Any, field: str, tier: int, *, allow_zero: bool = False) -> Decimal:
        if isinstance(value, bool) or not isinstance(value, Decimal | int | float | str):
            kind = type(value).__name__
            raise self.fail(f"expected a number, got {kind}", tier=tier, field=field)
        try:
            return non_negative(value, field) if allow_zero else positive(value, field)
        except MarginCallError as exc:
            raise self.rethrow(exc, tier=tier) from None


def _parse(data: Any, source: str) -> Any:
    if isinstance(data, bytes | bytearray):
        data = bytes(data).decode("utf-8", errors="replace")
    if isinstance(data, str):

        def no_constants(name: str) -> Any:
            raise MarginCallError(f"{source}: {name} is not a number", code="malformed_json")

        try:
            return json.loads(data, parse_float=Decimal, parse_constant=no_constants)
        except json.JSONDecodeError as exc:
            raise MarginCallError(
                f"{source}: malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}", code="malformed_json"
            ) from None
        except RecursionError:
            raise MarginCallError(f"{source}: malformed JSON: nested too deeply", code="malformed_json") from None
    return data


def _rows(value: Any, ctx: _Context, what: str) -> list[Mapping[str, Any]]:
    if not isinstance(value, list | tuple):
        raise ctx.fail(f"expected a list of {what}, got {type(value).__name__}")
    if not value:
        raise ctx.fail(f"no {what}")
    for i, row in enumerate(value, start=1):
        if not isinstance(row, Mapping):
            raise ctx.fail(f"expected an object, got {type(row).__name__}", tier=i)
    return list(value)


def _ordered(rows: list[Mapping[str, Any]], key: str, ctx: _Context) -> list[Mapping[str, Any]]:
    """Rows in tier order by their ``key`` number when every row has one; duplicate numbers are refused."""
    numbers: list[Decimal] = []
    for i, row in enumerate(rows, start=1):
        raw = row.get(key)
        if raw is None or raw == "":
            return rows
        numbers.append(ctx.number(raw, key, i, allow_zero=True))
    if len(set(numbers)) != len(numbers):
        dup = next(n for n in numbers if numbers.count(n) > 1)
        raise ctx.fail(f"duplicate {key} {dup}")
    return [row for _, row in sorted(zip(numbers, rows, strict=True), key=lambda pair: pair[0])]


def _cap(value: Any, field: str, tier: int, last: bool, ctx: _Context) -> Decimal | None:
    """A tier cap; ``None``/infinity is an open-ended cap, allowed on the last tier only."""
    infinite = value is None or value == "" or (isinstance(value, float | Decimal) and value == float("inf"))
    if isinstance(value, str) and value.strip().lower() in ("inf", "infinity", "+inf"):
        infinite = True
    if infinite:
        if not last:
            raise ctx.fail("only the last tier may be open-ended", tier=tier, field=field)
        return None
    return ctx.number(value, field, tier)


def _build(
    specs: Iterable[TierSpec],
    ctx: _Context,
    *,
    mode: TierMode,
    basis: TierBasis,
    cap_inclusive: bool,
    as_of: str,
) -> TierTable:
    try:
        return TierTable.build(
            list(specs), mode=mode, basis=basis, cap_inclusive=cap_inclusive, source=ctx.where(), as_of=as_of
        )
    except MarginCallError as exc:
        raise ctx.rethrow(exc) from None


def _contract_floor(given: Decimal, prev_cap: Decimal | None, tier: int, field: str, ctx: _Context) -> Decimal:
    """OKX publishes tier n as ``prev maxSz + 1 … maxSz``: the floor is the previous cap (inclusive caps)."""
    if prev_cap is None:
        return given
    if prev_cap <= given <= prev_cap + ONE:
        return prev_cap
    gap = "gap" if given > prev_cap else "overlap"
    raise ctx.fail(f"{gap}: starts at {given} but tier {tier - 1} ends at {prev_cap}", tier=tier, field=field)


# ------------------------------------------------------------------------------------------------ ccxt
def load_ccxt_market_tiers(
    tiers: Any,
    *,
    symbol: str = "",
    mode: TierMode = TierMode.BRACKET,
    basis: TierBasis = TierBasis.NOTIONAL,
    cap_inclusive: bool = False,
    as_of: str = "",
) -> TierTable:
    """A table from ccxt's ``fetch_market_leverage_tiers()`` list (ccxt "leverage tier structure").

    ``minNotional``/``maxNotional`` become floor/cap, ``maintenanceMarginRate`` the MMR and ``maxLeverage``
    the tier's max leverage. The maintenance amount is taken from the raw ``info`` when the venue sends one
    (Binance ``cum``, Bybit ``mmDeduction``; validated for continuity, docs/venues.md §2.1) and derived otherwise;
    an initial-margin rate from ``info`` (OKX ``imr``, Bybit ``initialMargin``) is kept. ccxt does not say
    how the venue applies its tiers, so ``mode``, ``basis`` and ``cap_inclusive`` are the caller's (OKX via
    ccxt: whole position, contracts, inclusive; with the contracts basis a floor of ``prev cap + 1`` is read
    as OKX's ``3,001–6,000`` convention).
    """
    mode, basis = TierMode(mode), TierBasis(basis)
    ctx = _Context("ccxt", symbol)
    rows = _ordered(_rows(_parse(tiers, "ccxt"), ctx, "leverage tiers"), "tier", ctx)
    if not symbol:
        first = rows[0].get("symbol")
        ctx.symbol = first if isinstance(first, str) else ""
    specs: list[TierSpec] = []
    prev_cap: Decimal | None = None
    for i, row in enumerate(rows, start=1):
        last = i == len(rows)
        floor = ctx.number(ctx.get(row, "minNotional", tier=i), "minNotional", i, allow_zero=True)
        if basis is TierBasis.CONTRACTS:
            floor = _contract_floor(floor, prev_cap, i, "minNotional", ctx)
        cap = _cap(row.get("maxNotional"), "maxNotional", i, last, ctx)
        mmr = ctx.number(ctx.get(row, "maintenanceMarginRate", tier=i), "maintenanceMarginRate", i)
        lev = ctx.number(ctx.get(row, "maxLeverage", tier=i), "maxLeverage", i)
        info = row.get("info")
        amount: Decimal | None = None
        imr: Decimal | None = None
        if isinstance(info, Mapping):
            raw_amount = ctx.optional(info, "cum", "mmDeduction", "maintenanceAmount")
            if raw_amount is not None:
                amount = ctx.number(raw_amount, "info.cum", i, allow_zero=True)
            raw_imr = ctx.optional(info, "imr", "initialMargin")
            if raw_imr is not None:
                imr = ctx.number(raw_imr, "info.imr", i)
        specs.append(TierSpec(floor, cap, mmr, lev, amount, imr))
        prev_cap = cap
    return _build(specs, ctx, mode=mode, basis=basis, cap_inclusive=cap_inclusive, as_of=as_of)


def load_ccxt_leverage_tiers(
    data: Any,
    *,
    mode: TierMode = TierMode.BRACKET,
    basis: TierBasis = TierBasis.NOTIONAL,
    cap_inclusive: bool = False,
    as_of: str = "",
) -> dict[str, TierTable]:
    """Tables from ccxt's ``fetch_leverage_tiers()``: a dict unified symbol → list of tiers (see above)."""
    parsed = _parse(data, "ccxt")
    if not isinstance(parsed, Mapping) or not parsed:
        raise TierTableError("ccxt: fetch_leverage_tiers() output must be a non-empty object symbol → tiers")
    out: dict[str, TierTable] = {}
    for symbol, tiers in parsed.items():
        out[str(symbol)] = load_ccxt_market_tiers(
            tiers, symbol=str(symbol), mode=mode, basis=basis, cap_inclusive=cap_inclusive, as_of=as_of
        )
    return out


# --------------------------------------------------------------------------------------------- Binance
def _binance_one(entry: Mapping[str, Any], as_of: str) -> tuple[str, TierTable]:
    name = entry.get("symbol") or entry.get("pair")
    if not isinstance(name, str) or not name:
        raise TierTableError('binance leverageBracket: an entry has no "symbol"', field="symbol")
    ctx = _Context("binance", name)
    rows = _ordered(_rows(entry.get("brackets"), ctx, "brackets"), "bracket", ctx)
    coin_m = "qtyCap" in rows[0]
    cap_key, floor_keys = ("qtyCap", ("qtyFloor", "qtylFloor")) if coin_m else ("notionalCap", ("notionalFloor",))
    specs: list[TierSpec] = []
    for i, row in enumerate(rows, start=1):
        if coin_m != ("qtyCap" in row):
            raise ctx.fail("mixes notionalCap (USDⓈ-M) and qtyCap (COIN-M) brackets", tier=i)
        floor = ctx.number(ctx.get(row, *floor_keys, tier=i), floor_keys[0], i, allow_zero=True)
        cap = _cap(row.get(cap_key), cap_key, i, i == len(rows), ctx)
        mmr = ctx.number(ctx.get(row, "maintMarginRatio", tier=i), "maintMarginRatio", i)
        lev = ctx.number(ctx.get(row, "initialLeverage", tier=i), "initialLeverage", i)
        cum = ctx.number(ctx.get(row, "cum", tier=i), "cum", i, allow_zero=True)
        specs.append(TierSpec(floor, cap, mmr, lev, cum))
    coef = entry.get("notionalCoef")
    if coef is not None:
        # The brackets Binance returns are already the user's (scaled) brackets; the coefficient is only noted.
        ctx.source = f"binance (notionalCoef {coef})"
    table = _build(specs, ctx, mode=TierMode.BRACKET, basis=TierBasis.NOTIONAL, cap_inclusive=False, as_of=as_of)
    return name, table


def load_binance_brackets(data: Any, *, as_of: str = "") -> dict[str, TierTable]:
    """Tables from Binance's ``leverageBracket`` JSON (USDⓈ-M or COIN-M), keyed by symbol (or pair).

    ``MM = notional × maintMarginRatio − cum`` with brackets ``[notionalFloor, notionalCap)`` (docs/venues.md §3.1,
    §3.2); COIN-M brackets are by coin quantity (``qtyFloor``/``qtyCap``) — the position's value in coin,
    which is this model's ``notional`` basis for inverse contracts — and ``cum`` is in coin. Each given
    ``cum`` must satisfy ``cum_n = floor_n × (MMR_n − MMR_{n−1}) + cum_{n−1}`` (Binance FAQ).
    """
    parsed = _parse(data, "binance")
    entries = [parsed] if isinstance(parsed, Mapping) else parsed
    if not isinstance(entries, list | tuple) or not entries:
        raise TierTableError("binance leverageBracket: expected an object or a non-empty list of objects")
    out: dict[str, TierTable] = {}
    for entry in entries:
        if not isinstance(entry, Mapping):
            raise TierTableError(f"binance leverageBracket: expected an object, got {type(entry).__name__}")
        name, table = _binance_one(entry, as_of)
        if name in out:
            raise TierTableError(f"binance leverageBracket: {name} appears twice", field=name)
        out[name] = table
    return out


# ----------------------------------------------------------------------------------------------- Bybit
def _group(rows: Sequence[Mapping[str, Any]], keys: Sequence[str], source: str) -> dict[str, list[Mapping[str, Any]]]:
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for i, row in enumerate(rows, start=1):
        if not isinstance(row, Mapping):
            raise TierTableError(f"{source}: row {i}: expected an object, got {type(row).__name__}")
        name = next((row[k] for k in keys if isinstance(row.get(k), str) and row[k]), None)
        if name is None:
            raise TierTableError(f"{source}: row {i} has no {' / '.join(keys)}", field=keys[0])
        groups.setdefault(name, []).append(row)
    return groups


def _unwrap(parsed: Any, path: Sequence[str]) -> Any:
    """Step into a response envelope (e.g. ``{"result": {"list": [...]}}``) when given one."""
    for key in path:
        if isinstance(parsed, Mapping) and key in parsed:
            parsed = parsed[key]
    return parsed


def load_bybit_risk_limits(data: Any, *, as_of: str = "") -> dict[str, TierTable]:
    """Tables from Bybit's ``/v5/market/risk-limit`` (the response, its ``result`` or its ``list``), by symbol.

    Tier ``n`` covers position values above tier ``n−1``'s ``riskLimitValue`` up to and including its own
    (docs/venues.md §4.1); ``MM = value × maintenanceMargin − mmDeduction`` with ``mmDeduction`` checked against
    ``MMD_n = limit_{n−1} × (MMR_n − MMR_{n−1}) + MMD_{n−1}`` (empty for tier 1: derived). Rates are
    fractions (``"0.005"``); a row whose ``initialMargin × maxLeverage`` is far from 1 is refused, since
    it was most likely sent in percent.
    """
    parsed = _unwrap(_parse(data, "bybit"), ("result", "list"))
    if not isinstance(parsed, list | tuple) or not parsed:
        raise TierTableError("bybit risk-limit: expected a non-empty list of risk-limit rows")
    out: dict[str, TierTable] = {}
    for name, group in _group(parsed, ("symbol",), "bybit risk-limit").items():
        ctx = _Context("bybit", name)
        rows = _ordered(group, "id", ctx)
        specs: list[TierSpec] = []
        floor = ZERO
        for i, row in enumerate(rows, start=1):
            cap = ctx.number(ctx.get(row, "riskLimitValue", tier=i), "riskLimitValue", i)
            mmr = ctx.number(ctx.get(row, "maintenanceMargin", tier=i), "maintenanceMargin", i)
            lev = ctx.number(ctx.get(row, "maxLeverage", tier=i), "maxLeverage", i)
            raw_imr = ctx.optional(row, "initialMargin")
            imr = None if raw_imr is None else ctx.number(raw_imr, "initialMargin", i)
            if imr is not None and abs(imr * lev - ONE) > _IMR_LEVERAGE_TOLERANCE:
                raise ctx.fail(
                    f"{imr} does not match maxLeverage {lev} (expected about {ONE / lev:.6f}; rates are fractions,"
                    " not percent)",
                    tier=i,
                    field="initialMargin",
                )
            raw_mmd = ctx.optional(row, "mmDeduction")
            mmd = None if raw_mmd is None else ctx.number(raw_mmd, "mmDeduction", i, allow_zero=True)
            specs.append(TierSpec(floor, cap, mmr, lev, mmd, imr))
            floor = cap
        out[name] = _build(specs, ctx, mode=TierMode.BRACKET, basis=TierBasis.NOTIONAL, cap_inclusive=True, as_of=as_of)
    return out


# ------------------------------------------------------------------------------------------------- OKX
def load_okx_position_tiers(data: Any, *, as_of: str = "") -> dict[str, TierTable]:
    """Tables from OKX's ``/api/v5/public/position-tiers`` (the response or its ``data``), keyed by
    ``instId`` when set, else ``instFamily`` / ``uly`` (e.g. ``ETH-USDT`` for the ETH-USDT-SWAP family).

    Tiers are by number of contracts and the whole position takes its tier's ``mmr`` with no deduction
    (docs/venues.md §2.2, §5); ``imr`` and ``maxLever`` are kept per tier.
    """
    parsed = _unwrap(_parse(data, "okx"), ("data",))
    if not isinstance(parsed, list | tuple) or not parsed:
        raise TierTableError("okx position-tiers: expected a non-empty list of tier rows")
    out: dict[str, TierTable] = {}
    for name, group in _group(parsed, ("instId", "instFamily", "uly"), "okx position-tiers").items():
        ctx = _Context("okx", name)
        rows = _ordered(group, "tier", ctx)
        specs: list[TierSpec] = []
        prev_cap: Decimal | None = None
        for i, row in enumerate(rows, start=1):
            given_floor = ctx.number(ctx.get(row, "minSz", tier=i), "minSz", i, allow_zero=True)
            floor = _contract_floor(given_floor, prev_cap, i, "minSz", ctx)
            cap = _cap(row.get("maxSz"), "maxSz", i, i == len(rows), ctx)
            mmr = ctx.number(ctx.get(row, "mmr", tier=i), "mmr", i)
            lev = ctx.number(ctx.get(row, "maxLever", tier=i), "maxLever", i)
            raw_imr = ctx.optional(row, "imr")
            imr = None if raw_imr is None else ctx.number(raw_imr, "imr", i)
            specs.append(TierSpec(floor, cap, mmr, lev, None, imr))
            prev_cap = cap
        out[name] = _build(
            specs, ctx, mode=TierMode.WHOLE_POSITION, basis=TierBasis.CONTRACTS, cap_inclusive=True, as_of=as_of
        )
    return out


# ------------------------------------------------------------------------------------------- selection
def select_table(tables: Mapping[str, TierTable], symbol: str, source: str) -> TierTable:
    """The table for ``symbol``: its own key, else the one instrument family that prefixes it (OKX
    ``ETH-USDT`` for ``ETH-USDT-SWAP``). Tiers of another symbol are never used: :class:`UnknownSymbol`."""
    if symbol in tables:
        return tables[symbol]
    prefixed = [k for k in tables if symbol.startswith(f"{k}-")]
    if len(prefixed) == 1:
        return tables[prefixed[0]]
    known = ", ".join(sorted(tables))
    raise UnknownSymbol(f"{source} has no tiers for {symbol!r} (it has: {known})", field="symbol")
