"""``runner decisions BOT``: the LLM decisions of a bot's latest run (or of ``--run``), one line each."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from runner.cliutil import fmt_time, table
from runner.store import Store


def run(args: argparse.Namespace) -> int:
    store = Store(args.db)
    try:
        run_row = _run(store, args.bot, args.run)
        if run_row is None:
            print(f"runner decisions: no run of '{args.bot}' in {store.path} (see `runner runs`)", file=sys.stderr)
            return 1
        calls = store.rows(
            "SELECT t, step_id, attempt, model, source, tokens_in, tokens_out, cost_usd, latency_ms, error, "
            "rejected, intents, prompt_hash, plan, COALESCE(subject, '') AS subject FROM llm_calls "
            "WHERE run_id = ? ORDER BY t, step_id, attempt",
            (run_row["id"],),
        )
    finally:
        store.close()
    decisions = _decisions(calls)
    shown = decisions[-args.limit :] if args.limit else decisions
    if args.format == "json":
        print(json.dumps({"run_id": run_row["id"], "decisions": shown}))
        return 0
    cost = sum(d["cost_usd"] or 0.0 for d in decisions)
    tokens = sum(d["tokens_in"] + d["tokens_out"] for d in decisions)
    print(
        f"{args.bot}: run {run_row['id']} ({run_row['kind']}), {len(decisions)} LLM decision(s), "
        f"{tokens:,} tokens, ${cost:.4f}" + (f"; the last {len(shown)}" if len(shown) < len(decisions) else "")
    )
    if not decisions:
        return 0
    body = [
        [
            fmt_time(d["t"]),
            f"{d['step_id']} on {d['subject']}" if d["subject"] else d["step_id"],
            d["model"],
            d["source"],
            str(d["attempts"]),
            f"{d['tokens_in']:,}/{d['tokens_out']:,}",
            f"${d['cost_usd']:.4f}" if d["cost_usd"] is not None else "-",
            f"{d['latency_ms']:,.0f} ms" if d["latency_ms"] is not None else "-",
            d["outcome"],
        ]
        for d in shown
    ]
    print(table(["time", "step", "model", "source", "tries", "tokens in/out", "cost", "latency", "outcome"], body))
    return 0


def _run(store: Store, bot: str, run_id: str | None) -> dict[str, Any] | None:
    if run_id:
        return store.one(
            "SELECT r.id, r.kind FROM runs r JOIN deployments d ON d.id = r.deployment_id "
            "WHERE d.bot = ? AND substr(r.id, 1, ?) = ?",
            (bot, len(run_id), run_id),
        )
    return store.one(
        "SELECT r.id, r.kind FROM runs r JOIN deployments d ON d.id = r.deployment_id WHERE d.bot = ? "
        "AND r.id IN (SELECT DISTINCT run_id FROM llm_calls) ORDER BY r.started_at DESC, r.rowid DESC LIMIT 1",
        (bot,),
    )


def _decisions(calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The calls of each (cycle, step, subject), folded into one decision: totals, and how it ended (a plan's
    intents, or a veto's answer)."""
    out: list[dict[str, Any]] = []
    for call in calls:
        last = out[-1] if out else None
        if last is None or (last["t"], last["step_id"], last["subject"]) != (
            call["t"],
            call["step_id"],
            call["subject"],
        ):
            last = {
                "t": call["t"],
                "step_id": call["step_id"],
                "subject": call["subject"],
                "model": call["model"],
                "source": call["source"],
                "attempts": 0,
                "tokens_in": 0,
                "tokens_out": 0,
                "cost_usd": None,
                "latency_ms": None,
                "prompt_hash": call["prompt_hash"],
            }
            out.append(last)
        last["attempts"] += 1
        last["tokens_in"] += call["tokens_in"] or 0
        last["tokens_out"] += call["tokens_out"] or 0
        if call["cost_usd"] is not None:
            last["cost_usd"] = (last["cost_usd"] or 0.0) + call["cost_usd"]
        if call["latency_ms"] is not None:
            last["latency_ms"] = (last["latency_ms"] or 0.0) + call["latency_ms"]
        rejected = json.loads(call["rejected"] or "[]")
        if call["error"]:
            last["outcome"] = f"refused: {call['error']}"[:100]
        elif call["subject"]:  # a veto: its answer
            answer = json.loads(call["plan"] or "{}")
            last["outcome"] = f"{'vetoed' if answer.get('veto') else 'approved'}: {answer.get('reason', '')}"[:100]
        else:
            last["outcome"] = f"{call['intents']} intent(s)" + (f", {len(rejected)} not traded" if rejected else "")
    return out
