"""The ledger's and the log's fast paths give exactly what the general paths give.

* numbers: ``read_number``'s shortcut for plain text vs :func:`margincall.model.numbers.positive`;
* text of Decimals: ``plain`` (``str`` when it has no exponent) vs ``format(d, "f")``;
* replay: :meth:`Ledger.fold` of the accepted events and :func:`fold_log` (``read_for_replay``) vs
  :meth:`Ledger.apply` and :func:`fold` over :meth:`read`, on random event streams;
* fills: the fast path of the common fill (:mod:`margincall.ledger.fastfill`), checked and unchecked, vs the
  general path (the ``fill`` handler), results and state;
* JSON: orjson where used (flat payloads, results, parsing) vs the json module;
* sums over an account's positions do not depend on set (hash) order.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from margincall.ledger import Ledger
from margincall.ledger import ledger as ledger_module
from margincall.ledger.fields import plain, read_number
from margincall.model.errors import MarginCallError
from margincall.model.numbers import positive
from margincall.store import log as log_module
from margincall.store import open_log
from margincall.store.journal import Command, Journal, fold, fold_log, verify
from margincall.store.log import _loads, canonical_json, result_json
from support.ledger_streams import ACCOUNTS, INVERSE, SYMBOLS, random_stream


def _outcome(f: Any, *args: Any) -> tuple[str, Any]:
    try:
        v = f(*args)
    except MarginCallError as e:
        return "error", (e.code, str(e))
    except Exception as e:  # any other exception must be the same too
        return "crash", type(e).__name__
    return "value", (v, str(v))


number_text = st.one_of(
    st.decimals(allow_nan=False, allow_infinity=False).map(str),
    st.decimals(allow_nan=False, allow_infinity=False).map(lambda d: format(d, "f")),
    st.text(alphabet="0123456789.-+eE _naifNty\t", max_size=24),
    st.from_regex(r"\s?-?[0-9]{1,20}(\.[0-9]{0,21})?(e-?[0-9]{1,2})?\s?", fullmatch=True),
)


@settings(max_examples=600)
@given(number_text)
def test_number_shortcut_gives_what_positive_gives(text: str) -> None:
    fast = _outcome(read_number, {"x": text}, "x")
    slow = _outcome(positive, text, "x")
    assert fast == slow


@given(st.decimals(allow_nan=False, allow_infinity=False))
def test_plain_decimal_text_is_format_f(d: Decimal) -> None:
    assert plain(d) == format(d, "f")


# -- random event streams -------------------------------------------------------------------------------------



def _apply(led: Ledger, type_: str, payload: dict[str, Any], ts: int) -> Any:
    try:
        return led.apply(type_, payload, ts=ts).to_dict()
    except MarginCallError as e:
        return ("refused", e.code, str(e))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_folding_the_accepted_events_reaches_the_state_apply_reaches(seed: int) -> None:
    full, folded = Ledger(), Ledger()
    accepted = fills = 0
    for ts, (type_, payload) in enumerate(random_stream(seed, 700)):
        if isinstance(_apply(full, type_, payload, ts), dict):  # the log holds the accepted events only
            folded.fold(type_, payload, ts)
            accepted += 1
            fills += type_ == "fill"
        assert full.digest() == folded.digest()
        assert full.conservation_error() is None
    assert accepted > 150 and fills > 80  # the stream exercised the ledger, not only its refusals


@pytest.mark.parametrize("seed", [4, 5])
def test_fold_log_matches_fold_over_read_and_the_live_ledger(seed: int, tmp_path: Path) -> None:
    log = open_log(str(tmp_path / "events.db"))
    j = Journal(log, Ledger)
    outcomes = j.submit_many([Command(t, p, key=f"k{i}", ts=i) for i, (t, p) in enumerate(random_stream(seed, 600))])
    assert sum(1 for o in outcomes if not isinstance(o, MarginCallError)) > 150
    live = j.ledger.digest()
    assert fold_log(log, Ledger()).digest() == live
    assert fold(log.read(results=False), Ledger()).digest() == live
    report = verify(log, Ledger)  # re-derives every stored result (written by result_json) with apply
    assert report.ok and report.digest == live
    log.close()


def test_account_sums_do_not_depend_on_position_order() -> None:
    """Four cross legs with 28-digit average entries (0.3 and 0.4 at two prices: a division by 7), whose Σ uPnL
    rounds differently in different orders: cross_totals sums in (symbol, leg) order, whatever order the
    positions come in (a set's order changes between processes)."""
    led = Ledger()
    led.apply("market_listed", {"venue": "binance-usdm", "symbol": "BTCUSDT"}, ts=1)
    led.apply("market_listed", {"venue": "binance-usdm", "symbol": "ETHUSDT"}, ts=1)
    led.apply("account_opened", {"account": "h", "position_mode": "hedge"}, ts=1)
    led.apply("deposit", {"account": "h", "asset": "USDT", "amount": "10000000"}, ts=1)
    fills = (("BTCUSDT", "long", "buy", ("59512.6", "59434.0")), ("BTCUSDT", "short", "sell", ("60402.9", "59919.3")),
             ("ETHUSDT", "long", "buy", ("3015.7", "2970.1")), ("ETHUSDT", "short", "sell", ("2996.7", "3013.3")))
    for symbol, leg, side, prices in fills:
        for size, px in zip(("0.3", "0.4"), prices, strict=True):
            led.apply("fill", {"account": "h", "symbol": symbol, "side": side, "size": size, "price": px,
                               "position_side": leg}, ts=2)
    led.apply("mark", {"symbol": "BTCUSDT", "price": "61234.5"}, ts=3)
    led.apply("mark", {"symbol": "ETHUSDT", "price": "2987.65"}, ts=3)
    positions = led.positions_of("h")  # sorted by (symbol, leg)
    assert [(p.key.symbol, p.key.position_side.value) for p in positions] == [(f[0], f[1]) for f in fills]

    def sums(order: list[Any]) -> tuple[Decimal, Decimal]:
        upnl = im = Decimal(0)
        for pos in order:  # the helpers the risk engine uses, one position at a time
            price = led.price_for(pos.key.symbol)
            upnl += led.position_upnl(pos, price)
            im += led.position_im(pos, price)
        return upnl, im

    orders = [positions, positions[::-1], positions[1:] + positions[:1], positions[2:] + positions[:2]]
    assert len({sums(o)[0] for o in orders}) > 1  # the plain sum does depend on the order here
    for order in orders:
        assert led.cross_totals("h", "USDT", order, with_mm=False)[:2] == sums(positions)
    assert led.cross_totals("h", "USDT", with_mm=False)[:2] == sums(positions)


# -- JSON -----------------------------------------------------------------------------------------------------

EVERY_CHARACTER = "".join(chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF)


def test_flat_payload_text_is_the_json_module_text_for_every_character() -> None:
    for value in ({"k": EVERY_CHARACTER}, {EVERY_CHARACTER[:5000]: "v", "a": EVERY_CHARACTER[-5000:]}):
        expected = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        assert canonical_json(value) == expected


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)


@given(st.dictionaries(st.text(max_size=8), json_values, max_size=6) | json_values)
def test_parsing_and_result_text_match_the_json_module(value: Any) -> None:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    parsed = _loads(text)
    assert parsed == json.loads(text)
    assert canonical_json(parsed) == text  # same types too (an int stays an int, a float a float)
    assert canonical_json(json.loads(result_json(value))) == text


def test_parsing_keeps_integers_beyond_64_bits_exact() -> None:
    text = '{"a":123456789012345678901234567890,"b":"x"}'
    assert _loads(text) == {"a": 123456789012345678901234567890, "b": "x"}


def test_without_orjson_the_json_module_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(log_module, "_orjson", None)
    value = {"b": "é", "a": "1"}
    assert canonical_json(value) == '{"a":"1","b":"é"}'
    assert result_json({"postings": [value], "n": None}) == '{"n":null,"postings":[{"a":"1","b":"é"}]}'
    assert _loads('{"a":"1"}') == {"a": "1"}


# -- the fast path for common fills (ledger.fastfill), and the fold of logged fills ------------------------------


class _Str(str):
    """A str subclass: the fast path must leave it to the general path."""


def fill_stream(seed: int, n: int) -> list[tuple[str, dict[str, Any]]]:
    """Mostly fills, over well-funded one-way and hedge accounts: opens, increases, reductions, closes, flips,
    reduce-only, maker/taker, linear and inverse, isolated and cross (leverage changes), marks moving enough to
    refuse some fills for margin, order margin reserved, and malformed or unknown fields now and then."""
    r = random.Random(seed)
    events: list[tuple[str, dict[str, Any]]] = [
        ("market_listed", {"venue": "binance-usdm", "symbol": "BTCUSDT"}),
        ("market_listed", {"venue": "binance-usdm", "symbol": "ETHUSDT"}),
        ("market_listed", INVERSE),
    ]
    for a in ACCOUNTS:
        events.append(("account_opened", {"account": a, "position_mode": "hedge" if a[0] == "h" else "one_way"}))
        events.append(("deposit", {"account": a, "asset": "USDT", "amount": r.choice(["3000", "20000", "400000"])}))
        events.append(("deposit", {"account": a, "asset": "BTC", "amount": r.choice(["0.2", "3"])}))
    for i in range(n):
        a, s, k = r.choice(ACCOUNTS), r.choice(list(SYMBOLS)), r.random()
        base, digits, sizes = SYMBOLS[s]
        if k < 0.8:
            p: dict[str, Any] = {"account": a, "symbol": s, "side": r.choice(["buy", "sell"]),
                                 "size": r.choice(sizes), "price": f"{base * (1 + r.uniform(-0.08, 0.08)):.{digits}f}"}
            if a[0] == "h":
                p["position_side"] = r.choice(["long", "short"])
            elif r.random() < 0.1:
                p["position_side"] = r.choice(["both", "long", None])
            if r.random() < 0.4:
                p["liquidity"] = r.choice(["maker", "taker", "maker", "bogus", None])
            if r.random() < 0.15:
                p["reduce_only"] = r.choice([True, True, False, "yes", 1])
            if r.random() < 0.05:
                field = r.choice(["account", "symbol", "side", "size", "price"])
                p[field] = r.choice(["zz", "", "  ", "BUY", "0", "-1", "1e3", "0.0001", 1, None, _Str(str(p[field]))])
            events.append(("fill", p))
        elif k < 0.9:
            events.append(("mark", {"symbol": s, "price": f"{base * (1 + r.uniform(-0.2, 0.2)):.{digits}f}"}))
        elif k < 0.95:
            events.append(("leverage_set", {"account": a, "symbol": s, "leverage": r.choice(["2", "10", "20", "125"]),
                                            "margin_mode": r.choice(["cross", "cross", "isolated"])}))
        elif k < 0.98:
            events.append(("order_margin_reserved", {"account": a, "order_id": f"o{i % 5}", "asset": "USDT",
                                                     "amount": r.choice(["20", "2500"])}))
        else:
            events.append(("order_margin_released", {"account": a, "order_id": f"o{i % 5}"}))
    return events


def _count_fast_fills(monkeypatch: pytest.MonkeyPatch) -> Counter[tuple[int, bool]]:
    """Count the fills the fast path takes, by (id of the ledger, checked)."""
    taken: Counter[tuple[int, bool]] = Counter()
    real = ledger_module.quick_fill

    def counting(led: Ledger, p: dict[str, Any], ts: int, checked: bool, record: bool) -> Any:
        out = real(led, p, ts, checked, record)
        if out is not None:
            taken[(id(led), checked)] += 1
        return out

    monkeypatch.setattr(ledger_module, "quick_fill", counting)
    return taken


@pytest.mark.parametrize(("stream", "seed"), [("fills", s) for s in range(1, 7)] + [("mixed", s) for s in (4, 5)])
def test_fast_fill_path_gives_what_the_general_path_gives(stream: str, seed: int,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    general, fast, folded = Ledger(), Ledger(), Ledger()
    general.fast_fills = False
    assert fast.fast_fills and folded.fast_fills
    taken = _count_fast_fills(monkeypatch)
    events = fill_stream(seed, 1500) if stream == "fills" else random_stream(seed, 1500)
    r = random.Random(seed)
    kinds: set[str] = set()
    for ts, (type_, payload) in enumerate(events):
        if r.random() < 0.01:
            # a cross wallet under liquidation (the risk engine's waterfall) may go below zero between steps
            book = (f"wallet:{r.choice(ACCOUNTS)}", r.choice(["USDT", "BTC"]))
            for led in (general, fast, folded):
                led.liquidating ^= {book}
        before = general.positions.get(general._keys.get((payload.get("account"), payload.get("symbol"), "both")))
        expected = _apply(general, type_, payload, ts)
        assert _apply(fast, type_, payload, ts) == expected
        if isinstance(expected, dict):  # the log holds accepted events only: fold them as recovery does
            folded.fold(type_, payload, ts)
        assert fast.digest() == general.digest() == folded.digest()
        if type_ == "fill" and isinstance(expected, dict) and before is not None:
            after = Decimal(expected["position_size"])
            kinds.add("close" if after == 0 else "flip" if after * before.size < 0 else
                      "increase" if abs(after) > abs(before.size) else "reduce")
    assert taken[(id(fast), True)] > (100 if stream == "fills" else 30)  # the fast path was really exercised ...
    assert taken[(id(folded), False)] > (100 if stream == "fills" else 30)  # ... and the fold's unchecked path too
    if stream == "fills":
        assert {"flip", "increase", "reduce"} <= kinds  # ... and so were these kinds of fill (closes: below)


def test_fast_fill_path_on_a_scripted_position_life(monkeypatch: pytest.MonkeyPatch) -> None:
    # open, increase, reduce, close (exact), reduce-only refused, reopen, flip, reduce-only close, isolated
    script = [
        ("buy", "0.5", None), ("buy", "0.25", None), ("sell", "0.5", None), ("sell", "0.25", None),
        ("sell", "0.1", True), ("sell", "1", None), ("buy", "1.5", None), ("sell", "0.5", True),
    ]
    general, fast = Ledger(), Ledger()
    general.fast_fills = False
    taken = _count_fast_fills(monkeypatch)
    setup = [("market_listed", {"venue": "binance-usdm", "symbol": "BTCUSDT"}),
             ("account_opened", {"account": "a1"}), ("account_opened", {"account": "a2"}),
             ("deposit", {"account": "a1", "asset": "USDT", "amount": "100000"}),
             ("deposit", {"account": "a2", "asset": "USDT", "amount": "100000"}),
             ("leverage_set", {"account": "a2", "symbol": "BTCUSDT", "leverage": "10", "margin_mode": "isolated"})]
    events = setup + [("fill", {"account": acct, "symbol": "BTCUSDT", "side": side, "size": size,
                                "price": str(60000 + 100 * i), **({} if ro is None else {"reduce_only": ro})})
                      for acct in ("a1", "a2") for i, (side, size, ro) in enumerate(script)]
    outcomes = []
    for ts, (type_, payload) in enumerate(events):
        expected = _apply(general, type_, payload, ts)
        assert _apply(fast, type_, payload, ts) == expected
        assert fast.digest() == general.digest()
        outcomes.append(expected)
    a1 = outcomes[len(setup): len(setup) + len(script)]
    # a1's position after each fill: 0.5, 0.75, 0.25, 0 (closed), refused (reduce-only on a flat position),
    # -1, +0.5 (flip), 0 (reduce-only close)
    assert [o["position_size"] if isinstance(o, dict) else o[1] for o in a1] == [
        "0.5", "0.75", "0.25", "0", "reduce_only_violation", "-1", "0.5", "0"]
    assert taken == {(id(fast), True): 6}  # a1's 8 fills but the refused one and the flip; none of the isolated a2's


def test_fast_fill_path_is_off_when_a_subclass_changes_trading() -> None:
    class Custom(Ledger):
        def trade(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
            return super().trade(*args, **kwargs)

    assert Ledger().fast_fills
    assert not Custom().fast_fills
