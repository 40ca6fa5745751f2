"""The liquidation map of a book: per symbol, the positions and notional liquidated as the mark moves down and up
from now, and the insurance fund drawn against the deficit the moves would leave (the rules:
:mod:`margincall.math.liquidation_map`).

The builder streams: it takes an iterable of chunks of rows, each row one position with its liquidation and
bankruptcy price already computed (``margincall calc --book`` output rows, a scenario's results, the engine's
positions), and holds only the grid's bins per symbol. A row is a mapping with the fields

``symbol, side ("long" | "short"), size (contracts, as in the scenario), mark_price, liquidation_price,
bankruptcy_price`` (the last two may be None or empty: the position has none)

and every row of a symbol must give the same ``mark_price``. A bad row is refused with its number and field.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from margincall.math.contracts import quantity
from margincall.math.liquidation_map import MapAccumulator, MapPosition, SymbolMap, fund_draw, move_grid
from margincall.model.errors import MarginCallError
from margincall.model.instrument import Instrument
from margincall.model.numbers import ZERO, to_decimal

#: The default grid: ±30 % in 1 % steps.
DEFAULT_RANGE = Decimal("0.3")
DEFAULT_STEPS = 30


@dataclass(frozen=True, slots=True)
class SymbolEntry:
    """One symbol's map, with the insurance fund of its settle asset drawn against each move's deficit."""

    symbol: str
    settle_asset: str
    map: SymbolMap
    fund: Decimal
    covered: tuple[Decimal, ...]
    shortfall: tuple[Decimal, ...]


@dataclass(frozen=True, slots=True)
class LiquidationMap:
    span: Decimal
    steps: int
    moves: tuple[Decimal, ...]
    symbols: tuple[SymbolEntry, ...]
    rows: int


def _price(row: Mapping[str, Any], name: str, where: str) -> Decimal | None:
    v = row.get(name)
    if v is None or v == "":
        return None
    try:
        return to_decimal(v, name)
    except MarginCallError as exc:
        raise MarginCallError(f"{where}.{exc}", field=f"{where}.{name}") from None


def _required(row: Mapping[str, Any], name: str, where: str) -> Decimal:
    v = _price(row, name, where)
    if v is None:
        raise MarginCallError(f"{where}.{name}: required", field=f"{where}.{name}")
    return v


class MapBuilder:
    """The map built as rows come (a consumer of a chunked pass, e.g. ``calc --book``'s): :meth:`add_rows` for each
    chunk, :meth:`result` at the end. The arguments are :func:`build_map`'s."""

    def __init__(
        self,
        instruments: Mapping[str, Instrument] | Callable[[str], Instrument],
        *,
        fund: Mapping[str, Decimal] | None = None,
        span: Decimal = DEFAULT_RANGE,
        steps: int = DEFAULT_STEPS,
        symbol: str | None = None,
        money_step: Mapping[str, Decimal] | None = None,
    ) -> None:
        self.moves = move_grid(span, steps)
        self.span, self.steps, self.symbol = span, steps, symbol
        self.fund, self.money_step = fund or {}, money_step or {}
        self._lookup = instruments.__getitem__ if isinstance(instruments, Mapping) else instruments
        self._accs: dict[str, tuple[Instrument, MapAccumulator]] = {}
        self.rows = 0

    def add_rows(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """Add one chunk of rows (numbered on from the previous chunks in errors: ``rows[n].field``)."""
        for row in rows:
            where = f"rows[{self.rows}]"
            self.rows += 1
            self._add(row, where)

    def _add(self, row: Mapping[str, Any], where: str) -> None:
        sym = row.get("symbol")
        if not isinstance(sym, str) or not sym:
            raise MarginCallError(f"{where}.symbol: required", field=f"{where}.symbol")
        if self.symbol is not None and sym != self.symbol:
            return
        side = row.get("side")
        if side not in ("long", "short"):
            raise MarginCallError(f"{where}.side: must be long or short, got {side!r}", field=f"{where}.side")
        size = _required(row, "size", where)
        mark = _required(row, "mark_price", where)
        got = self._accs.get(sym)
        if got is None:
            try:
                inst = self._lookup(sym)
            except (KeyError, MarginCallError):
                raise MarginCallError(f"{where}.symbol: unknown instrument {sym!r}", field=f"{where}.symbol") from None
            try:
                got = self._accs[sym] = (inst, MapAccumulator(inst.kind, mark, self.moves,
                                                              self.money_step.get(inst.settle_asset)))
            except MarginCallError as exc:
                raise MarginCallError(f"{where}.{exc}", field=f"{where}.mark_price") from None
        inst, acc = got
        if mark != acc.mark:
            raise MarginCallError(f"{where}.mark_price: {mark} differs from {sym}'s mark {acc.mark} on an earlier row",
                                  field=f"{where}.mark_price")
        lp, bp = _price(row, "liquidation_price", where), _price(row, "bankruptcy_price", where)
        try:
            acc.add(MapPosition(1 if side == "long" else -1, quantity(inst, size), lp, bp))
        except MarginCallError as exc:
            raise MarginCallError(f"{where}.{exc}", field=f"{where}.{exc.field}") from None

    def result(self) -> LiquidationMap:
        entries = []
        for sym in sorted(self._accs):
            inst, acc = self._accs[sym]
            m = acc.result()
            balance = self.fund.get(inst.settle_asset, ZERO)
            draws = [fund_draw(balance, d) for d in m.deficit]
            entries.append(SymbolEntry(sym, inst.settle_asset, m, balance, tuple(c for c, _ in draws),
                                       tuple(s for _, s in draws)))
        return LiquidationMap(self.span, self.steps, self.moves, tuple(entries), self.rows)


def build_map(
    chunks: Iterable[Iterable[Mapping[str, Any]]],
    instruments: Mapping[str, Instrument] | Callable[[str], Instrument],
    *,
    fund: Mapping[str, Decimal] | None = None,
    span: Decimal = DEFAULT_RANGE,
    steps: int = DEFAULT_STEPS,
    symbol: str | None = None,
    money_step: Mapping[str, Decimal] | None = None,
) -> LiquidationMap:
    """The map of every symbol in ``chunks`` (or of ``symbol`` alone), over :func:`move_grid` ``(span, steps)``.

    ``instruments`` gives each symbol's contract (kind, contract size, settle asset); ``fund`` the insurance
    fund's balance per settle asset (none: 0); ``money_step`` the smallest unit of an asset, to which a deficit
    is rounded up.
    """
    builder = MapBuilder(instruments, fund=fund, span=span, steps=steps, symbol=symbol, money_step=money_step)
    for chunk in chunks:
        builder.add_rows(chunk)
    return builder.result()


def _s(d: Decimal) -> str:
    text = format(d.normalize() if d == d.to_integral_value() else d, "f")
    return "0" if text in ("-0", "") else text


def map_to_json(m: LiquidationMap) -> dict[str, Any]:
    """The map as JSON: exact decimal strings, one list per column, each as long as ``moves``."""
    return {
        "range": _s(m.span), "steps": m.steps, "moves": [_s(x) for x in m.moves], "rows": m.rows,
        "symbols": [{
            "symbol": e.symbol, "kind": e.map.kind.value, "settle_asset": e.settle_asset, "mark": _s(e.map.mark),
            "positions": e.map.positions, "no_liquidation_price": e.map.no_liquidation_price,
            "insurance_fund": _s(e.fund),
            "prices": [_s(p) for p in e.map.prices],
            "long_count": list(e.map.long_count), "long_notional": [_s(x) for x in e.map.long_notional],
            "short_count": list(e.map.short_count), "short_notional": [_s(x) for x in e.map.short_notional],
            "deficit": [_s(x) for x in e.map.deficit], "fund_covers": [_s(x) for x in e.covered],
            "shortfall": [_s(x) for x in e.shortfall],
        } for e in m.symbols],
    }


def scenario_rows(data: Mapping[str, Any]) -> tuple[list[dict[str, Any]], dict[str, Instrument], dict[str, Decimal]]:
    """The rows, instruments and insurance fund of a map scenario: ``{"accounts": [scenario, …],
    "insurance_fund": {"USDT": "…"}}`` (each account a ``margincall calc --json`` scenario) or one scenario.
    Each account is evaluated by the calculator; its positions become rows."""
    from margincall.calculator.evaluate import evaluate, scenario_instrument
    from margincall.calculator.scenario import SECTIONS, parse_scenario

    if not isinstance(data, Mapping):
        raise MarginCallError("scenario: expected a JSON object", field="scenario")
    accounts = data.get("accounts") if "accounts" in data else [data]
    if not isinstance(accounts, list) or not accounts:
        raise MarginCallError("accounts: expected a non-empty list of scenarios", field="accounts")
    funds_in = data.get("insurance_fund", {}) if "accounts" in data else {}
    if not isinstance(funds_in, Mapping):
        raise MarginCallError("insurance_fund: expected {asset: balance}", field="insurance_fund")
    extra = set(data) - {"accounts", "insurance_fund"} if "accounts" in data else set()
    if extra:
        raise MarginCallError(f"{sorted(extra)[0]}: unknown field of a map scenario (accounts, insurance_fund)",
                              field=sorted(extra)[0])
    funds = {a: to_decimal(v, f"insurance_fund.{a}") for a, v in funds_in.items()}
    rows: list[dict[str, Any]] = []
    instruments: dict[str, Instrument] = {}
    for i, acc in enumerate(accounts):
        try:
            scenario = parse_scenario(acc)
            asked = [name for name in SECTIONS if getattr(scenario, name) is not None]
            if asked:  # the map is built from positions; a section's answer would be dropped
                raise MarginCallError(f"{asked[0]}: a liquidation map reads positions only; leave the section out",
                                      code="unused_input", field=asked[0])  # fmt: skip
            result = evaluate(scenario)
        except MarginCallError as exc:
            raise MarginCallError(f"accounts[{i}].{exc}", code=exc.code,
                                  field=f"accounts[{i}].{exc.field}" if exc.field else f"accounts[{i}]") from None
        for p, r in zip(scenario.positions, result.positions, strict=True):
            inst = scenario_instrument(scenario, p.symbol)
            if instruments.setdefault(p.symbol, inst) != inst:
                raise MarginCallError(f"accounts[{i}]: {p.symbol} is a different instrument than in an earlier "
                                      "account", field=f"accounts[{i}].instruments.{p.symbol}")
            rows.append({"symbol": p.symbol, "side": p.side, "size": p.size,
                         "mark_price": p.mark_price if p.mark_price is not None else p.entry_price,
                         "liquidation_price": r.liquidation_price, "bankruptcy_price": r.bankruptcy_price})
    return rows, instruments, funds
