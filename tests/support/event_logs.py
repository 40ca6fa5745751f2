"""Random event logs and an independent statement of which events a ``GET /v1/events`` query returns.

The filter here is written from the API contract, not from the code under test: an event concerns an account
when its payload names it as ``account``, ``from``, ``to`` or ``bankrupt_account`` or in a share of
``shares``; it moved the insurance fund when a posting of its result goes from or to the ``insurance`` book;
``since`` / ``until`` bound its ts (inclusive); types and the fund are alternatives (an event matches either).
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from typing import Any

from margincall.store.log import NewEvent, StoredEvent

TYPES = ("fill", "deposit", "transfer", "liquidation", "adl", "socialized_loss", "mark", "bankruptcy_settlement")
ACCOUNTS = ("a", "b", "c", "d")


def concerns(payload: dict[str, Any], account: str) -> bool:
    named = [payload.get("account"), payload.get("from"), payload.get("to"), payload.get("bankrupt_account")]
    named += [s.get("account") for s in payload.get("shares", [])]
    return account in named


def moved_fund(result: dict[str, Any] | None) -> bool:
    return any("insurance" in (p["from"], p["to"]) for p in (result or {}).get("postings", []))


def expected(events: Iterable[StoredEvent], *, after: int = 0, types: frozenset[str] | None = None,
             fund: bool = False, account: str | None = None, since: int | None = None,
             until: int | None = None) -> list[int]:
    """The seqs a full scan of ``events`` returns for the query."""
    out = []
    for e in events:
        if e.seq <= after:
            continue
        if (types is not None or fund) and not ((types is not None and e.type in types)
                                                or (fund and moved_fund(e.result))):
            continue
        if account is not None and not concerns(e.payload, account):
            continue
        if since is not None and e.ts < since:
            continue
        if until is not None and e.ts > until:
            continue
        out.append(e.seq)
    return out


def random_event(rng: random.Random, ts: int) -> tuple[NewEvent, dict[str, Any] | None]:
    """One event of a random type naming random accounts; its result sometimes moves the fund."""
    type_ = rng.choice(TYPES)
    payload: dict[str, Any] = {"n": str(rng.randrange(1000))}
    if type_ == "transfer":
        payload["from"], payload["to"] = rng.choice(ACCOUNTS), rng.choice(ACCOUNTS)  # from == to at times
    elif type_ == "adl":
        payload["account"], payload["bankrupt_account"] = rng.sample(ACCOUNTS, 2)
    elif type_ == "socialized_loss":
        payload["shares"] = [{"account": a, "amount": "1"} for a in rng.sample(ACCOUNTS, rng.randint(1, 3))]
    elif type_ != "mark":
        payload["account"] = rng.choice(ACCOUNTS)
    book = rng.choice(("insurance", "fees", "clearing", "wallet:a"))
    result = None if rng.random() < 0.2 else {"postings": [{"from": "wallet:b", "to": book, "asset": "USDT",
                                                            "amount": "1", "memo": "m"}]}
    return NewEvent(type_, payload, None, ts), result


def random_log(rng: random.Random, n: int) -> list[tuple[NewEvent, dict[str, Any] | None]]:
    """``n`` random events with timestamps that never decrease (as the ledger keeps them), often equal."""
    ts, out = 1000, []
    for _ in range(n):
        ts += rng.choice((0, 0, 1, 5))
        out.append(random_event(rng, ts))
    return out


def append_in_batches(log: Any, batch: Sequence[tuple[NewEvent, dict[str, Any] | None]],
                      rng: random.Random) -> None:
    """Append in random batch sizes (1 … 8: single inserts and PostgreSQL's COPY path alike)."""
    i = 0
    while i < len(batch):
        k = rng.randint(1, 8)
        log.append(batch[i:i + k])
        i += k
