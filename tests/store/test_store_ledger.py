"""The Journal on the real ledger, on both backends: idempotency, rejections, tampering, recovery."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from margincall.ledger import Ledger, Rejected
from margincall.store import open_log
from margincall.store.journal import Ack, Command, IdempotencyConflict, Journal, replay, verify
from margincall.store.log import EventLog
from support.store import ACCOUNT, BUY, DEPOSIT, MARKET, SELL, raw_sql


def setup(j: Journal) -> None:
    j.submit("market_listed", MARKET, key="m", ts=1_000)
    j.submit("account_opened", ACCOUNT, key="a", ts=1_000)
    j.submit("deposit", DEPOSIT, key="d", ts=1_001)


def test_fill_is_journaled_with_its_result(log: EventLog):
    j = Journal(log, Ledger)
    setup(j)
    ack = j.submit("fill", BUY, key="f1", ts=1_002)
    assert ack.seq == 4 and not ack.duplicate
    assert ack.result is not None and ack.result["type"] == "fill"
    # Taker fee on 0.01 × 60000 = 600 notional is charged to the wallet: it is one of the postings.
    assert any(p["from"] == "wallet:a1" for p in ack.result["postings"])
    stored = log.by_key("f1")
    assert stored is not None and stored.result == ack.result and stored.payload == BUY
    # The wallet lost exactly the fee posted in the result.
    fee = sum(Decimal(p["amount"]) for p in ack.result["postings"] if p["from"] == "wallet:a1")
    assert j.ledger.wallet("a1", "USDT") == Decimal("1000") - fee  # type: ignore[attr-defined]


def test_duplicate_fill_returns_the_original_ack_and_changes_nothing(target: str):
    lg = open_log(target)
    j = Journal(lg, Ledger)
    setup(j)
    first = j.submit("fill", BUY, key="f1", ts=1_002)
    digest = j.ledger.digest()
    assert j.submit("fill", dict(BUY), key="f1", ts=1_003) == Ack(first.seq, first.result, True)
    with pytest.raises(IdempotencyConflict):
        j.submit("fill", {**BUY, "size": "0.02"}, key="f1", ts=1_003)
    assert (j.ledger.digest(), lg.last_seq()) == (digest, 4)
    lg.close()
    # After a restart, from the log alone:
    lg = open_log(target)
    j2 = Journal(lg, Ledger)
    assert j2.submit("fill", BUY, key="f1") == Ack(first.seq, first.result, True)
    assert (j2.ledger.digest(), lg.last_seq()) == (digest, 4)
    lg.close()


@pytest.mark.parametrize(
    ("event_type", "payload", "code"),
    [
        ("fill", {**BUY, "account": "ghost"}, "unknown_account"),
        ("fill", {**BUY, "symbol": "DOGEUSDT"}, "unknown_symbol"),
        ("deposit", {**DEPOSIT, "amount": "NaN"}, "invalid_number"),
        ("deposit", {**DEPOSIT, "amount": "-5"}, "invalid_number"),
        ("withdrawal", {**DEPOSIT, "amount": "1000000"}, "insufficient_balance"),
        ("teleport", {}, "unknown_event_type"),
    ],
)
def test_rejected_event_leaves_no_trace(log: EventLog, event_type: str, payload: dict, code: str):
    j = Journal(log, Ledger)
    setup(j)
    digest = j.ledger.digest()
    with pytest.raises(Rejected) as err:
        j.submit(event_type, payload, key="bad", ts=1_002)
    assert err.value.code == code
    assert (j.ledger.digest(), log.last_seq(), log.by_key("bad")) == (digest, 3, None)


def test_out_of_order_timestamp_is_rejected(log: EventLog):
    j = Journal(log, Ledger)
    setup(j)
    with pytest.raises(Rejected) as err:
        j.submit("fill", BUY, ts=999)
    assert err.value.code == "out_of_order" and log.last_seq() == 3


def test_tampered_payload_is_caught_at_its_seq(target: str):
    lg = open_log(target)
    j = Journal(lg, Ledger)
    setup(j)
    for i in range(6):
        j.submit("fill", BUY if i % 2 == 0 else SELL, key=f"f{i}", ts=1_010 + i)
    assert verify(lg, Ledger).ok
    raw_sql(target, "UPDATE events SET payload = ? WHERE seq = ?", ('{"account":"a1","amount":"5000","asset":"USDT"}',
                                                                    3))
    report = verify(lg, Ledger)
    assert (report.ok, report.first_bad_seq, report.code) == (False, 3, "hash_mismatch")
    lg.close()


def test_recovery_from_snapshot_equals_fresh_fold(target: str):
    lg = open_log(target)
    j = Journal(lg, Ledger, snapshot_every=5)
    setup(j)
    j.submit_many([Command("fill", BUY if i % 2 == 0 else SELL, key=f"f{i}", ts=1_010 + i) for i in range(12)])
    j.submit("fill", BUY, key="last", ts=2_000)
    snap = lg.latest_snapshot()
    assert snap is not None and snap[0] == 15
    live = j.ledger.digest()
    lg.close()
    lg = open_log(target)
    assert Journal(lg, Ledger).ledger.digest() == live == replay(lg, Ledger).digest()
    report = verify(lg, Ledger)
    assert report.ok and report.events == 16 and report.digest == live
    lg.close()


commands = st.lists(
    st.tuples(
        st.sampled_from(["deposit", "buy", "sell", "withdraw_big", "bad_symbol"]),
        st.integers(0, 6),  # idempotency key number (0 = no key)
        st.integers(1, 4),  # batch boundary marker
    ),
    min_size=1,
    max_size=30,
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cmds=commands)
def test_random_batches_keep_state_equal_to_the_fold_of_the_log(tmp_path_factory, cmds):
    """Any mix of accepted, rejected, duplicate and conflicting commands, in any batching: live state equals
    the replay of the log, the log verifies, and a repeated key always answers its first ack."""
    lg = open_log(str(tmp_path_factory.mktemp("h") / "e.db"))
    j = Journal(lg, Ledger, snapshot_every=7)
    setup(j)
    first_ack: dict[str, Ack] = {}
    first_payload: dict[str, tuple[str, dict]] = {}
    batch: list[Command] = []
    for n, (kind, keyno, cut) in enumerate(cmds):
        type_, payload = {
            "deposit": ("deposit", DEPOSIT),
            "buy": ("fill", BUY),
            "sell": ("fill", SELL),
            "withdraw_big": ("withdrawal", {**DEPOSIT, "amount": "99999999"}),
            "bad_symbol": ("fill", {**BUY, "symbol": "NOPE"}),
        }[kind]
        batch.append(Command(type_, payload, key=f"k{keyno}" if keyno else None, ts=2_000 + n))
        if cut == 1 or n == len(cmds) - 1:
            for c, out in zip(batch, j.submit_many(batch), strict=True):
                if c.key is None:
                    continue
                if c.key in first_payload and first_payload[c.key] != (c.type, c.payload):
                    assert isinstance(out, IdempotencyConflict)
                elif isinstance(out, Ack):
                    if c.key in first_ack:
                        assert out == Ack(first_ack[c.key].seq, first_ack[c.key].result, True)
                    else:
                        assert not out.duplicate
                        first_ack[c.key] = out
                        first_payload[c.key] = (c.type, c.payload)
            batch = []
        assert j.ledger.conservation_error() is None
    assert j.ledger.digest() == replay(lg, Ledger).digest()
    assert Journal(lg, Ledger).ledger.digest() == j.ledger.digest()
    report = verify(lg, Ledger)
    assert report.ok, report
    lg.close()
