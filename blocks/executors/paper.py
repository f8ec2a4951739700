"""executor.paper: simulated fills against candles with fees and slippage; the default executor."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import Field

from runner.block import Account, BlockConfig, Executor
from runner.types import Fill, Intent, Order, Position

if TYPE_CHECKING:
    from runner.cycle import BuildContext, Cycle

_DUST = 1e-12


class Paper(Executor):
    """Fills market orders at the next bar's open (plus slippage) and limit orders when price trades through."""

    class Config(BlockConfig):
        fee_bps: float = Field(2.0, ge=0, le=1000, description="Taker fee per side, in basis points")
        maker_fee_bps: float | None = Field(
            None, ge=-100, le=1000, description="Maker fee for resting limit orders; fee_bps when omitted"
        )
        slippage_bps: float = Field(1.0, ge=0, le=1000, description="Adverse slippage on market orders, in bps")

    example = {"fee_bps": 2, "slippage_bps": 1}

    def start(self, ctx: BuildContext) -> None:
        config = self.config
        assert isinstance(config, self.Config)
        fee = config.fee_bps if ctx.fee_bps is None else ctx.fee_bps
        slip = config.slippage_bps if ctx.slippage_bps is None else ctx.slippage_bps
        self._taker = fee / 10_000
        self._maker = (fee if config.maker_fee_bps is None else config.maker_fee_bps) / 10_000
        self._slip = slip / 10_000
        self._o, self._h, self._l, self._c = ctx.price_slots()
        self._lanes: dict[str, list[Any]] = {}
        self._positions: dict[str, Position] = {}
        self._entry_fees: dict[str, float] = {}
        self._open: dict[str, Order] = {}
        self._seen: set[str] = set()
        self._account = Account(cash=ctx.cash, equity=ctx.cash, positions=self._positions)

    # --- the venue side -------------------------------------------------------------------------------

    def submit(self, order: Order, cycle: Cycle) -> None:
        if order.client_id in self._seen:
            return  # the same cycle retried after a restart: never the same order twice
        self._seen.add(order.client_id)
        intent = order.intent
        problem = _malformed(intent)
        if problem:
            order.status, order.reason = "rejected", problem
            return
        order.status = "open"
        self._open[order.client_id] = order

    def cancel_all(self, cycle: Cycle) -> list[Order]:
        cancelled = list(self._open.values())
        for order in cancelled:
            order.status, order.reason = "cancelled", "cancelled"
        self._open.clear()
        return cancelled

    def has_open_orders(self) -> bool:
        return bool(self._open)

    def on_bar(self, symbol: str, lane: list[Any], cycle: Cycle) -> list[Fill]:
        self._lanes[symbol] = lane  # marks read the lane's latest close when asked
        if not self._open:
            return []
        fills = []
        for order in [o for o in self._open.values() if o.symbol == symbol and o.t < cycle.t]:
            fill = self._try_fill(order, lane, cycle)
            if fill is not None:
                fills.append(fill)
            if order.status != "open":
                del self._open[order.client_id]
        return fills

    def _try_fill(self, order: Order, lane: list[Any], cycle: Cycle) -> Fill | None:
        intent = order.intent
        o, h, lo = lane[self._o], lane[self._h], lane[self._l]
        # The trade's direction is what it resolves to at the open; it decides the slippage and which side a
        # limit is on (a close, or a target that shrinks the position, sells), and re-sizing may not flip it.
        first = self._quantity(intent, o, self._taker)
        if first is None or abs(first) <= _DUST:
            order.status, order.reason = "cancelled", "nothing to trade"
            return None
        buying = first > 0
        if intent.order_type == "market":
            price, rate, liquidity = o * (1 + self._slip if buying else 1 - self._slip), self._taker, "taker"
        else:
            limit = intent.price
            assert limit is not None
            if buying and lo <= limit:
                price = min(o, limit)
            elif not buying and h >= limit:
                price = max(o, limit)
            else:
                return None  # rests for another bar
            rate, liquidity = (self._maker, "maker") if price == limit else (self._taker, "taker")
        quantity = self._quantity(intent, price, rate) or 0.0
        if abs(quantity) <= _DUST or (quantity > 0) != buying:
            order.status, order.reason = "cancelled", "nothing to trade at the fill price"
            return None
        quantity, reason = self._affordable(intent.symbol, quantity, price, rate, intent.leverage)
        if abs(quantity) <= _DUST:
            order.status, order.reason = "rejected", reason
            return None
        order.status, order.reason = "filled", reason
        return self._apply(order, quantity, price, rate, liquidity, cycle.t)

    # --- sizing ---------------------------------------------------------------------------------------

    def _quantity(self, intent: Intent, price: float, rate: float) -> float | None:
        """Signed base quantity to trade, resolved at the fill price."""
        held = self._positions.get(intent.symbol)
        current = held.quantity if held is not None else 0.0
        if intent.kind == "close":
            return -current
        size = intent.size
        if size is None:
            return None
        if size.quantity is not None:
            amount = size.quantity
        elif size.notional is not None:
            amount = size.notional / price
        else:
            equity = self._equity_at(intent.symbol, price)
            amount = (size.fraction or 0.0) * equity / (price * (1 + rate))
        sign = 1.0 if intent.side == "buy" else -1.0
        delta = sign * amount - current if intent.kind == "target" else sign * amount
        if intent.reduce_only:
            delta = max(min(delta, 0.0), -current) if current > 0 else min(max(delta, 0.0), -current)
        return delta

    def _affordable(
        self, symbol: str, quantity: float, price: float, rate: float, leverage: float
    ) -> tuple[float, str]:
        """Shrink a trade to what the account can carry; the reason says what was cut."""
        held = self._positions.get(symbol)
        current = held.quantity if held is not None else 0.0
        cash = self._account.cash
        if not _is_perp(symbol):
            if current + quantity < -_DUST:
                quantity = -current
                if abs(quantity) <= _DUST:
                    return 0.0, "spot cannot be sold short"
            if quantity > 0:
                cost = quantity * price * (1 + rate)
                if cost > cash * (1 + 1e-12):
                    fit = max(cash, 0.0) / (price * (1 + rate))
                    return (fit, "cut to the cash available") if fit > _DUST else (0.0, "insufficient cash")
            return quantity, ""
        after = current + quantity
        if abs(after) <= abs(current) and (after == 0 or (after > 0) == (current > 0)):
            return quantity, ""  # shrinking a position needs no margin
        margin = self._equity_at(symbol, price) - abs(quantity) * price * rate
        limit = margin * max(leverage, 1.0) / price
        if abs(after) > limit * (1 + 1e-12):
            fit = (limit if after > 0 else -limit) - current
            if limit > 0 and abs(fit) > _DUST and (fit > 0) == (quantity > 0):
                return fit, "cut to the margin available"
            return 0.0, "insufficient margin"
        return quantity, ""

    # --- accounting -----------------------------------------------------------------------------------

    def _apply(self, order: Order, quantity: float, price: float, rate: float, liquidity: str, t: int) -> Fill:
        symbol = order.symbol
        position = self._positions.setdefault(symbol, Position(symbol))
        fee = abs(quantity) * price * rate
        current = position.quantity
        realized = 0.0
        net: float | None = None
        if current == 0 or (current > 0) == (quantity > 0):
            total = abs(current) + abs(quantity)
            position.avg_price = (position.avg_price * abs(current) + price * abs(quantity)) / total
            self._entry_fees[symbol] = self._entry_fees.get(symbol, 0.0) + fee
        else:
            closed = min(abs(quantity), abs(current))
            realized = closed * (price - position.avg_price) * (1 if current > 0 else -1)
            entry_fees = self._entry_fees.get(symbol, 0.0)
            share = entry_fees * closed / abs(current)
            self._entry_fees[symbol] = entry_fees - share
            net = realized - share - fee * closed / abs(quantity)
            remaining = current + quantity
            if abs(remaining) <= _DUST:
                position.avg_price, remaining = 0.0, 0.0
                self._entry_fees[symbol] = 0.0
            elif (remaining > 0) != (current > 0):  # flipped: the rest opens at this price
                position.avg_price = price
                self._entry_fees[symbol] = fee * (abs(quantity) - closed) / abs(quantity)
            position.quantity = remaining
            position.realized_pnl += realized
        if current == 0 or (current > 0) == (quantity > 0):
            position.quantity = current + quantity
        account = self._account
        account.cash += (realized - fee) if _is_perp(symbol) else -(quantity * price) - fee
        if -1e-9 * abs(quantity * price) < account.cash < 0:
            account.cash = 0.0  # an all-in buy spends the cash exactly; rounding must not make it negative
        account.fees += fee
        side = "buy" if quantity > 0 else "sell"
        return Fill(order.client_id, t, symbol, side, abs(quantity), price, fee, liquidity, net)  # type: ignore[arg-type]

    def _equity_at(self, symbol: str, price: float | None = None) -> float:
        """Equity with ``symbol`` marked at ``price`` (default: its latest close) and the rest at theirs."""
        equity = self._account.cash
        for held, position in self._positions.items():
            q = position.quantity
            if not q:
                continue
            mark = price if held == symbol and price is not None else self._close(held, position.avg_price)
            # in the order of mark_line's a + b * close, so a marked curve equals this to the last bit
            equity = (equity - q * position.avg_price) + q * mark if _is_perp(held) else equity + q * mark
        return equity

    def _close(self, symbol: str, default: float) -> float:
        lane = self._lanes.get(symbol)
        close = lane[self._c] if lane is not None else None
        return default if close is None else float(close)

    def equity(self) -> float:
        return self._equity_at("")

    def mark_line(self, symbol: str) -> tuple[float, float] | None:
        held = [p for p in self._positions.values() if p.quantity]
        if not held:
            return self._account.cash, 0.0
        if len(held) > 1 or held[0].symbol != symbol:
            return None
        q = held[0].quantity
        if _is_perp(symbol):
            return self._account.cash - q * held[0].avg_price, q
        return self._account.cash, q

    def account(self) -> Account:
        self._account.equity = self.equity()
        return self._account


def _is_perp(symbol: str) -> bool:
    """ccxt unified symbols: ``BTC/USDC:USDC`` is a perpetual swap, ``BTC/USDC`` spot."""
    return ":" in symbol


def _malformed(intent: Intent) -> str:
    if intent.kind != "close" and (intent.side is None or intent.size is None):
        return f"{'an' if intent.kind == 'order' else 'a'} {intent.kind} intent needs a side and a size"
    if intent.order_type == "limit" and (intent.price is None or not intent.price > 0):
        return "a limit order needs a positive price"
    if intent.post_only and intent.order_type != "limit":
        return "post-only needs a limit order"
    return ""
