"""What a prompt template sees: earlier steps' outputs per symbol, the market, the account and limits."""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from runner.durations import format_time

if TYPE_CHECKING:
    from runner.cycle import Cycle
    from runner.trades import Trade, TradeBook
    from runner.types import Intent

__all__ = ["CONTEXT_NAMES", "PromptContext", "base_of"]

CONTEXT_NAMES = (
    "now",
    "t",
    "symbols",
    "market",
    "steps",
    "account",
    "positions",
    "limits",
    "performance",
    "invocation",
    "last_error",
    "decisions",
    "trades",
)
"""The top-level names every prompt may use; each earlier step's id with outputs is one too (unless it is one of
these). ``decisions`` lists this planner's recent intents (time, coin, action, quantity, leverage, reason) and
``trades`` the run's last closed round trips (result, return, hold time, entry and exit reasons), oldest first."""

_PRICES = ("open", "high", "low", "close", "volume")


def base_of(symbol: str) -> str:
    """The base asset of a symbol: BTC/USDC:USDC -> BTC."""
    return symbol.split("/")[0].split(":")[0]


@dataclass
class PromptContext:
    """Builds the template context of each invocation and keeps the recent rows each symbol's history shows."""

    symbols: Sequence[str]
    steps: Mapping[str, Mapping[str, int]]
    """Earlier steps in pipeline order: step id -> output name -> lane slot."""
    prices: Mapping[str, int]
    """open/high/low/close/volume -> lane slot, for what the price source provides."""
    start_cash: float
    limits: Mapping[str, Any]
    history: int = 10
    book: TradeBook | None = None
    """The run's round trips, for ``trades`` and the performance figures."""
    recent_trades: int = 10
    invocations: int = 0
    _rows: dict[str, deque[dict[str, Any]]] = field(default_factory=dict)
    _decisions: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=20))
    _times: list[int] = field(default_factory=list)
    _equity: list[float] = field(default_factory=list)

    def remember(self, t: int, intents: Sequence[Intent]) -> None:
        """Keep the intents a plan became (newest last) for the next prompts' ``decisions``."""
        for intent in intents:
            self._decisions.append(
                {
                    "time": format_time(t),
                    "symbol": intent.symbol,
                    "coin": base_of(intent.symbol),
                    "action": intent.side if intent.kind == "target" else intent.kind,
                    "quantity": intent.size.quantity if intent.size is not None else None,
                    "leverage": intent.leverage,
                    "reason": intent.reason,
                }
            )

    def build(self, cycle: Cycle, last_error: str = "") -> dict[str, Any]:
        """The context at this cycle; also appends this cycle's row to every symbol's history."""
        self.invocations += 1
        steps = {
            step: {sym: self._value(cycle.lanes[sym], outs) for sym in self.symbols}
            for step, outs in self.steps.items()
        }
        market = {sym: self._market(sym, cycle, steps) for sym in self.symbols}
        account = cycle.account()
        positions = [self._position(sym, p, market) for sym, p in account.positions.items() if p.quantity]
        closed = self.book.closed() if self.book is not None else []
        context: dict[str, Any] = {step: values for step, values in steps.items() if step not in CONTEXT_NAMES}
        context.update(
            now=format_time(cycle.t),
            t=cycle.t,
            symbols=list(self.symbols),
            market=market,
            steps=steps,
            account={
                "cash": account.cash,
                "equity": account.equity,
                "used_margin": account.used_margin,
                "fees": account.fees,
                "funding": account.funding,
                "unrealized_pnl": sum(p["unrealized_pnl"] for p in positions),
                "positions": positions,
            },
            positions=positions,
            limits=dict(self.limits),
            performance=self._performance(cycle.t, account),
            invocation=self.invocations,
            last_error=last_error,
            decisions=list(self._decisions),
            trades=[_trade(t) for t in closed[-self.recent_trades :]] if self.recent_trades else [],
        )
        return context

    def _performance(self, t: int, account: Any) -> dict[str, Any]:
        """Return, PnL, fees, trade statistics, and Sharpe and max drawdown of the equity at each invocation."""
        from runner.metrics import curve_stats, trade_stats

        self._times.append(t)
        self._equity.append(account.equity)
        closed = self.book.closed() if self.book is not None else []
        trades = trade_stats([trade.pnl for trade in closed])
        curve = curve_stats(self._times, self._equity, self.start_cash)
        return {
            "return_pct": account.equity / self.start_cash - 1 if self.start_cash else 0.0,
            "realized_pnl": sum(p.realized_pnl for p in account.positions.values()),
            "fees": account.fees,
            "trades": trades["trades"],
            "win_rate": trades["win_rate_pct"] / 100,
            "profit_factor": trades["profit_factor"],
            "avg_win": trades["avg_win"],
            "avg_loss": trades["avg_loss"],
            "sharpe": curve["sharpe"],
            "max_drawdown": curve["max_drawdown_pct"] / 100,
        }

    @staticmethod
    def _value(lane: list[Any], outputs: Mapping[str, int]) -> Any:
        if len(outputs) == 1:
            return lane[next(iter(outputs.values()))]
        return {name: lane[slot] for name, slot in outputs.items()}

    def _market(self, symbol: str, cycle: Cycle, steps: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
        lane = cycle.lanes[symbol]
        bar = {name: lane[slot] for name, slot in self.prices.items()}
        row: dict[str, Any] = {"time": format_time(cycle.t), **bar}
        for step, values in steps.items():
            value = values[symbol]
            if isinstance(value, dict):
                row.update({f"{step}.{k}": v for k, v in value.items()})
            else:
                row[step] = value
        rows = self._rows.setdefault(symbol, deque(maxlen=max(self.history, 1)))
        rows.append(row)
        view: dict[str, Any] = {"symbol": symbol, "coin": base_of(symbol), "price": bar.get("close"), **bar}
        view.update({step: values[symbol] for step, values in steps.items() if step not in view})
        view["history"] = list(rows) if self.history else []
        return view

    @staticmethod
    def _position(symbol: str, p: Any, market: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
        price = market.get(symbol, {}).get("price") or p.avg_price
        return {
            "symbol": symbol,
            "coin": base_of(symbol),
            "side": "long" if p.quantity > 0 else "short",
            "quantity": p.quantity,
            "avg_price": p.avg_price,
            "price": price,
            "notional": abs(p.quantity) * price,
            "unrealized_pnl": p.quantity * (price - p.avg_price),
            "leverage": p.leverage,
            "funding": p.funding,
            "stop_loss": p.stop_loss,
            "take_profit": p.take_profit,
            "invalidation": p.invalidation,
            "opened": format_time(p.opened_t) if p.opened_t is not None else None,
        }


def _trade(trade: Trade) -> dict[str, Any]:
    cost = trade.entry_price * trade.quantity
    return {
        "symbol": trade.symbol,
        "coin": base_of(trade.symbol),
        "side": trade.side,
        "result": "win" if trade.pnl > 0 else "loss",
        "entry_time": format_time(trade.entry_t),
        "exit_time": format_time(trade.exit_t) if trade.exit_t is not None else None,
        "entry_price": trade.entry_price,
        "exit_price": trade.exit_price,
        "quantity": trade.quantity,
        "pnl": trade.pnl,
        "return_pct": trade.pnl / cost if cost else 0.0,
        "hold_minutes": (trade.hold_ms or 0) / 60_000,
        "fees": trade.fees,
        "entry_reason": trade.entry_reason,
        "exit_reason": trade.exit_reason,
    }
