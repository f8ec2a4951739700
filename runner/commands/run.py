"""``runner run BOT... --replay FILE``: paper runs that post each cycle's decisions to the terminal.

Several bots run in one process, each with its own paper account. Ctrl-C stops every bot after its
current cycle, with nothing half-written; a second Ctrl-C exits at once.
"""

from __future__ import annotations

import argparse
import sys
import threading
from typing import Any

from runner.cliutil import (
    UsageError,
    fmt_time,
    house_rule_ids,
    house_rules_line,
    load_bots,
    parse_data,
    parse_time,
    price,
)
from runner.compile import CompiledBot
from runner.cycle import Cycle
from runner.deployments import DeploymentConflict, deployment_id
from runner.errors import BlockError, DataError
from runner.loop import ReplayClock
from runner.risk import risk_file
from runner.runlock import RunLocked
from runner.runs import RunOptions, paper
from runner.store import Store


def run(args: argparse.Namespace) -> int:
    try:
        bots = load_bots(args.bots, risk_file(args.risk))
        if bots is None:
            return 1
        if not args.replay:
            raise UsageError("live market data comes with the venue adapters; replay history with --replay FILE")
        jobs = [
            (
                b,
                RunOptions(
                    parse_data(b, args.replay, strict=len(bots) == 1),
                    parse_time(args.start),
                    parse_time(args.until),
                    funding=parse_data(b, args.funding, strict=len(bots) == 1, flag="--funding"),
                    llm=args.llm,
                    force=args.force,
                ),
            )
            for b in bots
        ]
        if any(b.spec.mode == "live" for b, _ in jobs):
            raise UsageError("this version runs paper only: live orders come with the venue adapters")
    except UsageError as exc:
        print(f"runner run: {exc}", file=sys.stderr)
        return 2
    if bots and not args.quiet and (house := house_rules_line(bots[0])):
        print(house, file=sys.stderr)
    Store(args.db).close()  # create and migrate the store once, before the bots open it side by side
    stop = threading.Event()
    results: dict[str, Any] = {}
    lock = threading.Lock()
    # Wait on events, not Thread.join: before Python 3.13 a Ctrl-C landing inside join() can make a later
    # join() return while the thread still runs, and the process would exit in the middle of a cycle.
    done = [threading.Event() for _ in jobs]
    for (bot, options), finished in zip(jobs, done, strict=True):
        threading.Thread(target=_one, args=(args, bot, options, stop, results, lock, finished), daemon=True).start()
    try:
        _wait(done)
    except KeyboardInterrupt:
        print("\nstopping after the current cycle (Ctrl-C again to quit now)", file=sys.stderr)
        stop.set()
        try:
            _wait(done)
        except KeyboardInterrupt:
            print("quitting now; the cycle in flight is not recorded and reruns on the next start", file=sys.stderr)
            return 130
    failed = [name for name, result in results.items() if isinstance(result, Exception)]
    for name, result in results.items():
        if isinstance(result, Exception):
            print(f"runner run: {name}: {result}", file=sys.stderr)
        else:
            _summary(name, result)
    return 1 if failed else 0


def _wait(events: list[threading.Event]) -> None:
    for event in events:
        while not event.wait(0.2):
            pass


def _one(
    args: argparse.Namespace,
    bot: CompiledBot,
    options: RunOptions,
    stop: threading.Event,
    results: dict[str, Any],
    lock: threading.Lock,
    finished: threading.Event,
) -> None:
    """One bot's paper run, in its own thread with its own store connection; always sets ``finished``."""
    name = deployment_id(bot.spec.bot, bot.spec.version)
    try:
        store = Store(args.db)
        try:
            clock, echo = ReplayClock(args.speed), _printer(name, lock, args.quiet, set(house_rule_ids(bot.snapshot)))
            results[name] = paper(store, bot, options, clock, echo=echo, stop=stop.is_set, once=args.once)
        finally:
            store.close()
    except (DataError, BlockError, DeploymentConflict, RunLocked) as exc:
        results[name] = exc
    except Exception as exc:  # a bug must still stop only this bot, and say so
        results[name] = RuntimeError(f"{type(exc).__name__}: {exc}")
    finally:
        finished.set()


def _printer(name: str, lock: threading.Lock, quiet: bool, house: set[str]) -> Any:
    def echo(cycle: Cycle) -> None:
        if quiet or not (cycle.verdicts or cycle.fills or cycle.error or cycle.llm_calls or cycle.events):
            return
        when = fmt_time(cycle.t)
        lines = [f"{when}  {name}  {line}" for line in llm_lines(cycle)]
        for intent, verdicts in cycle.verdicts:
            size = intent.size.model_dump() if intent.size else ""
            if intent.requested is not None:
                size = f"{intent.requested.model_dump()}"  # as asked; a resize verdict below gives the new size
            lines.append(
                f"{when}  {name}  intent   {intent.symbol} {intent.kind} {intent.side or ''} {size}  {intent.reason}"
            )
            for v in verdicts:
                rule = " (house rule)" if v.step_id in house else ""
                lines.append(
                    f"{when}  {name}  verdict  {v.step_id}{rule}: {v.action}" + (f" ({v.reason})" if v.reason else "")
                )
        for order in cycle.orders:
            if order.status == "rejected":
                lines.append(f"{when}  {name}  order    {order.client_id} rejected: {order.reason}")
        for fill in cycle.fills:
            pnl = f"  pnl {fill.realized_pnl:+,.2f}" if fill.realized_pnl is not None else ""
            lines.append(
                f"{when}  {name}  fill     {fill.side} {fill.quantity:.6g} {fill.symbol} @ {price(fill.price)}"
                f"  fee {fill.fee:,.2f}{pnl}"
            )
        # Retries, skipped ticks, breaker trips, halts, operator commands: every event shows, not only in the store.
        for kind, message in cycle.events:
            if not kind.startswith("llm_") and kind != "block_error":  # a step's error prints as the cycle's below
                lines.append(f"{when}  {name}  {kind:<8} {message}")
        if cycle.error:
            lines.append(f"{when}  {name}  error    {cycle.error}")
        if not lines:
            return
        with lock:
            print("\n".join(lines), flush=True)

    return echo


def llm_lines(cycle: Cycle) -> list[str]:
    """An LLM planner's calls in this cycle (model, source, tokens, cost, latency, refusal) and its rejections."""
    lines = []
    for call in cycle.llm_calls:
        cost = f"${call.cost_usd:.4f}" if call.cost_usd is not None else "cost ?"
        latency = f"{call.latency_ms:,.0f} ms" if call.latency_ms is not None else "-"
        lines.append(
            f"llm      {call.step_id}#{call.attempt} {call.model} ({call.source}) "
            f"{call.tokens_in or 0}/{call.tokens_out or 0} tokens {cost} {latency}"
            + (f"  refused: {call.error}" if call.error else "")
        )
    lines += [f"{kind.removeprefix('llm_'):<8} {message}" for kind, message in cycle.events if kind.startswith("llm_")]
    return lines


def _summary(name: str, s: dict[str, Any]) -> None:
    print(
        f"{name}  paper {s['run_id']}: {s['cycles']:,} cycles, {s['trades']} trades, return {s['return_pct']:+.2f}%, "
        f"final equity {s['final_equity']:,.2f}, max drawdown {s['max_drawdown_pct']:.2f}%, sharpe {s['sharpe']:.2f}"
    )
