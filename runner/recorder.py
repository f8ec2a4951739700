"""Recorders turn finished cycles into store rows.

A backtest keeps rows in memory and writes them once, with the equity curve in two blobs (runner.curves); a
paper or live run writes each cycle, with its intents, verdicts, orders, fills, positions and equity,
in one transaction.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import orjson

from runner import curves
from runner.cycle import Cycle, Decision
from runner.llm.record import LlmCall
from runner.store import Store
from runner.types import Fill, Intent, LedgerEntry, Order, Size, Verdict, size_record

INTENT_COLUMNS = ("run_id", "t", "step_id", "leg", "symbol", "kind", "side", "payload", "verdicts", "approved")
DECISION_COLUMNS = ("run_id", "t", "step_id", "note", "intents")
EVENT_COLUMNS = ("run_id", "t", "kind", "message", "data")
ORDER_COLUMNS = (
    "run_id", "client_id", "t", "step_id", "leg", "symbol", "kind", "side", "order_type", "price", "status", "reason"
)  # fmt: skip
LEDGER_COLUMNS = ("run_id", "t", "symbol", "kind", "amount", "client_id")
LLM_COLUMNS = (
    "run_id", "t", "step_id", "attempt", "model", "prompt_hash", "prompt_system", "prompt_user", "response", "plan",
    "error", "rejected", "tokens_in", "tokens_out", "cost_usd", "latency_ms", "source", "tries", "intents", "subject",
)  # fmt: skip
FILL_COLUMNS = ("run_id", "client_id", "t", "symbol", "side", "quantity", "price", "fee", "liquidity", "realized_pnl")


def _plain(value: Any) -> Any:
    if isinstance(value, Size):
        return size_record(value)
    raise TypeError(f"cannot record {type(value).__name__}")


def intent_payload(intent: Intent) -> str:
    """The intent as JSON, fields in declaration order (its size as plain data)."""
    return orjson.dumps(intent, default=_plain).decode()


@lru_cache(maxsize=4096)
def verdicts_json(verdicts: tuple[Verdict, ...]) -> str:
    """Verdicts as JSON; most intents get the same few verdicts, so each is encoded once."""
    return orjson.dumps(
        [
            {"step": v.step_id, "action": v.action, "reason": v.reason, "size": size_record(v.size) if v.size else None}
            for v in verdicts
        ]
    ).decode()


def intent_rows(run_id: str, t: int, verdicts: Sequence[tuple[Intent, list[Verdict]]]) -> list[tuple[Any, ...]]:
    rows = []
    for intent, given in verdicts:
        rows.append(
            (
                run_id,
                t,
                intent.step_id,
                intent.leg,
                intent.symbol,
                intent.kind,
                intent.side,
                intent_payload(intent),
                verdicts_json(tuple(given)),
                int(not any(v.action == "reject" for v in given)),
            )
        )
    return rows


def decision_rows(run_id: str, t: int, decisions: Sequence[Decision]) -> list[tuple[Any, ...]]:
    return [(run_id, t, d.step_id, d.note, len(d.intents)) for d in decisions]


def llm_rows(run_id: str, t: int, calls: Sequence[LlmCall]) -> list[tuple[Any, ...]]:
    return [
        (
            run_id,
            t,
            c.step_id,
            c.attempt,
            c.model,
            c.prompt_hash,
            c.prompt_system,
            c.prompt_user,
            c.response,
            c.plan,
            c.error,
            orjson.dumps(c.rejected).decode() if c.rejected else None,
            c.tokens_in,
            c.tokens_out,
            c.cost_usd,
            c.latency_ms,
            c.source,
            c.tries,
            c.intents,
            c.subject or None,
        )
        for c in calls
    ]


def event_rows(run_id: str, t: int, events: Sequence[tuple[str, str]]) -> list[tuple[Any, ...]]:
    return [(run_id, t, kind, message, None) for kind, message in events]


def order_row(run_id: str, order: Order) -> tuple[Any, ...]:
    intent = order.intent
    return (
        run_id,
        order.client_id,
        order.t,
        intent.step_id,
        intent.leg,
        order.symbol,
        intent.kind,
        intent.side,
        intent.order_type,
        intent.price,
        order.status,
        order.reason,
    )


def ledger_rows(run_id: str, t: int, entries: Sequence[LedgerEntry]) -> list[tuple[Any, ...]]:
    return [(run_id, e.t, e.symbol, e.kind, e.amount, e.client_id) for e in entries]


def fill_row(run_id: str, fill: Fill) -> tuple[Any, ...]:
    return (
        run_id,
        fill.client_id,
        fill.t,
        fill.symbol,
        fill.side,
        fill.quantity,
        fill.price,
        fill.fee,
        fill.liquidity,
        fill.realized_pnl,
    )


Activity = tuple[
    int,
    Sequence[Decision],
    Sequence[tuple[Intent, list[Verdict]]],
    Sequence[Order],
    Sequence[Fill],
    Sequence[tuple[str, str]],
    Sequence[LedgerEntry],
    Sequence[LlmCall],
]
"""What one cycle decided and did: (t, decisions, verdicts, orders, fills, events, ledger, llm calls)."""


@dataclass
class BacktestRecorder:
    """Everything a backtest did, kept in memory (by reference: a cycle's lists are never reused) until ``save``."""

    run_id: str
    times: array[int] = field(default_factory=lambda: array("q"))
    equity: array[float] = field(default_factory=lambda: array("d"))
    activity: list[Activity] = field(default_factory=list)

    def record(self, cycle: Cycle) -> None:
        self.times.append(cycle.t)
        self.equity.append(cycle.account().equity)
        if cycle.decisions or cycle.fills or cycle.events or cycle.ledger or cycle.orders or cycle.llm_calls:
            self.record_activity(cycle)

    def record_activity(self, cycle: Cycle) -> None:
        """Keep what a cycle decided and did (not its equity point). ``Cycle.reset`` replaces the lists that
        were used and keeps empty ones, so an empty list is kept as an empty tuple, which nothing can fill."""
        c = cycle
        self.activity.append(
            (
                c.t,
                c.decisions or (),
                c.verdicts or (),
                c.orders or (),
                c.fills or (),
                c.events or (),
                c.ledger or (),
                c.llm_calls or (),
            )
        )

    @property
    def orders(self) -> list[Order]:
        return [order for entry in self.activity for order in entry[3]]

    @property
    def fills(self) -> list[Fill]:
        return [fill for entry in self.activity for fill in entry[4]]

    @property
    def ledger(self) -> list[LedgerEntry]:
        return [e for entry in self.activity for e in entry[6]]

    @property
    def events(self) -> list[dict[str, Any]]:
        return [dict(zip(EVENT_COLUMNS, row, strict=True)) for row in self._rows(event_rows, 5)]

    @property
    def llm_calls(self) -> list[LlmCall]:
        return [call for entry in self.activity for call in entry[7]]

    @property
    def intents(self) -> list[dict[str, Any]]:
        return [dict(zip(INTENT_COLUMNS, row, strict=True)) for row in self._rows(intent_rows, 2)]

    def _rows(self, rows: Callable[[str, int, Any], list[tuple[Any, ...]]], part: int) -> list[tuple[Any, ...]]:
        return [row for entry in self.activity if entry[part] for row in rows(self.run_id, entry[0], entry[part])]

    def save(self, store: Store) -> None:
        run_id = self.run_id
        store.insert_rows("events", EVENT_COLUMNS, self._rows(event_rows, 5))
        store.insert_rows("decisions", DECISION_COLUMNS, self._rows(decision_rows, 1))
        store.insert_rows("intents", INTENT_COLUMNS, self._rows(intent_rows, 2))
        store.insert_rows("orders", ORDER_COLUMNS, [order_row(run_id, o) for o in self.orders])
        store.insert_rows("fills", FILL_COLUMNS, [fill_row(run_id, f) for f in self.fills])
        store.insert_rows("ledger", LEDGER_COLUMNS, self._rows(ledger_rows, 6))
        store.insert_rows("llm_calls", LLM_COLUMNS, self._rows(llm_rows, 7))
        store.insert_rows(
            "equity_curves",
            ("run_id", "points", "encoding", "times", "values_"),
            [
                (
                    run_id,
                    len(self.equity),
                    curves.ENCODING,
                    curves.encode_times(self.times),
                    curves.encode_values(self.equity),
                )
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
            t = cycle.t
            store.insert_rows("decisions", DECISION_COLUMNS, decision_rows(run_id, t, cycle.decisions))
            store.insert_rows("intents", INTENT_COLUMNS, intent_rows(run_id, t, cycle.verdicts))
            store.insert_rows("orders", ORDER_COLUMNS, [order_row(run_id, o) for o in cycle.orders])
            store.insert_rows("fills", FILL_COLUMNS, [fill_row(run_id, f) for f in cycle.fills])
            store.insert_rows("events", EVENT_COLUMNS, event_rows(run_id, t, cycle.events))
            store.insert_rows("ledger", LEDGER_COLUMNS, ledger_rows(run_id, t, cycle.ledger))
            store.insert_rows("llm_calls", LLM_COLUMNS, llm_rows(run_id, t, cycle.llm_calls))
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
