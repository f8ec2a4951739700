"""Recorders turn finished cycles into store rows.

A backtest keeps rows in memory and writes them once, with the equity curve as two packed arrays; a
paper or live run writes each cycle, with its intents, verdicts, orders, fills, positions and equity,
in one transaction.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from runner.cycle import Cycle
from runner.store import Store
from runner.types import Fill, Order, Verdict, size_record

CURVE_ENCODING = "int64 ms, float64, native byte order"
"""How a backtest's equity curve is stored: two packed arrays (times, equity)."""


def intent_rows(run_id: str, cycle: Cycle) -> list[dict[str, Any]]:
    rows = []
    for intent, verdicts in cycle.verdicts:
        record = intent.to_record()
        rows.append(
            {
                "run_id": run_id,
                "t": cycle.t,
                "step_id": intent.step_id,
                "leg": intent.leg,
                "symbol": intent.symbol,
                "kind": intent.kind,
                "side": intent.side,
                "payload": orjson.dumps(record, option=orjson.OPT_SORT_KEYS).decode(),
                "verdicts": orjson.dumps([_verdict(v) for v in verdicts]).decode(),
                "approved": int(not any(v.action == "reject" for v in verdicts)),
            }
        )
    return rows


def event_rows(run_id: str, cycle: Cycle) -> list[dict[str, Any]]:
    return [
        {"run_id": run_id, "t": cycle.t, "kind": kind, "message": message, "data": None}
        for kind, message in cycle.events
    ]


def order_row(run_id: str, order: Order) -> dict[str, Any]:
    intent = order.intent
    return {
        "run_id": run_id,
        "client_id": order.client_id,
        "t": order.t,
        "step_id": intent.step_id,
        "leg": intent.leg,
        "symbol": order.symbol,
        "kind": intent.kind,
        "side": intent.side,
        "order_type": intent.order_type,
        "price": intent.price,
        "status": order.status,
        "reason": order.reason,
    }


def fill_row(run_id: str, fill: Fill) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "client_id": fill.client_id,
        "t": fill.t,
        "symbol": fill.symbol,
        "side": fill.side,
        "quantity": fill.quantity,
        "price": fill.price,
        "fee": fill.fee,
        "liquidity": fill.liquidity,
        "realized_pnl": fill.realized_pnl,
    }


def _verdict(verdict: Verdict) -> dict[str, Any]:
    return {
        "step": verdict.step_id,
        "action": verdict.action,
        "reason": verdict.reason,
        "size": size_record(verdict.size) if verdict.size else None,
    }


@dataclass
class BacktestRecorder:
    """Everything a backtest did, kept in memory until ``save``."""

    run_id: str
    times: array[int] = field(default_factory=lambda: array("q"))
    equity: array[float] = field(default_factory=lambda: array("d"))
    intents: list[dict[str, Any]] = field(default_factory=list)
    orders: list[Order] = field(default_factory=list)
    fills: list[Fill] = field(default_factory=list)
    decisions: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)

    def record(self, cycle: Cycle) -> None:
        self.times.append(cycle.t)
        self.equity.append(cycle.account().equity)
        self.record_activity(cycle)

    def record_activity(self, cycle: Cycle) -> None:
        """Keep what a cycle decided and did (not its equity point)."""
        if cycle.events:
            self.events.extend(event_rows(self.run_id, cycle))
        if cycle.fills:
            self.fills.extend(cycle.fills)
        if cycle.verdicts:
            self.intents.extend(intent_rows(self.run_id, cycle))
            self.orders.extend(cycle.orders)
            self.decisions.extend(
                {"run_id": self.run_id, "t": cycle.t, "step_id": d.step_id, "note": d.note, "intents": len(d.intents)}
                for d in cycle.decisions
            )

    def save(self, store: Store) -> None:
        store.insert_all("events", self.events)
        store.insert_all("decisions", self.decisions)
        store.insert_all("intents", self.intents)
        store.insert_all("orders", [order_row(self.run_id, o) for o in self.orders])
        store.insert_all("fills", [fill_row(self.run_id, f) for f in self.fills])
        store.insert_all(
            "equity_curves",
            [
                {
                    "run_id": self.run_id,
                    "points": len(self.equity),
                    "encoding": CURVE_ENCODING,
                    "times": self.times.tobytes(),
                    "values_": self.equity.tobytes(),
                }
            ],
        )


@dataclass
class CycleRecorder:
    """Writes each cycle of a paper or live run in one transaction, then tells ``echo`` about it."""

    store: Store
    run_id: str
    echo: Callable[[Cycle], None] | None = None
    recorded: int = 0
    """Cycles written by this recorder."""
    _orders: dict[str, Order] = field(default_factory=dict)
    _positions: dict[str, tuple[float, float]] = field(default_factory=dict)

    def record(self, cycle: Cycle) -> None:
        run_id, store = self.run_id, self.store
        account = cycle.account()
        with store.transaction():
            store.insert(
                "cycles",
                {
                    "run_id": run_id,
                    "t": cycle.t,
                    "status": "failed" if cycle.error else "ok",
                    "error": cycle.error,
                    "bars": cycle.bars,
                    "equity": account.equity,
                    "cash": account.cash,
                    "intents": len(cycle.verdicts),
                    "orders": len(cycle.orders),
                    "fills": len(cycle.fills),
                },
            )
            store.insert_all(
                "decisions",
                [
                    {"run_id": run_id, "t": cycle.t, "step_id": d.step_id, "note": d.note, "intents": len(d.intents)}
                    for d in cycle.decisions
                ],
            )
            store.insert_all("intents", intent_rows(run_id, cycle))
            store.insert_all("orders", [order_row(run_id, o) for o in cycle.orders])
            store.insert_all("fills", [fill_row(run_id, f) for f in cycle.fills])
            store.insert_all("events", event_rows(run_id, cycle))
            self._update_orders(cycle)
            self._record_positions(cycle, account.positions)
            store.insert("equity", {"run_id": run_id, "t": cycle.t, "equity": account.equity, "cash": account.cash})
            store.conn.execute("UPDATE runs SET last_t = ? WHERE id = ?", (cycle.t, run_id))
        self.recorded += 1
        if self.echo is not None:
            self.echo(cycle)

    def _update_orders(self, cycle: Cycle) -> None:
        for order in cycle.orders:
            self._orders[order.client_id] = order
        for client_id, order in list(self._orders.items()):
            if order.t < cycle.t or order.status != "open":
                self.store.conn.execute(
                    "UPDATE orders SET status = ?, reason = ? WHERE run_id = ? AND client_id = ?",
                    (order.status, order.reason, self.run_id, client_id),
                )
            if order.status != "open":
                del self._orders[client_id]

    def _record_positions(self, cycle: Cycle, positions: dict[str, Any]) -> None:
        rows = []
        for symbol, position in positions.items():
            state = (position.quantity, position.avg_price)
            if self._positions.get(symbol) != state:
                self._positions[symbol] = state
                rows.append(
                    {
                        "run_id": self.run_id,
                        "t": cycle.t,
                        "symbol": symbol,
                        "quantity": position.quantity,
                        "avg_price": position.avg_price,
                        "realized_pnl": position.realized_pnl,
                    }
                )
        self.store.insert_all("positions", rows)
