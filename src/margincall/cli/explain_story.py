"""The short story that opens ``margincall explain``: when the liquidation started, at which mark, the equity
against the maintenance margin, what each step of the waterfall did, and who paid (numbers rounded for reading;
``--json`` has them exact)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from rich.console import Group
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from margincall.cli.fmt import iso_utc, money, percent, readable
from margincall.risk.explain import LiquidationStory


def _d(value: Any) -> Decimal:
    return Decimal(str(value)) if value not in (None, "") else Decimal(0)


class _Teller:
    def __init__(self, story: LiquidationStory) -> None:
        self.s = story
        self.fund_in = Decimal(0)
        self.fund_out = Decimal(0)
        self.venue = Decimal(0)
        self.realized = Decimal(0)
        self.fees = Decimal(0)
        self.adl: list[str] = []
        self.socialized: list[str] = []

    def m(self, value: Any) -> str:
        return money(str(_d(value)), self.s.asset or "USDT")

    def settlement(self, d: dict[str, Any]) -> str | None:
        fee, surplus = _d(d.get("liquidation_fee")), _d(d.get("surplus"))
        paid, absorbed = _d(d.get("insurance_paid")), _d(d.get("venue_absorbed"))
        self.fund_in += fee + surplus
        self.fund_out += paid
        self.venue += absorbed
        if paid or absorbed:
            text = f"the insurance fund paid {self.m(paid)} of the deficit below bankruptcy"
            return text + (f" and the venue absorbed {self.m(absorbed)}" if absorbed else "")
        if fee or surplus:
            detail = f"liquidation fee {self.m(fee)}" + (f", surplus {self.m(surplus)}" if surplus else "")
            return f"{self.m(fee + surplus)} of remaining margin went to the insurance fund ({detail})"
        return None

    def step(self, etype: str, d: dict[str, Any]) -> str | None:
        symbol, size = d.get("symbol", ""), readable(d.get("size", ""))
        if etype == "partial_liquidation":
            self.realized += _d(d.get("realized_pnl"))
            self.fees += _d(d.get("liquidation_fee"))
            self.fund_in += _d(d.get("liquidation_fee"))
            tiers = f", tier {d.get('tier_before')} → {d.get('tier_after') or 'none'}" if d.get("tier_before") else ""
            return (f"{symbol}: {size} closed at {readable(d.get('price'))} to reduce the position{tiers}; fee "
                    f"{self.m(d.get('liquidation_fee'))}, realized PnL {self.m(d.get('realized_pnl'))}")  # fmt: skip
        if etype == "liquidation":
            if d.get("account") == self.s.account:
                self.realized += _d(d.get("realized_pnl"))
            bp = f" (bankruptcy price {readable(d.get('bankruptcy_price'))})" if d.get("bankruptcy_price") else ""
            if d.get("counterparty") == "venue":
                self.venue += _d(d.get("venue_loss"))
                return (f"{symbol}: {size} no one could take, closed against the venue at the bankruptcy price "
                        f"{readable(d.get('close_price'))} (venue loss {self.m(d.get('venue_loss'))})")  # fmt: skip
            by = "against the ADL counterparties" if d.get("mode") == "adl" else "by the liquidation engine"
            text = (f"{symbol}: {size} closed at {readable(d.get('close_price'))} {by}{bp}; realized PnL "
                    f"{self.m(d.get('realized_pnl'))}")  # fmt: skip
            settled = self.settlement(d) if "surplus" in d or "insurance_paid" in d else None
            return text + (f"; {settled}" if settled else "")
        if etype == "adl":
            self.adl.append(str(d.get("account")))
            return (f"ADL: {d.get('account')}'s {size} {symbol} taken at the bankruptcy price "
                    f"{readable(d.get('price'))} (rank {d.get('rank')}, {d.get('ranking', '')})")  # fmt: skip
        if etype == "bankruptcy_settlement":
            settled = self.settlement(d)
            return f"settlement: {settled}" if settled else "settlement: nothing left to settle"
        if etype == "socialized_loss":
            shares = d.get("shares") or []
            total = sum((_d(x.get("amount")) for x in shares), Decimal(0))
            self.socialized.append(f"{len(shares)} profitable accounts ({self.m(total)})")
            return f"socialized loss: {self.m(total)} charged to {len(shares)} profitable accounts"
        if etype == "liquidation_finished":
            return (f"finished ({d.get('outcome')}): equity {self.m(d.get('equity'))} against MM "
                    f"{self.m(d.get('maintenance_margin'))}")  # fmt: skip
        return None

    def who_paid(self) -> str:
        parts = [f"the trader's margin bore the realized loss {self.m(-self.realized)}" if self.realized < 0
                 else f"the trader realized {self.m(self.realized)}"]  # fmt: skip
        if self.fund_in:
            parts.append(f"the insurance fund received {self.m(self.fund_in)}")
        if self.fund_out:
            parts.append(f"the insurance fund paid {self.m(self.fund_out)}")
        if self.adl:
            parts.append(f"ADL counterparties ({', '.join(self.adl)}) were closed at the bankruptcy price")
        if self.socialized:
            parts.append(f"{'; '.join(self.socialized)} shared the loss")
        if self.venue:
            parts.append(f"the venue absorbed {self.m(self.venue)}")
        return "Who paid: " + "; ".join(parts) + "."


def story_text(story: LiquidationStory) -> tuple[str, str, list[str], str]:
    """The story of one liquidation: headline, when/mark/equity against MM, one line per step, who paid."""
    s = story
    teller = _Teller(s)
    where = "cross " + s.what if s.scope == "cross" else f"isolated {s.what.rsplit(':', 1)[0]}"
    marks = ", ".join(f"{sym} {readable(px)}" for sym, px in s.marks.items()) or "the last mark"
    ratio = "" if s.margin_ratio is None else f" (MM / equity {percent(s.margin_ratio, scale=100)})"
    headline = f"Liquidation {s.liquidation_id} of account {s.account} ({where})"
    opening = (f"At {iso_utc(s.ts)}, at the mark {marks}, equity {teller.m(s.equity)} was not above the "
               f"maintenance margin {teller.m(s.maintenance_margin)}{ratio}.")  # fmt: skip
    told = [t for etype, d in s.steps if (t := teller.step(etype, d)) is not None]
    return headline, opening, told, teller.who_paid()


def story_renderable(story: LiquidationStory) -> Group:
    """The story for the terminal: the steps numbered with a hanging indent, so wrapped lines stay readable."""
    headline, opening, told, paid = story_text(story)
    steps = Table.grid(padding=(0, 1))
    steps.add_column(justify="right", no_wrap=True)
    steps.add_column()
    for i, line in enumerate(told, 1):
        steps.add_row(f"{i}.", line)
    return Group(Text(headline, style="bold"), Text(opening), Padding(steps, (0, 0, 0, 2)), Text(paid))
