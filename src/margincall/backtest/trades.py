"""A backtest's trades as checked values (:class:`Trade`), from the DataFrame of :mod:`margincall.backtest.io`."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import pandas as pd  # type: ignore[import-untyped]

from margincall.backtest.io import BacktestInputError, ms_of, to_utc


@dataclass(frozen=True, slots=True)
class Trade:
    """One trade: a position opened at ``open_ts`` (ms) and closed at ``close_ts`` (or held to the data's end)."""

    id: str
    symbol: str
    sign: int  # +1 long, −1 short
    open_ts: int
    open_price: Decimal | None
    size: Decimal | None  # base units
    stake: Decimal | None  # margin in the settle asset: size = stake × leverage / open price
    leverage: Decimal
    margin_mode: str
    close_ts: int | None
    close_price: Decimal | None
    account: str
    wallet: Decimal | None


def _blank(v: Any) -> bool:
    """Missing: None, empty text, NaN / NaT (what pandas puts in an empty cell)."""
    if v is None or (isinstance(v, str) and not v.strip()):
        return True
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def _dec(v: Any, where: str, *, positive: bool = True) -> Decimal | None:
    if v is None:
        return None
    try:
        d = Decimal(str(v).strip())
    except InvalidOperation:
        raise BacktestInputError(f"{where}: not a number: {v!r}", field=where.rsplit(".", 1)[-1]) from None
    if not d.is_finite() or (positive and d <= 0):
        raise BacktestInputError(f"{where}: expected a positive number, got {v!r}", field=where.rsplit(".", 1)[-1])
    return d


def _times(df: pd.DataFrame, column: str) -> list[int | None]:
    """A date column as ms (None where empty), converted in one pass; a bad cell's row is named."""
    cells = [None if _blank(v) else v for v in df[column]]
    given = [i for i, v in enumerate(cells) if v is not None]
    out: list[int | None] = [None] * len(cells)
    if not given:
        return out
    try:
        ms = ms_of(to_utc([cells[i] for i in given], column))
    except BacktestInputError:
        for i in given:  # find the bad row
            to_utc([cells[i]], f"trades[{i}].{column}")
        raise
    for i, m in zip(given, ms, strict=True):
        out[i] = int(m)
    return out


def parse_trades(df: pd.DataFrame) -> list[Trade]:
    """Check every row; an error names the trade's row and field."""
    out: list[Trade] = []
    seen: set[str] = set()
    opens, closes = _times(df, "open_time"), _times(df, "close_time")
    for i, raw in enumerate(df.to_dict("records")):
        row = {k: None if _blank(v) else v for k, v in raw.items()}
        tid = str(row.get("id") if row.get("id") is not None else "")
        where = f"trades[{i}]"
        if not tid:
            raise BacktestInputError(f"{where}.id: missing", field="id")
        if tid in seen:
            raise BacktestInputError(f"{where}.id: {tid!r} repeats an earlier trade's id", field="id")
        seen.add(tid)
        side = str(row.get("side") or "").lower()
        if side not in ("long", "short"):
            raise BacktestInputError(f"{where}.side: expected long or short, got {row.get('side')!r}", field="side")
        mode = str(row.get("margin_mode") or "").lower()
        if mode not in ("isolated", "cross"):
            raise BacktestInputError(f"{where}.margin_mode: expected isolated or cross, got "
                                     f"{row.get('margin_mode')!r}", field="margin_mode")
        size = _dec(row.get("size"), f"{where}.size")
        stake = _dec(row.get("stake"), f"{where}.stake")
        if (size is None) == (stake is None):
            raise BacktestInputError(f"{where}: give exactly one of size and stake", field="size")
        lev = _dec(row.get("leverage"), f"{where}.leverage")
        open_ts = opens[i]
        if lev is None or open_ts is None:
            raise BacktestInputError(f"{where}: leverage and open_time are required", field="leverage")
        close_ts = closes[i]
        if close_ts is not None and close_ts < open_ts:
            raise BacktestInputError(f"{where}.close_time: before open_time", field="close_time")
        close_price = _dec(row.get("close_price"), f"{where}.close_price")
        if close_price is not None and close_ts is None:
            raise BacktestInputError(f"{where}.close_price: given without close_time", field="close_price")
        account = row.get("account")
        out.append(Trade(
            id=tid, symbol=str(row.get("symbol") or ""), sign=1 if side == "long" else -1, open_ts=open_ts,
            open_price=_dec(row.get("open_price"), f"{where}.open_price"), size=size, stake=stake, leverage=lev,
            margin_mode=mode, close_ts=close_ts, close_price=close_price,
            account=str(account) if account is not None else f"trade-{tid}",
            wallet=_dec(row.get("wallet"), f"{where}.wallet", positive=False)))
        if not out[-1].symbol:
            raise BacktestInputError(f"{where}.symbol: missing", field="symbol")
    wallets: dict[str, Decimal] = {}
    for t in out:
        if t.wallet is not None and wallets.setdefault(t.account, t.wallet) != t.wallet:
            raise BacktestInputError(f"trade {t.id}: wallet {t.wallet} differs from account {t.account}'s "
                                     f"{wallets[t.account]}", field="wallet")
    return out
