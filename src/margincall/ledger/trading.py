"""Trading: a position changed by a trade against the clearing counterparty (fills, and the risk engine's
liquidation closes), with the leverage and margin checks a trade must pass.

:meth:`Trading.trade` is the reference of every fill; :mod:`.fastfill` computes the common fill without it and
must give exactly what it gives.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from margincall.ledger.fields import plain, read_choice
from margincall.ledger.tx import Tx
from margincall.ledger.types import CLEARING, PositionKey, PositionState, Rejected, isolated_book, wallet_book
from margincall.ledger.valuation import Valuation
from margincall.math.contracts import notional_of
from margincall.math.margin import initial_margin
from margincall.math.trade import average_entry, charge, realized_pnl, trading_fee, user_delta
from margincall.model.enums import MarginMode, PositionSide, TierBasis
from margincall.model.numbers import ZERO
from margincall.venues.market import MarketSpec

_LEGS = {"both": PositionSide.BOTH, "long": PositionSide.LONG, "short": PositionSide.SHORT}


def check_leverage(market: MarketSpec, notional: Decimal, leverage: Decimal, contracts: Decimal) -> None:
    """A position of ``contracts`` (``notional`` at the fill) must fit in the tier table, at no more than its
    tier's maximum leverage."""
    tiers = market.tiers
    amount = contracts if tiers.basis is TierBasis.CONTRACTS else notional
    if tiers.exceeds(amount):
        raise Rejected("position_too_large",
                       f"a position of {amount} is beyond the last tier of {market.instrument.symbol}",
                       field="size")
    tier = tiers.tier_for(amount)
    if leverage > tier.max_leverage:
        raise Rejected("leverage_too_high",
                       f"leverage {leverage} is above {tier.max_leverage}, the maximum for a position of {amount}",
                       field="leverage")


class Trading(Valuation):
    """Trades and the checks they pass."""

    def position_key(self, acct: str, symbol: str, p: Mapping[str, Any]) -> PositionKey:
        """The position leg ``p`` names: ``position_side`` long or short in hedge mode, both (or absent) else."""
        if self.accounts[acct]:  # hedge mode
            leg = read_choice(p, "position_side", ("long", "short"))
        else:
            leg = read_choice(p, "position_side", ("both",), "both")
        # One key object per position leg: dict lookups then match by identity (PositionKey's __eq__ is slow).
        key = self._keys.get((acct, symbol, leg))
        if key is None:
            key = self._keys[(acct, symbol, leg)] = PositionKey(acct, symbol, _LEGS[leg])
        return key

    def trade(
        self,
        tx: Tx,
        key: PositionKey,
        signed_size: Decimal,
        price: Decimal,
        fee_rate: Decimal,
        fee_book: str,
        *,
        reduce_only: bool = False,
        memo: str = "fill",
        check_margin: bool = True,
    ) -> dict[str, Any]:
        """Trade ``signed_size`` contracts of ``key`` at ``price`` against the clearing counterparty.

        Reduces first (realizing PnL and releasing isolated margin pro rata), then opens or increases with
        the account's leverage and margin mode for the symbol (isolated: IM moved into the position's margin).
        The fee ``notional × fee_rate`` goes to ``fee_book`` (fee income; the insurance fund for liquidations).
        """
        market = self.markets[key.symbol]
        inst = market.instrument
        kind, contract_size, asset = inst.kind, inst.contract_size, inst.settle_asset
        unit = self.unit
        wallet = wallet_book(key.account)
        pos = tx.position(key)
        cur = pos.size if pos is not None else ZERO
        size = abs(signed_size)
        buy = signed_size > 0
        if key.position_side is not PositionSide.BOTH:  # a hedge-mode leg
            increasing = buy == (key.position_side is PositionSide.LONG)
            if not increasing and size > abs(cur):
                raise Rejected("reduce_exceeds_position",
                               f"{size} would reduce the {key.position_side.value} leg of {abs(cur)}",
                               field="size")
        closing = ZERO
        if cur != 0 and (cur > 0) != buy:
            closing = min(size, abs(cur))
        opening = size - closing
        if reduce_only and opening > 0:
            raise Rejected("reduce_only_violation", "a reduce-only fill would increase or flip the position",
                           field="reduce_only")
        details: dict[str, Any] = {"account": key.account, "symbol": key.symbol,
                                   "position_side": key.position_side.value, "price": plain(price),
                                   "signed_size": plain(signed_size)}
        fee = charge(trading_fee(kind, size * contract_size, price, fee_rate), unit)
        realized = ZERO
        new_pos: PositionState | None = pos
        if closing > 0:
            assert pos is not None
            realized = user_delta(realized_pnl(kind, pos.sign, closing * contract_size, pos.entry_price, price), unit)
            if pos.is_isolated:
                iso = isolated_book(key.account, key.symbol, key.position_side)
                held = tx.balance(iso, asset)
                release = held if closing == abs(cur) else user_delta(held * closing / abs(cur), unit)
                tx.move(iso, wallet, asset, release, f"{memo}: isolated margin released")
                details["margin_released"] = plain(release)
            tx.move(CLEARING, wallet, asset, realized, f"{memo}: realized pnl")
            remaining = abs(cur) - closing
            new_pos = (None if remaining == 0 else
                       PositionState(key, remaining * pos.sign, pos.entry_price, pos.margin_mode, pos.leverage))
        if opening > 0:
            lev, mode = (new_pos.leverage, new_pos.margin_mode) if new_pos is not None else self.settings_tx(tx, key)
            if new_pos is not None:
                q0 = abs(new_pos.size) * contract_size
                entry = average_entry(kind, q0, new_pos.entry_price, opening * contract_size, price)
                size_after = abs(new_pos.size) + opening
            else:
                entry = price
                size_after = opening
            new_pos = PositionState(key, size_after if buy else -size_after, entry, mode, lev)
            notional_after = notional_of(kind, size_after * contract_size, price)
            check_leverage(market, notional_after, lev, size_after)
            if mode is MarginMode.ISOLATED:
                im = charge(initial_margin(notional_of(kind, opening * contract_size, price), lev), unit)
                iso = isolated_book(key.account, key.symbol, key.position_side)
                tx.move(wallet, iso, asset, im, f"{memo}: isolated initial margin")
                details["margin_locked"] = plain(im)
        tx.move(wallet, fee_book, asset, fee, f"{memo}: fee")
        tx.put_position(key, new_pos)
        details["realized_pnl"] = plain(realized)
        details["fee"] = plain(fee)
        details["fee_rate"] = plain(fee_rate)
        details["position_size"] = plain(new_pos.size) if new_pos is not None else "0"
        details["entry_price"] = None if new_pos is None else plain(new_pos.entry_price)
        if check_margin and opening > 0:
            # Only a fill that opens or increases can need margin; a pure reduction never adds any.
            upnl, im_total, _ = self.cross_totals(key.account, asset, self.staged_positions(tx, key.account),
                                                  with_mm=False)
            reserved = self.reserved_total(key.account, asset)
            avail = tx.balance(wallet, asset) + upnl - im_total - reserved
            if avail < 0:
                raise Rejected("insufficient_margin",
                               f"the fill needs {-avail} {asset} more available balance", field="size")
        return details

    def staged_positions(self, tx: Tx, account: str) -> list[PositionState]:
        """The account's positions as ``tx`` would leave them (committed ones, overridden by staged ones)."""
        staged = tx.positions
        positions = self.positions
        out = []
        for k in self.by_account.get(account, ()):
            if k not in staged:
                out.append(positions[k])
        for k, q in staged.items():
            if q is not None and k.account == account:
                out.append(q)
        return out

    def settings_tx(self, tx: Tx, key: PositionKey) -> tuple[Decimal, MarginMode]:
        """:meth:`settings` as ``tx`` would leave them."""
        lev, mode = self.settings(key.account, key.symbol)
        if tx.leverage or tx.modes:
            sk = (key.account, key.symbol)
            return tx.leverage.get(sk, lev), tx.modes.get(sk, mode)
        return lev, mode

    def release_all_orders(self, tx: Tx, account: str) -> list[dict[str, str]]:
        """Release the order margin of every open order of ``account`` (its orders are cancelled)."""
        released = []
        for (acct, oid), (asset, amt) in sorted(self.reserved.items()):
            if acct == account:
                tx.release(acct, oid)
                released.append({"order_id": oid, "asset": asset, "amount": plain(amt)})
        return released
