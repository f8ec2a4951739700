"""``runner explain ORDER_ID``: walk an order back to its intent, verdicts, decision and deployment."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from runner.cliutil import fmt_time, house_rule_ids, price
from runner.store import Store


def run(args: argparse.Namespace) -> int:
    store = Store(args.db)
    try:
        order = args.order
        if order is None:
            newest = store.one(
                "SELECT o.client_id, o.run_id FROM orders o JOIN runs r ON r.id = o.run_id "
                "JOIN deployments d ON d.id = r.deployment_id WHERE o.status = 'filled' AND (? IS NULL OR d.bot = ?) "
                "ORDER BY r.rowid DESC, o.t DESC LIMIT 1",
                (args.bot, args.bot),
            )
            if not args.last or newest is None:
                print(
                    "runner explain: give an ORDER_ID, or --last" + (" (no filled order yet)" if args.last else ""),
                    file=sys.stderr,
                )
                return 2 if not args.last else 1
            order, args.run = newest["client_id"], args.run or newest["run_id"]
        return _explain(store, order, args.run)
    finally:
        store.close()


def _explain(store: Store, client_id: str, run_id: str | None) -> int:
    sql = (
        "SELECT o.*, r.kind AS run_kind, r.deployment_id, r.started_at FROM orders o JOIN runs r ON r.id = o.run_id "
        "WHERE o.client_id = ?" + (" AND o.run_id = ?" if run_id else "") + " ORDER BY r.rowid DESC"
    )
    found = store.rows(sql, (client_id, run_id) if run_id else (client_id,))
    if not found:
        print(f"runner explain: no order {client_id}" + (f" in run {run_id}" if run_id else ""), file=sys.stderr)
        return 1
    order = found[0]
    intent = store.one(
        "SELECT * FROM intents WHERE run_id = ? AND t = ? AND step_id = ? AND leg = ?",
        (order["run_id"], order["t"], order["step_id"], order["leg"]),
    )
    decision = store.one(
        "SELECT * FROM decisions WHERE run_id = ? AND t = ? AND step_id = ?",
        (order["run_id"], order["t"], order["step_id"]),
    )
    fills = store.rows(
        "SELECT * FROM fills WHERE run_id = ? AND client_id = ? ORDER BY t", (order["run_id"], client_id)
    )
    deployment = store.one("SELECT * FROM deployments WHERE id = ?", (order["deployment_id"],))
    assert deployment is not None
    snapshot = json.loads(deployment["snapshot"])
    house = set(house_rule_ids(snapshot))
    lines = [
        f"order {client_id}  {order['symbol']} {order['kind']} {order['side'] or ''} {order['order_type']}"
        f"  status {order['status']}" + (f" ({order['reason']})" if order["reason"] else "")
    ]
    for fill in fills:
        pnl = f", pnl {fill['realized_pnl']:+,.2f}" if fill["realized_pnl"] is not None else ""
        lines.append(
            f"  filled {fmt_time(fill['t'])}: {fill['side']} {fill['quantity']:.8g} @ {price(fill['price'])}, "
            f"fee {fill['fee']:,.4f} ({fill['liquidity']}){pnl}"
        )
    if intent is not None:
        payload = json.loads(intent["payload"])
        lines.append(
            f"intent at {fmt_time(order['t'])} from step '{intent['step_id']}' (leg {intent['leg']}): "
            f"{payload['kind']} {payload['side'] or ''} size {payload['size']}"
            + (f" (asked {payload['requested']})" if payload.get("requested") else "")
        )
        lines.append(f"  reason: {payload['reason'] or '-'}")
        for verdict in json.loads(intent["verdicts"]):
            rule = " (house rule)" if verdict["step"] in house else ""
            lines.append(
                f"  verdict {verdict['step']}{rule}: {verdict['action']}"
                + (f" ({verdict['reason']})" if verdict["reason"] else "")
            )
    if decision is not None:
        lines.append(
            f"decision by '{decision['step_id']}': {decision['intents']} intent(s)"
            + (f", note: {decision['note']}" if decision["note"] else "")
        )
    calls = store.rows(
        "SELECT * FROM llm_calls WHERE run_id = ? AND t = ? AND (step_id = ? OR subject = ?) ORDER BY step_id != ?, "
        "step_id, attempt",
        (order["run_id"], order["t"], order["step_id"], order["symbol"], order["step_id"]),
    )
    lines.extend(llm_lines(calls))
    steps = [*snapshot["pipeline"], *snapshot.get("risk", ())]
    step = next((s for s in steps if s["id"] == order["step_id"]), None)
    lines.append(f"run {order['run_id']} ({order['run_kind']}, started {order['started_at']})")
    lines.append(f"deployment {deployment['id']}  config {deployment['config_id']}")
    if step is not None:
        settings = json.dumps({k: _brief(v) for k, v in step["with"].items()}, sort_keys=True, ensure_ascii=False)
        lines.append(f"  step {step['id']}: {step['uses']} with {settings}")
    if house:
        lines.append(f"  house rules: {', '.join(house_rule_ids(snapshot))}")
    if len(found) > 1:
        lines.append(
            f"({len(found) - 1} other run(s) have an order with this id: same deployment, cycle and step; "
            "pick one with --run)"
        )
    print("\n".join(lines))
    return 0


def _brief(value: Any) -> Any:
    """A setting as explain shows it: a long text (a prompt template) cut to its start and length."""
    if isinstance(value, str) and len(value) > 80:
        return f"{excerpt(value, 60)} ({len(value):,} chars)"
    return value


def llm_lines(calls: list[dict[str, Any]]) -> list[str]:
    """The model calls behind a decision: prompt hash and excerpt, model, reply excerpt, tokens, cost, latency."""
    lines = []
    for call in calls:
        cost = f"${call['cost_usd']:.6f}" if call["cost_usd"] is not None else "cost unknown"
        latency = f"{call['latency_ms']:,.0f} ms" if call["latency_ms"] is not None else "-"
        about = f" on {call['subject']}" if call.get("subject") else ""
        lines.append(
            f"llm call {call['attempt']}{about} by '{call['step_id']}' ({call['source']}): {call['model']}, "
            f"tokens {call['tokens_in'] or 0} in / "
            f"{call['tokens_out'] or 0} out, {cost}, {latency}"
        )
        lines.append(f"  prompt sha256 {call['prompt_hash'][:16]}: {excerpt(call['prompt_user'])}")
        lines.append(f"  response: {excerpt(call['response'] or '-')}")
        if call["error"]:
            lines.append(f"  refused: {call['error']}")
        for reason in json.loads(call["rejected"] or "[]"):
            lines.append(f"  not traded: {reason}")
    return lines


def excerpt(text: str, width: int = 160) -> str:
    """The text on one line, cut to ``width`` characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"
