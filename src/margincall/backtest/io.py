"""Reading a backtest's inputs into pandas DataFrames: candles, funding rates, trades, instruments.

* Candles: freqtrade's data files (``<PAIR>-<timeframe>-<candle type>.feather`` / ``.json`` / ``.json.gz`` /
  ``.parquet``; columns ``date, open, high, low, close[, volume]``; freqtrade's JSON is a list of
  ``[ms, open, high, low, close, volume]`` rows), or CSV / Parquet with ``date, open, high, low, close``.
* Funding: freqtrade's ``-funding_rate`` candles (the rate is in ``open``) or CSV/Parquet ``date, rate``.
* Trades: CSV or JSON (a list of objects, or ``{"trades": [...]}``) with the columns of :data:`TRADE_COLUMNS`,
  or freqtrade's backtest result (``freqtrade backtesting --export trades``: JSON or the zip that holds it).
* Instruments: JSON ``{symbol: instrument}`` (or ``{"instruments": {...}}``) in the calculator's instrument
  schema — ``tiers``, ``tier_table``, ``mmr`` + ``maintenance_amount``, ``max_leverage`` or a ccxt/venue tier
  payload, ``tick_size``, ``lot_size`` … — plus the listing's fee rates (:mod:`margincall.backtest.instruments`).

Every refused input names its file and field.
"""

from __future__ import annotations

import gzip
import io
import json
import re
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd  # type: ignore[import-untyped]

from margincall.model.errors import MarginCallError

OHLC = ("open", "high", "low", "close")
#: trade columns: required, then optional (``size`` or ``stake`` is required)
TRADE_REQUIRED = ("id", "symbol", "side", "open_time", "leverage", "margin_mode")
TRADE_OPTIONAL = ("open_price", "size", "stake", "close_time", "close_price", "account", "wallet")
TRADE_COLUMNS = TRADE_REQUIRED + TRADE_OPTIONAL
_FREQTRADE_NAME = re.compile(r"^(?P<pair>.+?)-(?P<tf>\d+[smhdwM])(?:-(?P<kind>futures|mark|funding_rate|index|spot))?$")


class BacktestInputError(MarginCallError):
    code = "invalid_backtest_input"


def symbol_of(pair: str) -> str:
    """A venue symbol from a freqtrade pair or file stem: ``XRP/USDT:USDT`` or ``XRP_USDT_USDT`` → ``XRPUSDT``
    (base and quote; the settle currency after ``:`` is dropped). A plain symbol is returned unchanged."""
    p = pair.split(":", 1)[0]
    if "/" in p:
        return p.replace("/", "")
    parts = p.split("_")
    return "".join(parts[:2]) if len(parts) >= 2 else p


def parse_freqtrade_name(path: Path) -> tuple[str, str, str] | None:
    """``(symbol, timeframe, candle type)`` of a freqtrade data file name, or None."""
    stem = path.name
    for ext in (".json.gz", ".feather", ".parquet", ".json", ".csv"):
        if stem.endswith(ext):
            stem = stem[: -len(ext)]
            break
    m = _FREQTRADE_NAME.match(stem)
    if m is None:
        return None
    return symbol_of(m["pair"]), m["tf"], m["kind"] or "spot"


def _read_table(path: Path) -> pd.DataFrame:
    name = path.name.lower()
    if not path.exists():
        raise BacktestInputError(f"{path}: no such file", field=str(path))
    try:
        if name.endswith(".feather"):
            return pd.read_feather(path)
        if name.endswith(".parquet"):
            return pd.read_parquet(path)
        if name.endswith(".csv"):
            return pd.read_csv(path)
        if name.endswith(".json.gz") or name.endswith(".json"):
            raw = gzip.decompress(path.read_bytes()) if name.endswith(".gz") else path.read_bytes()
            data = json.loads(raw)
            if isinstance(data, list) and data and isinstance(data[0], list):  # freqtrade's JSON rows
                return pd.DataFrame(data, columns=["date", *OHLC, "volume"][: len(data[0])])
            return pd.DataFrame(data)
    except (OSError, ValueError) as exc:
        raise BacktestInputError(f"{path}: cannot read: {exc}", field=str(path)) from None
    raise BacktestInputError(f"{path}: expected .feather, .parquet, .csv, .json or .json.gz", field=str(path))


def to_utc(values: Any, where: str) -> pd.Series:
    """Dates as UTC timestamps: ISO 8601 text (naive = UTC), or integers in milliseconds since the epoch."""
    # a Series is taken as it is: ``Series.to_numpy()`` of tz-aware dates builds one Python object per row
    s = values.reset_index(drop=True) if isinstance(values, pd.Series) else pd.Series(values)
    try:
        if isinstance(s.dtype, pd.DatetimeTZDtype):
            return s.dt.tz_convert("UTC")
        if pd.api.types.is_datetime64_dtype(s):
            return s.dt.tz_localize("UTC")
        if pd.api.types.is_numeric_dtype(s):
            return pd.to_datetime(s, unit="ms", utc=True)
        return pd.to_datetime(s, utc=True, format="ISO8601")
    except (ValueError, TypeError) as exc:
        raise BacktestInputError(f"{where}: not a date: {exc}", field=where) from None


def ms_of(dates: pd.Series) -> np.ndarray:
    """UTC timestamps as int64 milliseconds since the epoch, whatever the Series' time unit."""
    out: np.ndarray = pd.Series(dates).dt.as_unit("ms").astype("int64").to_numpy(dtype=np.int64)
    return out


def read_candles(path: str | Path) -> pd.DataFrame:
    """Candles sorted by ``date`` (UTC), with float ``open, high, low, close``; refuses missing columns,
    non-positive prices, ``high < low`` and repeated dates."""
    p = Path(path)
    df = _read_table(p)
    return candles_frame(df, str(p))


def candles_frame(df: pd.DataFrame, where: str = "candles") -> pd.DataFrame:
    """Validate and normalise a candles DataFrame (see :func:`read_candles`)."""
    missing = [c for c in ("date", *OHLC) if c not in df.columns]
    if missing:
        raise BacktestInputError(f"{where}: missing column {missing[0]} (need date, open, high, low, close)",
                                 field=missing[0])
    out = pd.DataFrame({"date": to_utc(df["date"], f"{where}.date")})
    for c in OHLC:
        col = pd.to_numeric(df[c], errors="coerce").to_numpy(dtype=float)
        bad = ~np.isfinite(col) | (col <= 0)
        if bad.any():
            raise BacktestInputError(f"{where}.{c}: row {int(np.argmax(bad))} is not a positive number", field=c)
        out[c] = col
    if (out["high"] < out["low"]).any():
        raise BacktestInputError(f"{where}: row {int(np.argmax(out['high'] < out['low']))} has high < low",
                                 field="high")
    out = out.sort_values("date", kind="stable").reset_index(drop=True)
    if out["date"].duplicated().any():
        raise BacktestInputError(f"{where}.date: repeated date {out['date'][out['date'].duplicated()].iloc[0]}",
                                 field="date")
    return out


def read_funding(path: str | Path) -> pd.DataFrame:
    """Funding times and rates: ``date, rate`` (freqtrade's ``-funding_rate`` files carry the rate in ``open``)."""
    p = Path(path)
    df = _read_table(p)
    return funding_frame(df, str(p))


def funding_frame(df: pd.DataFrame, where: str = "funding") -> pd.DataFrame:
    col = "rate" if "rate" in df.columns else "open" if "open" in df.columns else None
    if col is None or "date" not in df.columns:
        raise BacktestInputError(f"{where}: need columns date and rate (or freqtrade's open)", field="rate")
    rates = pd.to_numeric(df[col], errors="coerce")
    if rates.isna().any():
        raise BacktestInputError(f"{where}.{col}: row {int(np.argmax(rates.isna()))} is not a number", field=col)
    # the rate as text to 10 decimals (venues publish 8): "0.0001", not the stored float's binary expansion
    out = pd.DataFrame({"date": to_utc(df["date"], f"{where}.date"),
                        "rate": [format(float(x), ".10f").rstrip("0").rstrip(".") for x in rates]})
    return out.sort_values("date", kind="stable").reset_index(drop=True)


def read_trades(path: str | Path) -> pd.DataFrame:
    """A trades file: CSV/JSON in margincall's columns, or freqtrade's backtest result (JSON or zip)."""
    p = Path(path)
    if not p.exists():
        raise BacktestInputError(f"{p}: no such file", field="trades")
    if p.suffix.lower() == ".zip":
        return freqtrade_trades(_zip_json(p), str(p))
    if p.suffix.lower() == ".csv":
        return trades_frame(pd.read_csv(p, dtype=str, keep_default_na=False), str(p))
    try:
        data = json.loads(p.read_text())
    except (OSError, ValueError) as exc:
        raise BacktestInputError(f"{p}: not JSON: {exc}", field="trades") from None
    if isinstance(data, Mapping) and "strategy" in data:
        return freqtrade_trades(data, str(p))
    rows = data.get("trades") if isinstance(data, Mapping) else data
    if not isinstance(rows, list):
        raise BacktestInputError(f"{p}: expected a list of trades or {{\"trades\": [...]}}", field="trades")
    return trades_frame(pd.DataFrame(rows), str(p))


def _zip_json(path: Path) -> Mapping[str, Any]:
    with zipfile.ZipFile(path) as z:
        names = [n for n in z.namelist() if n.endswith(".json") and not n.endswith("_config.json")
                 and "market_change" not in n]
        if not names:
            raise BacktestInputError(f"{path}: no backtest result JSON inside", field="trades")
        data = json.load(io.TextIOWrapper(z.open(names[0]), encoding="utf-8"))
    if not isinstance(data, Mapping):
        raise BacktestInputError(f"{path}: the result JSON is not an object", field="trades")
    return data


def trades_frame(df: pd.DataFrame, where: str = "trades") -> pd.DataFrame:
    """Check a trades DataFrame's columns; unknown columns are refused (never silently ignored)."""
    cols = list(df.columns)
    unknown = [c for c in cols if c not in TRADE_COLUMNS]
    if unknown:
        raise BacktestInputError(f"{where}: unknown column {unknown[0]} (known: {', '.join(TRADE_COLUMNS)})",
                                 field=str(unknown[0]))
    missing = [c for c in TRADE_REQUIRED if c not in cols]
    if missing:
        raise BacktestInputError(f"{where}: missing column {missing[0]}", field=missing[0])
    if "size" not in cols and "stake" not in cols:
        raise BacktestInputError(f"{where}: give size (base units) or stake", field="size")
    out = df.copy()
    for c in TRADE_OPTIONAL:
        if c not in out.columns:
            out[c] = None
    return out[list(TRADE_COLUMNS)]


_TF_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "M": 2592000}


def timeframe_ms(tf: str, where: str = "timeframe") -> int:
    """A freqtrade timeframe (``5m``, ``1h``, ``8h``, ``1d`` …) in milliseconds."""
    m = re.fullmatch(r"(\d+)([smhdwM])", tf.strip())
    if m is None or int(m[1]) <= 0:
        raise BacktestInputError(f"{where}: not a timeframe: {tf!r} (e.g. 5m, 1h)", field="timeframe")
    return int(m[1]) * _TF_SECONDS[m[2]] * 1000


def freqtrade_result_trades(result: Mapping[str, Any], where: str = "freqtrade result"
                            ) -> list[tuple[str, Mapping[str, Any], int, Mapping[str, Any]]]:
    """``(trade id, strategy result, index, trade)`` for every trade of a freqtrade result, the id being
    ``PAIR#index`` (``STRATEGY:PAIR#index`` when the result holds several strategies)."""
    strategies = result.get("strategy")
    if not isinstance(strategies, Mapping) or not strategies:
        raise BacktestInputError(f"{where}: no strategy results", field="strategy")
    out = []
    for name, res in strategies.items():
        trades = res.get("trades") if isinstance(res, Mapping) else None
        if not isinstance(trades, list):
            raise BacktestInputError(f"{where}: strategy {name} has no trades list", field="trades")
        for i, t in enumerate(trades):
            if not isinstance(t, Mapping):
                raise BacktestInputError(f"{where}: strategy {name} trade {i} is not an object", field="trades")
            tid = f"{t.get('pair')}#{i}" if len(strategies) == 1 else f"{name}:{t.get('pair')}#{i}"
            out.append((tid, res, i, t))
    return out


def read_freqtrade_result(path: str | Path) -> Mapping[str, Any]:
    """freqtrade's backtest result as it is (JSON, or the zip ``--export trades`` writes)."""
    p = Path(path)
    if not p.exists():
        raise BacktestInputError(f"{p}: no such file", field="freqtrade result")
    if p.suffix.lower() == ".zip":
        return _zip_json(p)
    try:
        data = json.loads(p.read_text())
    except (OSError, ValueError) as exc:
        raise BacktestInputError(f"{p}: not JSON: {exc}", field="freqtrade result") from None
    if not isinstance(data, Mapping) or "strategy" not in data:
        raise BacktestInputError(f"{p}: not a freqtrade backtest result (no strategy key)", field="freqtrade result")
    return data


def freqtrade_trades(result: Mapping[str, Any], where: str = "freqtrade result") -> pd.DataFrame:
    """freqtrade's backtest result (``strategy → name → trades``) as margincall trades: ``amount`` is the size,
    ``is_short`` the side, ``open_rate``/``close_rate`` the prices, the result's ``margin_mode`` when given
    (isolated by default). Each trade is its own account, funded at its opening with its initial margin (freqtrade's
    ``stake_amount`` = amount × open rate / leverage) and the opening fee.

    freqtrade stamps an exit with the start of the candle it happens in (its price lies inside that candle), so
    when the result names its ``timeframe`` the close is placed at that candle's end: the whole candle is replayed
    while the position is held, and a liquidation inside it comes before freqtrade's exit."""
    rows = []
    for tid, res, i, t in freqtrade_result_trades(result, where):
        mode = str(res.get("margin_mode") or "isolated")
        tf = res.get("timeframe")
        shift = pd.Timedelta(milliseconds=timeframe_ms(str(tf), f"{where}: timeframe")) if tf else pd.Timedelta(0)
        try:
            rows.append({
                "id": tid,
                "symbol": symbol_of(str(t["pair"])),
                "side": "short" if t.get("is_short") else "long",
                "open_time": t["open_date"], "open_price": str(t["open_rate"]),
                "size": str(t["amount"]), "stake": None, "leverage": str(t.get("leverage") or 1),
                "margin_mode": mode,
                "close_time": None if t.get("close_date") is None else
                (to_utc([t["close_date"]], f"{where}: trade {i}.close_date").iloc[0] + shift).isoformat(),
                "close_price": None if t.get("close_rate") is None else str(t["close_rate"]),
                "account": None, "wallet": None,
            })
        except KeyError as exc:
            raise BacktestInputError(f"{where}: trade {i} has no {exc.args[0]}", field=str(exc.args[0])) from None
    return trades_frame(pd.DataFrame(rows, columns=list(TRADE_COLUMNS)), where)


def read_instruments(path: str | Path) -> dict[str, dict[str, Any]]:
    """``{symbol: instrument}`` from JSON, bare or as a scenario's ``{"instruments": {...}}`` (the fields of
    :mod:`margincall.backtest.instruments`); numbers are read as text, so ``0.0065`` stays exact."""
    p = Path(path)
    try:
        data = json.loads(p.read_text(), parse_float=str)
    except (OSError, ValueError) as exc:
        raise BacktestInputError(f"{p}: cannot read instruments JSON: {exc}", field="instruments") from None
    if isinstance(data, Mapping) and "instruments" in data:
        other = [k for k in data if k != "instruments"]
        if other:  # a whole scenario's venue or positions would be silently unused here
            raise BacktestInputError(f"{p}: {other[0]}: only the instruments of a scenario are read (give the venue "
                                     "with --venue)", field=str(other[0]))
        data = data["instruments"]
    if not isinstance(data, Mapping) or not all(isinstance(v, Mapping) for v in data.values()):
        raise BacktestInputError(f"{p}: expected {{symbol: {{listing fields}}}}", field="instruments")
    return {str(k): dict(v) for k, v in data.items()}


def datadir_files(datadir: str | Path, symbol: str | None = None) -> dict[str, dict[str, Path]]:
    """freqtrade data directory → ``{symbol: {"futures"|"mark"|"funding_rate": file}}`` (the finest timeframe
    of each kind)."""
    found: dict[str, dict[str, tuple[int, Path]]] = {}
    for f in sorted(Path(datadir).iterdir()):
        parsed = parse_freqtrade_name(f)
        if parsed is None:
            continue
        sym, tf, kind = parsed
        if symbol is not None and sym != symbol:
            continue
        seconds = timeframe_ms(tf, str(f))
        have = found.setdefault(sym, {})
        if kind not in have or seconds < have[kind][0]:
            have[kind] = (seconds, f)
    return {s: {k: v[1] for k, v in kinds.items()} for s, kinds in found.items()}
