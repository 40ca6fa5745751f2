"""The ADL walk: the counterparties a bankrupt position is deleveraged against, in the order of the venue's ranking
(kept between calls by :class:`~margincall.risk.adl_queue.AdlQueue`), and the per-call caches that let a crash
tick walk past whole blocks of that ranking at once.

Only positions in profit at the bankruptcy price take part (Binance ranks positive PnL, docs/venues.md §3.8);
each is re-read before it is taken (the ranking is taken once per ``process()`` call and positions change in
between), and one taken or closed meanwhile is dropped from the ranking at the end of the walk, so later
liquidations of the call do not walk past it.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal

from margincall.ledger import Ledger, PositionKey, PositionState
from margincall.model.enums import ContractKind
from margincall.risk.adl import AdlRanking
from margincall.risk.adl_queue import AdlQueue, Entry
from margincall.risk.status import MarginStatus, WatchId

#: entries per block of an ADL walk (:meth:`AdlWalk.blocks`)
BLOCK = 16
#: (start, end, position keys, entry price nearest to profit) of one block; no keys and no price: walk it all
Block = tuple[int, int, frozenset[PositionKey] | None, Decimal | None]


@dataclass(frozen=True, slots=True)
class Take:
    """One counterparty's position reduced by ``size`` at the bankruptcy price: its rank (1 = first) and score."""

    account: str
    position_side: str
    size: Decimal
    rank: int
    score: Decimal


class AdlWalk:
    """The ADL rankings (:attr:`queue`) and the walk over them, with the walk's caches of one call."""

    def __init__(self, ledger: Ledger, incremental: bool = True) -> None:
        self.ledger = ledger
        self.queue = AdlQueue(ledger, incremental=incremental)
        #: per ADL side, the blocks of its ranking walked in this call (:meth:`blocks`)
        self._blocks: dict[tuple[str, int], tuple[int, list[Entry], int, list[Block]]] = {}
        #: per ADL side, the suffix edges of its blocks (:meth:`suffix_edges`)
        self._suffix: dict[tuple[str, int], tuple[list[Block], int, list[Decimal | None]]] = {}

    def ranked(self, symbol: str, sign: int, ranking: AdlRanking, call: int,
               status_of: Callable[[WatchId], MarginStatus]) -> list[Entry]:
        """The ``sign`` side of ``symbol`` ranked by the venue's ADL formula, as of its first use in ``call`` (a
        crash liquidates many accounts against the same ranking). The queue keeps the rankings between calls and
        recomputes only the entries whose inputs changed since (marks, events of their accounts): exactly the
        ranking a recomputation from scratch gives (:mod:`.adl_queue`)."""
        return self.queue.ranked(symbol, sign, ranking, call, status_of)

    def takes(self, pos: PositionState, bankrupt: Decimal, ranking: AdlRanking, call: int,
              status_of: Callable[[WatchId], MarginStatus]) -> Iterator[Take]:
        """The counterparties of the bankrupt position ``pos`` closed at ``bankrupt``, in rank order, until its
        size is taken or the ranking ends. Lazy: the caller applies each take (an ``adl`` event) before the next
        is looked for, as the walk reads the positions as they are then."""
        led = self.ledger
        symbol = pos.key.symbol
        market = led.markets[symbol]
        remaining = abs(pos.size)
        sign = -pos.sign
        ranked = self.ranked(symbol, sign, ranking, call, status_of)
        gone = False
        # linear: in profit at the bankruptcy price ⇔ on the right side of the entry (sign × Q × (P − entry) > 0
        # keeps the sign of P − entry exactly); the walk may pass many entries in profit at the mark only
        linear = market.instrument.kind is ContractKind.LINEAR
        me, positions = pos.key.account, led.positions
        # the counterparties are on the other side: a ranked position now on this side (or gone) was taken
        mine_long = pos.size > 0
        # linear: whole blocks of the ranking out of profit at this bankruptcy price, with every position still
        # held, are passed at once (each of their entries would be passed over one by one below)
        whole: list[Block] = [(0, len(ranked), None, None)]
        blocks = self.blocks(symbol, sign, ranked, call) if linear else whole
        # a passed block from which on every entry is out of profit ends the walk: after it the entry-by-entry walk
        # would take nothing, and would only see gone the ranked positions closed since the ranking or the last
        # drop (of other accounts; an adl event of this walk changes only the position it takes, already walked
        # past). Known when each of those is closed (one now on the other side may sit in a block that is passed)
        suffix: list[Decimal | None] | None = None
        closed_ranks: list[int] = []
        if linear:
            unheld = self.queue.unheld(symbol, sign)
            if unheld is not None and all(e[6] not in positions for e in unheld):
                suffix = self.suffix_edges(symbol, sign, blocks)
                closed_ranks = [bisect_left(ranked, e) for e in unheld if e[2] != me]
        for b, (start, end, keys, edge) in enumerate(blocks):
            if remaining <= 0:
                break
            if (edge is not None and keys is not None and ((bankrupt >= edge) if mine_long else (bankrupt <= edge))
                    and keys <= positions.keys()):
                if suffix is not None and (last := suffix[b]) is not None and (
                        (bankrupt >= last) if mine_long else (bankrupt <= last)):
                    if any(r >= start for r in closed_ranks):
                        gone = True
                    break
                continue
            for i in range(start + 1, end + 1):
                if remaining <= 0:
                    break
                _, _, account, position_side, score, _c, key = ranked[i - 1]
                if account == me:
                    continue
                # the ranking is taken once per call; the position may have changed since (reduced, closed)
                cur = positions.get(key)
                if cur is None:
                    gone = True
                    continue
                long = cur.size > 0
                if long is mine_long:
                    gone = True
                    continue
                # only positions in profit at the bankruptcy price (Binance ranks positive PnL, §3.8)
                if linear:
                    if (bankrupt <= cur.entry_price) if long else (bankrupt >= cur.entry_price):
                        continue
                elif led.position_upnl(cur, bankrupt) <= 0:
                    continue
                take = min(remaining, abs(cur.size))
                yield Take(account, position_side, take, i, score)
                remaining -= take
        if gone:  # drop the positions already taken, so later liquidations of this call do not walk past them
            self.drop_closed(symbol, sign, ranked, call)

    def blocks(self, symbol: str, sign: int, ranked: list[Entry], call: int) -> list[Block]:
        """The ``sign`` side's ranking (linear) cut in blocks of :data:`BLOCK` entries: (start, end, the
        position keys, the entry price nearest to profit — the lowest of longs, the highest of shorts). Within
        one call a ranked position keeps its entry price (the engine's events only reduce positions; one the
        input changed is re-ranked at the first use in the call), so a bankruptcy price at or below that lowest
        entry (longs; at or above the highest for shorts) leaves every position of the block out of profit. Kept
        per call, in step with the entries :meth:`AdlQueue.drop_closed` drops (:meth:`drop_closed`)."""
        cached = self._blocks.get((symbol, sign))
        if cached is not None and cached[0] == call and cached[1] is ranked and cached[2] == len(ranked):
            return cached[3]
        blocks: list[Block] = []
        pick = min if sign > 0 else max
        for start in range(0, len(ranked), BLOCK):
            part = ranked[start:start + BLOCK]
            blocks.append((start, start + len(part), frozenset([e[6] for e in part]),
                           pick([e[5].entry_price for e in part])))
        self._blocks[(symbol, sign)] = (call, ranked, len(ranked), blocks)
        return blocks

    def suffix_edges(self, symbol: str, sign: int, blocks: list[Block]) -> list[Decimal | None]:
        """Per block of :meth:`blocks`, the entry price nearest to profit over it and every block after it
        (None when one of them has no price); kept while the blocks are the same list."""
        cached = self._suffix.get((symbol, sign))
        if cached is not None and cached[0] is blocks and cached[1] == len(blocks):
            return cached[2]
        out: list[Decimal | None] = [None] * len(blocks)
        acc: Decimal | None = None
        for b in range(len(blocks) - 1, -1, -1):
            edge = blocks[b][3]
            if edge is None:
                break
            acc = edge if acc is None else (min(acc, edge) if sign > 0 else max(acc, edge))
            out[b] = acc
        self._suffix[(symbol, sign)] = (blocks, len(blocks), out)
        return out

    def drop_closed(self, symbol: str, sign: int, ranked: list[Entry], call: int) -> None:
        """:meth:`AdlQueue.drop_closed`, and the side's blocks of this call kept in step: a block that lost entries
        is cut again from what is left of it, the others only move (each rebuilt from scratch would cost the whole
        ranking after every drop: a crash tick drops many times per call)."""
        n_before = len(ranked)
        dropped = self.queue.drop_closed(symbol, sign)
        cached = self._blocks.pop((symbol, sign), None)
        if (dropped is None or cached is None or cached[0] != call or cached[1] is not ranked
                or cached[2] != n_before or len(ranked) != n_before - len(dropped)):
            return
        if not dropped:
            self._blocks[(symbol, sign)] = cached
            return
        gone = {e[6] for e in dropped}
        pick = min if sign > 0 else max
        blocks: list[Block] = []
        at = 0
        for start, end, keys, edge in cached[3]:
            if keys is None:
                return
            n = end - start
            if not keys.isdisjoint(gone):
                n -= len(keys & gone)
                if n <= 0:
                    continue
                part = ranked[at:at + n]
                blocks.append((at, at + n, frozenset([e[6] for e in part]), pick([e[5].entry_price for e in part])))
            elif at == start:
                blocks.append((start, end, keys, edge))
            else:
                blocks.append((at, at + n, keys, edge))
            at += n
        if at != len(ranked):
            return
        self._blocks[(symbol, sign)] = (call, ranked, len(ranked), blocks)
