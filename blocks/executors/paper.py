"""executor.paper: a simulated venue for spot and linear perpetuals; the default executor.

Each bar, in time order: orders decided at the previous close arrive at the open (market orders fill
there, with slippage; limit orders fill if marketable, else rest); then the adverse extreme of the bar
(the low for a long) meets stop-losses and the liquidation price, whichever comes first; then the
favourable extreme meets take-profits and resting limit orders; then funding due by the close is paid.
Perps use cross margin: the account is liquidated when its equity falls to the maintenance margin.
Every cash movement is a ledger entry, so cash is always the opening cash plus the ledger.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from blocks.executors.funding import ConstantFunding, Funding, NoFunding, PremiumFunding, load_funding
from blocks.executors.margin import initial_margin, liquidation_price
from runner.block import Account, BlockConfig, Executor, Source
from runner.cycle import client_id
from runner.durations import parse_duration
from runner.spec import Duration
from runner.types import Fill, Intent, LedgerEntry, Order, Position

if TYPE_CHECKING:
    from runner.compile import CompileContext, StepInfo
    from runner.cycle import BuildContext, Cycle
    from runner.errors import ConfigIssue

_DUST = 1e-12


class Paper(Executor):
    """Fills market orders at the next bar's open (plus slippage) and limit orders when price trades through;
    perps carry leverage, cross margin, liquidation, funding and exit plans."""

    class Config(BlockConfig):
        fee_bps: float = Field(2.0, ge=0, le=1000, description="Taker fee per side, in basis points")
        maker_fee_bps: float | None = Field(
            None, ge=-100, le=1000, description="Maker fee for resting limit orders; fee_bps when omitted"
        )
        slippage_bps: float = Field(1.0, ge=0, le=1000, description="Adverse slippage on market orders, in bps")
        entry_delay: int = Field(
            0,
            ge=0,
            le=10_000,
            description="Bars an order waits before it meets the market: decided at the close of bar t, it arrives "
            "at the open of bar t+1+entry_delay (exit plans and liquidations are never delayed)",
        )
        slippage_range: float = Field(
            0.0,
            ge=0,
            le=1,
            description="Extra adverse slippage on market and stop fills: this fraction of the bar's range "
            "(high - low) relative to its open",
        )
        slippage_impact: float = Field(
            0.0,
            ge=0,
            le=1,
            description="Square-root market impact on market and stop fills: extra adverse slippage of "
            "impact * sqrt(order quantity / bar volume), both in base units (none on a bar with no volume)",
        )
        max_leverage: float = Field(5.0, ge=1, le=100, description="Most leverage a perp position may use")
        maintenance_margin: float = Field(
            0.005, gt=0, le=0.5, description="Maintenance margin of perps, a fraction of notional"
        )
        liquidation_fee_bps: float = Field(5.0, ge=0, le=1000, description="Fee on a liquidated notional, in bps")
        funding: Literal["zero", "constant", "premium"] = Field(
            "zero",
            description="Funding model for perps when no funding history is given (--funding): none, a constant "
            "rate, or +/-rate by price against its EMA (AI Perp Trader's heuristic)",
        )
        funding_rate: float = Field(0.0001, ge=-0.01, le=0.01, description="Rate per interval for the models")
        funding_every: Duration = Field("8h", description="Funding interval of the models")

    example = {"fee_bps": 2, "slippage_bps": 1, "max_leverage": 5}

    @classmethod
    def check(cls, step: StepInfo, ctx: CompileContext) -> Iterator[ConfigIssue]:
        config = step.config
        assert isinstance(config, cls.Config)
        if config.max_leverage * config.maintenance_margin >= 1:
            yield ctx.issue(
                (*step.path, "with", "max_leverage"),
                f"at {config.max_leverage:g}x with a maintenance margin of {config.maintenance_margin:g} a position "
                "is liquidated as it opens",
                f"use a max_leverage below {1 / config.maintenance_margin:g}",
            )

    def start(self, ctx: BuildContext) -> None:
        config = self.config
        assert isinstance(config, self.Config)
        fee = config.fee_bps if ctx.fee_bps is None else ctx.fee_bps
        slip = config.slippage_bps if ctx.slippage_bps is None else ctx.slippage_bps
        self._taker = fee / 10_000
        self._maker = (fee if config.maker_fee_bps is None else config.maker_fee_bps) / 10_000
        self._slip = slip / 10_000
        self._delay = config.entry_delay if ctx.entry_delay is None else ctx.entry_delay
        self._waiting: dict[str, int] = {}
        """Orders still held back by the entry delay: client id -> bars left."""
        self._range_slip = config.slippage_range
        self._impact = config.slippage_impact
        self._v = self._volume_slot(ctx) if self._impact else None
        self._max_leverage = config.max_leverage
        self._mm = config.maintenance_margin
        self._liq_fee = config.liquidation_fee_bps / 10_000
        self._o, self._h, self._l, self._c = ctx.price_slots()
        self._lanes: dict[str, list[Any]] = {}
        self._positions: dict[str, Position] = {}
        self._entry_fees: dict[str, float] = {}
        self._open: dict[str, Order] = {}
        self._resting: dict[str, int] = {}
        """Resting limit orders: client id -> direction (+1 buy, -1 sell), fixed when each met the market."""
        self._seen: set[str] = set()
        self._last_t: dict[str, int] = {}
        self._deployment = ctx.deployment_id
        source = next((step for step in ctx.bot.steps if step.id == ctx.price_source), None)
        block = source.block if source is not None else None
        seconds = (
            block.timeframe_seconds(source.config)
            if source is not None and block is not None and issubclass(block, Source) and source.config is not None
            else None
        )
        self._bar_ms = (seconds or 0) * 1000
        self._symbols = ctx.symbols
        self._funding = {sym: self._funding_of(sym, ctx) for sym in ctx.symbols if _is_perp(sym)}
        # the premium model follows the price bar by bar, so the executor must see every bar
        self._every_bar = any(isinstance(f, PremiumFunding) for f in self._funding.values())
        self._account = Account(cash=ctx.cash, equity=ctx.cash, positions=self._positions)

    def _funding_of(self, symbol: str, ctx: BuildContext) -> Funding:
        config = self.config
        assert isinstance(config, self.Config)
        path = ctx.funding.get(symbol)
        if path is not None:
            return load_funding(path)
        every = parse_duration(config.funding_every) * 1000
        if config.funding == "constant":
            return ConstantFunding(config.funding_rate, every)
        if config.funding == "premium":
            return PremiumFunding(config.funding_rate, every)
        return NoFunding()

    # --- the venue side -------------------------------------------------------------------------------

    def submit(self, order: Order, cycle: Cycle) -> None:
        if order.client_id in self._seen:
            return  # the same cycle retried after a restart: never the same order twice
        self._seen.add(order.client_id)
        intent = order.intent
        if intent.kind == "cancel":
            self._withdraw(order)
            return
        problem = _malformed(intent) or self._over_leveraged(intent)
        if intent.symbol not in self._symbols:
            problem = f"{intent.symbol} is not one of the bot's symbols"  # the executor has no market for it
        if problem:
            order.status, order.reason = "rejected", problem
            return
        order.status = "open"
        self._open[order.client_id] = order
        if self._delay:
            self._waiting[order.client_id] = self._delay

    def _withdraw(self, request: Order) -> None:
        """A cancel request takes effect at once: the step's earlier open orders on the symbol are cancelled."""
        step = request.intent.step_id
        gone = [
            o
            for o in self._open.values()
            if o.symbol == request.symbol and o.intent.step_id == step and o.t < request.t
        ]
        for order in gone:
            self._close_order(order, "cancelled", f"cancelled by {step} at {request.t}")
        request.status, request.reason = "filled", f"cancelled {len(gone)} open order(s)"

    def _over_leveraged(self, intent: Intent) -> str:
        if _is_perp(intent.symbol) and intent.kind != "close" and intent.leverage > self._max_leverage:
            return f"leverage {intent.leverage:g} is above the executor's max_leverage {self._max_leverage:g}"
        return ""

    def cancel_all(self, cycle: Cycle) -> list[Order]:
        cancelled = list(self._open.values())
        for order in cancelled:
            order.status, order.reason = "cancelled", "cancelled"
        self._open.clear()
        self._resting.clear()
        self._waiting.clear()
        return cancelled

    def has_open_orders(self) -> bool:
        """Whether the next bar can change the account other than by its mark: an order to fill, a perp to
        fund or liquidate, or an exit plan to trigger."""
        return (
            self._every_bar
            or bool(self._open)
            or any(
                p.quantity and (_is_perp(p.symbol) or p.stop_loss is not None or p.take_profit is not None)
                for p in self._positions.values()
            )
        )

    def on_bar(self, symbol: str, lane: list[Any], cycle: Cycle) -> list[Fill]:
        self._lanes[symbol] = lane  # marks read the lane's latest close when asked
        previous = self._last_t.get(symbol)
        self._last_t[symbol] = cycle.t
        if not self.has_open_orders():
            return []
        fills: list[Fill] = []
        arriving = [o for o in self._open.values() if o.symbol == symbol and o.t < cycle.t]
        for order in arriving:
            if order.client_id in self._waiting:
                self._hold_back(order.client_id)
            elif order.client_id not in self._resting:
                self._fill_on_arrival(order, lane, cycle, fills)
        self._adverse(symbol, lane, cycle, fills)
        self._favourable(symbol, lane, cycle, fills)
        if previous is not None and symbol in self._funding:
            self._fund(symbol, previous, lane[self._c], cycle)
        return fills

    def _hold_back(self, client_id: str) -> None:
        left = self._waiting[client_id] - 1
        if left:
            self._waiting[client_id] = left
        else:
            del self._waiting[client_id]

    # --- fills ----------------------------------------------------------------------------------------

    def _fill_on_arrival(self, order: Order, lane: list[Any], cycle: Cycle, fills: list[Fill]) -> None:
        """An order meets the open: a market order fills; a marketable limit fills at the open (taker, or
        cancelled if post-only); any other limit rests from the open on."""
        intent = order.intent
        o = lane[self._o]
        wanted = self._quantity(intent, o, self._taker)
        if wanted is None or abs(wanted) <= _DUST:
            self._close_order(order, "cancelled", "nothing to trade")
            return
        direction = 1 if wanted > 0 else -1
        if intent.order_type == "market":
            price = self._slipped(o, direction, lane, abs(wanted))
            self._execute(order, price, self._taker, "taker", direction, cycle, fills)
            return
        limit = intent.price
        assert limit is not None
        if (direction > 0 and o <= limit) or (direction < 0 and o >= limit):
            if intent.post_only:
                self._close_order(order, "cancelled", "post-only order would take liquidity at the open")
                return
            self._execute(order, o, self._taker, "taker", direction, cycle, fills)
            return
        self._resting[order.client_id] = direction

    def _slipped(self, price: float, direction: int, lane: list[Any], quantity: float) -> float:
        """The price moved against the order: fixed bps, a share of the bar's range, and market impact for
        ``quantity`` (base units, estimated at the unslipped price)."""
        slip = self._slip
        if self._range_slip:
            o, h, lo = lane[self._o], lane[self._h], lane[self._l]
            slip += self._range_slip * (h - lo) / o if o else 0.0
        if self._v is not None:
            volume = lane[self._v]
            if volume:
                slip += self._impact * math.sqrt(quantity / volume)
        return price * (1 + slip) if direction > 0 else price * (1 - slip)

    @staticmethod
    def _volume_slot(ctx: BuildContext) -> int | None:
        slot = ctx.slots.get((ctx.price_source, "volume")) if ctx.price_source is not None else None
        if slot is not None:
            ctx.requested.add(slot)
        return slot

    def _execute(
        self,
        order: Order,
        price: float,
        rate: float,
        liquidity: Literal["maker", "taker"],
        direction: int,
        cycle: Cycle,
        fills: list[Fill],
    ) -> None:
        intent = order.intent
        quantity = self._quantity(intent, price, rate) or 0.0
        if abs(quantity) <= _DUST or (quantity > 0) != (direction > 0):
            self._close_order(order, "cancelled", "nothing to trade at the fill price")
            return
        quantity, reason = self._affordable(intent.symbol, quantity, price, rate, intent.leverage)
        if abs(quantity) <= _DUST:
            self._close_order(order, "rejected", reason)
            return
        self._close_order(order, "filled", reason)
        fills.append(self._apply(order.client_id, intent.symbol, quantity, price, rate, liquidity, cycle, intent))

    def _close_order(self, order: Order, status: Literal["filled", "cancelled", "rejected"], reason: str) -> None:
        order.status, order.reason = status, reason
        self._open.pop(order.client_id, None)
        self._resting.pop(order.client_id, None)
        self._waiting.pop(order.client_id, None)

    # --- intrabar: exit plans, liquidation, resting limits -----------------------------------------------

    def _adverse(self, symbol: str, lane: list[Any], cycle: Cycle, fills: list[Fill]) -> None:
        """The bar moves against the position: its stop-loss or the liquidation price, whichever is nearer."""
        position = self._positions.get(symbol)
        if position is None or not position.quantity:
            return
        long = position.quantity > 0
        o, extreme = lane[self._o], lane[self._l] if long else lane[self._h]
        liq = self._liquidation_price(symbol) if _is_perp(symbol) else None
        stop = position.stop_loss
        hit_liq = liq is not None and (extreme <= liq if long else extreme >= liq)
        hit_stop = stop is not None and (extreme <= stop if long else extreme >= stop)
        if hit_stop and hit_liq:
            assert stop is not None and liq is not None
            hit_liq = stop < liq if long else stop > liq  # the nearer trigger is met first
            hit_stop = not hit_liq
        if hit_liq:
            assert liq is not None
            self._liquidate(symbol, min(o, liq) if long else max(o, liq), cycle, fills)
        elif hit_stop:
            assert stop is not None
            price = self._slipped(
                min(o, stop) if long else max(o, stop), -1 if long else 1, lane, abs(position.quantity)
            )
            reason = f"stop-loss at {stop:g}"
            self._exit(symbol, price, self._taker, "taker", "stop_loss", reason, cycle, fills)

    def _favourable(self, symbol: str, lane: list[Any], cycle: Cycle, fills: list[Fill]) -> None:
        """The bar moves the other way: take-profits and resting limit orders fill at their price."""
        position = self._positions.get(symbol)
        o, h, lo = lane[self._o], lane[self._h], lane[self._l]
        if position is not None and position.quantity and position.take_profit is not None:
            long, tp = position.quantity > 0, position.take_profit
            if (h >= tp) if long else (lo <= tp):
                price = max(o, tp) if long else min(o, tp)
                liquidity: Literal["maker", "taker"] = "maker" if price == tp else "taker"
                rate = self._maker if liquidity == "maker" else self._taker
                self._exit(symbol, price, rate, liquidity, "take_profit", f"take-profit at {tp:g}", cycle, fills)
        for order in [o for o in self._open.values() if o.symbol == symbol and o.client_id in self._resting]:
            limit = order.intent.price
            assert limit is not None
            direction = self._resting[order.client_id]
            if (direction > 0 and lo <= limit) or (direction < 0 and h >= limit):
                self._execute(order, limit, self._maker, "maker", direction, cycle, fills)

    def _exit(
        self,
        symbol: str,
        price: float,
        rate: float,
        liquidity: Literal["maker", "taker"],
        kind: str,
        reason: str,
        cycle: Cycle,
        fills: list[Fill],
    ) -> None:
        """Close a whole position by its exit plan, as an order of its own that the cycle records."""
        position = self._positions[symbol]
        intent = Intent(symbol, "close", reason=reason, step_id=self.step_id)
        order = Order(self._exit_id(kind, symbol, cycle.t), cycle.t, symbol, intent, "filled", reason)
        cycle.orders.append(order)
        fills.append(self._apply(order.client_id, symbol, -position.quantity, price, rate, liquidity, cycle))

    def _exit_id(self, kind: str, symbol: str, t: int) -> str:
        return client_id(self._deployment, t, f"{self.step_id}:{kind}", self._symbols.index(symbol))

    def _liquidation_price(self, symbol: str) -> float | None:
        position = self._positions[symbol]
        others_pnl = others_mm = 0.0
        for held, other in self._positions.items():
            if held == symbol or not other.quantity or not _is_perp(held):
                continue
            mark = self._close(held, other.avg_price)
            others_pnl += other.quantity * (mark - other.avg_price)
            others_mm += self._mm * abs(other.quantity) * mark
        return liquidation_price(
            position.quantity, position.avg_price, self._account.cash, others_pnl, others_mm, self._mm
        )

    def _liquidate(self, symbol: str, price: float, cycle: Cycle, fills: list[Fill]) -> None:
        """Cross margin: every perp position closes, this one at its liquidation price, the others at their
        marks, each paying the liquidation fee; a loss beyond the cash is the insurance fund's."""
        equity = self._margin_equity(symbol, price)
        held = [s for s, p in self._positions.items() if p.quantity and _is_perp(s)]
        reason = f"liquidated: {symbol} at {price:g}, equity {equity:.2f} at the maintenance margin"
        for sym in held:
            position = self._positions[sym]
            mark = price if sym == symbol else self._close(sym, position.avg_price)
            intent = Intent(sym, "close", reason=reason, step_id=self.step_id)
            order = Order(self._exit_id("liquidation", sym, cycle.t), cycle.t, sym, intent, "filled", reason)
            cycle.orders.append(order)
            fills.append(self._apply(order.client_id, sym, -position.quantity, mark, 0.0, "taker", cycle))
            fee = fills[-1].quantity * mark * self._liq_fee
            self._book(cycle, sym, "liquidation_fee", -fee, order.client_id)
            self._account.fees += fee
        self._account.liquidations += 1
        cycle.events.append(("liquidation", reason))
        if self._account.cash < 0:
            self._book(cycle, symbol, "insurance", -self._account.cash)

    def _fund(self, symbol: str, after: int, close: float, cycle: Cycle) -> None:
        """Funding due in (previous close, this close]; a position opened at this bar's open owes only what
        falls due after the open, even when a gap in the data precedes the bar."""
        position = self._positions.get(symbol)
        if position is not None and position.opened_t == cycle.t and self._bar_ms:
            after = max(after, cycle.t - self._bar_ms)
        events = self._funding[symbol].events(after, cycle.t, close)
        if position is None or not position.quantity:
            return
        for _, rate in events:
            payment = position.quantity * close * rate
            position.funding += payment
            self._account.funding += payment
            self._book(cycle, symbol, "funding", -payment)

    # --- sizing ---------------------------------------------------------------------------------------

    def _quantity(self, intent: Intent, price: float, rate: float) -> float | None:
        """Signed base quantity to trade, resolved at the fill price. A fraction sizes a perp's margin: the
        notional is fraction * equity * leverage."""
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
            leverage = max(intent.leverage, 1.0) if _is_perp(intent.symbol) else 1.0
            amount = (size.fraction or 0.0) * equity * leverage / (price * (1 + rate * leverage))
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
        leverage = max(held.leverage if held is not None and current else leverage, 1.0)
        others = sum(
            initial_margin(p.quantity, self._close(s, p.avg_price), p.leverage)
            for s, p in self._positions.items()
            if s != symbol and p.quantity and _is_perp(s)
        )
        margin = self._equity_at(symbol, price) - others - abs(quantity) * price * rate
        limit = max(margin, 0.0) * leverage / price
        if abs(after) > limit * (1 + 1e-12):
            fit = (limit if after > 0 else -limit) - current
            if limit > 0 and abs(fit) > _DUST and (fit > 0) == (quantity > 0):
                return fit, "cut to the margin available"
            return 0.0, "insufficient margin"
        return quantity, ""

    # --- accounting -----------------------------------------------------------------------------------

    def _apply(
        self,
        client_id: str,
        symbol: str,
        quantity: float,
        price: float,
        rate: float,
        liquidity: Literal["maker", "taker"],
        cycle: Cycle,
        intent: Intent | None = None,
    ) -> Fill:
        """Book a fill: position, cash and ledger."""
        perp = _is_perp(symbol)
        position = self._positions.setdefault(symbol, Position(symbol))
        fee = abs(quantity) * price * rate
        current = position.quantity
        realized = 0.0
        net: float | None = None
        if current == 0 or (current > 0) == (quantity > 0):
            total = abs(current) + abs(quantity)
            position.avg_price = (position.avg_price * abs(current) + price * abs(quantity)) / total
            self._entry_fees[symbol] = self._entry_fees.get(symbol, 0.0) + fee
            if current == 0:
                self._open_position(position, cycle.t, intent)
            position.quantity = current + quantity
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
                _clear_plan(position)
            elif (remaining > 0) != (current > 0):  # flipped: the rest opens at this price
                position.avg_price = price
                self._entry_fees[symbol] = fee * (abs(quantity) - closed) / abs(quantity)
                self._open_position(position, cycle.t, intent)
            position.quantity = remaining
            position.realized_pnl += realized
        account = self._account
        if perp:
            if realized:
                self._book(cycle, symbol, "realized_pnl", realized, client_id)
        else:
            self._book(cycle, symbol, "trade", -(quantity * price), client_id)
        if fee:
            self._book(cycle, symbol, "fee", -fee, client_id)
        if not perp and -1e-9 * abs(quantity * price) < account.cash < 0:
            # an all-in buy spends the cash exactly; rounding must not leave it a hair below zero
            self._book(cycle, symbol, "trade", -account.cash, client_id)
        account.fees += fee
        side: Literal["buy", "sell"] = "buy" if quantity > 0 else "sell"
        return Fill(client_id, cycle.t, symbol, side, abs(quantity), price, fee, liquidity, net)

    def _open_position(self, position: Position, t: int, intent: Intent | None) -> None:
        position.opened_t = t
        position.leverage = max(intent.leverage, 1.0) if intent is not None else 1.0
        position.funding = 0.0
        _clear_plan(position)
        if intent is not None:
            position.stop_loss, position.take_profit = intent.stop_loss, intent.take_profit
            position.invalidation = intent.invalidation

    def _book(self, cycle: Cycle, symbol: str, kind: Any, amount: float, client_id: str = "") -> None:
        self._account.cash += amount
        cycle.ledger.append(LedgerEntry(cycle.t, symbol, kind, amount, client_id))

    def _margin_equity(self, symbol: str, price: float) -> float:
        """Cash plus the perps' unrealised PnL, ``symbol`` marked at ``price``."""
        equity = self._account.cash
        for held, position in self._positions.items():
            if position.quantity and _is_perp(held):
                mark = price if held == symbol else self._close(held, position.avg_price)
                equity += position.quantity * (mark - position.avg_price)
        return equity

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
        account = self._account
        account.equity = self.equity()
        used = maintenance = 0.0
        for held, position in self._positions.items():
            if position.quantity and _is_perp(held):
                mark = self._close(held, position.avg_price)
                used += initial_margin(position.quantity, mark, position.leverage)
                maintenance += self._mm * abs(position.quantity) * mark
        account.used_margin, account.maintenance_margin = used, maintenance
        return account


def _clear_plan(position: Position) -> None:
    position.stop_loss = position.take_profit = None
    position.invalidation = ""


def _is_perp(symbol: str) -> bool:
    """ccxt unified symbols: ``BTC/USDC:USDC`` is a perpetual swap, ``BTC/USDC`` spot."""
    return ":" in symbol


def _malformed(intent: Intent) -> str:
    if not (math.isfinite(intent.leverage) and intent.leverage > 0):
        return f"leverage {intent.leverage} is not a positive number"
    if intent.kind != "close" and (intent.side is None or intent.size is None):
        return f"{'an' if intent.kind == 'order' else 'a'} {intent.kind} intent needs a side and a size"
    if intent.order_type == "limit" and (intent.price is None or not intent.price > 0):
        return "a limit order needs a positive price"
    if intent.post_only and intent.order_type != "limit":
        return "post-only needs a limit order"
    for name in ("price", "stop_loss", "take_profit"):
        value = getattr(intent, name)
        if value is not None and not (math.isfinite(value) and value > 0):
            return f"{name.replace('_', '-')} {value} is not a positive price"
    return ""
