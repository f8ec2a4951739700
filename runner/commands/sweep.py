"""``runner sweep BOT --data FILE --grid STEP.FIELD=V1,V2 ...``: backtest every combination in parallel."""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runner.cliutil import UsageError, cost_options, load_bot, num, parse_data, parse_time, pct, table

if TYPE_CHECKING:
    from runner.compile import CompiledBot
    from runner.sweep import Axis


@dataclass
class GridJob:
    """A bot file and the grid to run it over, checked: what sweep and walk-forward share."""

    bot: CompiledBot
    text: str
    axes: list[Axis]
    grid: list[dict[str, Any]]
    data: dict[str, str]
    costs: dict[str, Any]
    problems: list[str]
    """Combinations the blocks refuse, one line each (nothing runs when there are any)."""


def grid_job(args: argparse.Namespace) -> GridJob | None:
    """The bot and its grid from the command line; None (problems printed) when the bot does not compile.
    Raises UsageError for bad flags."""
    from runner.sweep import check_variants, combinations, parse_grid

    bot = load_bot(args.bot)
    if bot is None:
        return None
    axes = parse_grid(args.grid)
    grid = combinations(axes)
    text = Path(args.bot).read_text(encoding="utf-8")
    data = parse_data(bot, args.data)
    return GridJob(bot, text, axes, grid, data, cost_options(bot, args), check_variants(text, args.bot, grid))


def run(args: argparse.Namespace) -> int:
    from runner.sweep import Task, ranked, run_tasks

    try:
        job = grid_job(args)
        if job is None:
            return 1
        start, end = parse_time(args.start), parse_time(args.end)
    except UsageError as exc:
        print(f"runner sweep: {exc}", file=sys.stderr)
        return 2
    if job.problems:
        print("\n".join(job.problems), file=sys.stderr)
        return 1
    bot, axes, grid, text, data, costs = job.bot, job.axes, job.grid, job.text, job.data, job.costs
    sweep_id = uuid.uuid4().hex[:8]
    tasks = [Task(text, args.bot, params, data, args.db, start, end, costs, {"sweep": sweep_id}) for params in grid]
    started = time.perf_counter()
    results = run_tasks(tasks, args.workers, _progress(len(tasks)) if sys.stderr.isatty() else None)
    elapsed = time.perf_counter() - started
    best = ranked(results, args.objective)
    names = [a.name for a in axes]
    if args.report:
        from runner.report import build_sweep_report

        rows = [{"run_id": r.get("run_id", ""), "params": r["params"], "summary": r} for r in best if "error" not in r]
        title = f"{bot.spec.bot} {bot.spec.version}: sweep {sweep_id}"
        Path(args.report).write_text(build_sweep_report(title, names, rows, args.objective), encoding="utf-8")
    if args.format == "json":
        record = {"sweep": sweep_id, "objective": args.objective, "elapsed_s": round(elapsed, 3), "runs": best}
        print(json.dumps(record, default=str))
    else:
        head = (
            f"{bot.spec.bot} {bot.spec.version}: sweep {sweep_id}, {len(grid)} combinations, "
            f"{args.workers} worker(s), {elapsed:.1f}s; ranked by {args.objective}"
        )
        print(head)
        print(results_table(best, names, args.objective))
        if args.report:
            print(f"report: {args.report}")
    return 1 if any("error" in r for r in results) else 0


def results_table(results: list[dict[str, Any]], names: list[str], objective: str) -> str:
    """Ranked results, one row per combination; failures last with their error."""
    headers = ["#", *names, objective, "return", "max dd", "trades", "run"]
    body = []
    failures = []
    for i, r in enumerate(results, 1):
        values = [_value(r["params"][n]) for n in names]
        if "error" in r:
            failures.append(f"  {', '.join(f'{n}={v}' for n, v in zip(names, values, strict=True))}: {r['error']}")
            continue
        body.append(
            [
                str(i),
                *values,
                num(r.get(objective)),
                pct(r.get("return_pct")),
                f"{r.get('max_drawdown_pct', 0):.2f}%",
                str(r.get("trades", 0)),
                r["run_id"],
            ]
        )
    out = table(headers, body)
    if failures:
        out += "\nfailed:\n" + "\n".join(failures)
    return out


def _value(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _progress(total: int) -> Any:
    finished = 0

    def done(_: int, result: dict[str, Any]) -> None:
        nonlocal finished
        finished += 1
        params = ", ".join(f"{k}={_value(v)}" for k, v in result["params"].items())
        outcome = "failed" if "error" in result else f"sharpe {num(result.get('sharpe'))}"
        print(f"[{finished}/{total}] {params}: {outcome}", file=sys.stderr)

    return done
