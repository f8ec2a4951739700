"""``runner walk-forward BOT --data FILE --train 30d --test 7d --grid ...``: choose on train, score out of sample."""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from typing import Any

from runner.cliutil import UsageError, fmt_time, num, parse_time, pct, table
from runner.commands.sweep import grid_job


def run(args: argparse.Namespace) -> int:
    from runner.durations import parse_duration
    from runner.sweep import Task
    from runner.walkforward import walk_forward, windows

    try:
        job = grid_job(args)
        if job is None:
            return 1
        bot, axes, grid, text, data, problems = job.bot, job.axes, job.grid, job.text, job.data, job.problems
        train, test = _duration("--train", args.train, parse_duration), _duration("--test", args.test, parse_duration)
        step = _duration("--step", args.step, parse_duration) if args.step else test
        first, last = _span(data, bot.every * 1000)
        first = max(first, parse_time(args.start) or first)
        last = min(last, parse_time(args.end) or last)
        spans = windows(first, last, train, test, step)
    except UsageError as exc:
        print(f"runner walk-forward: {exc}", file=sys.stderr)
        return 2
    if problems:
        print("\n".join(problems), file=sys.stderr)
        return 1
    if not spans:
        print(
            f"runner walk-forward: the data ({fmt_time(first)} to {fmt_time(last)}) is shorter than one train + test "
            f"window ({args.train} + {args.test}); shorten them or give more data",
            file=sys.stderr,
        )
        return 2
    label = uuid.uuid4().hex[:8]
    base = Task(text, args.bot, {}, data, args.db, costs=job.costs)
    started = time.perf_counter()
    done = _progress(len(spans) * (len(grid) + 1)) if sys.stderr.isatty() else None
    result = walk_forward(base, grid, spans, args.objective, args.workers, label, done)
    elapsed = time.perf_counter() - started
    summary = {"walk_forward": label, "elapsed_s": round(elapsed, 3), **result.summary()}
    rows = [
        {
            "window": w.window.index,
            "train": [w.window.train_start, w.window.train_end],
            "test": [w.window.test_start, w.window.test_end],
            "params": w.chosen["params"] if w.chosen else None,
            "in_sample": w.chosen,
            "out_of_sample": w.test,
        }
        for w in result.windows
    ]
    if args.format == "json":
        print(json.dumps({**summary, "windows": rows}, default=str))
        return 0
    names = [a.name for a in axes]
    print(
        f"{bot.spec.bot} {bot.spec.version}: walk-forward {label}, {len(spans)} windows of {args.train} train + "
        f"{args.test} test, {len(grid)} combinations each, {elapsed:.1f}s; chosen by {args.objective}"
    )
    print(_table(rows, names, args.objective))
    s = summary
    print(
        f"\nmean {args.objective}: in sample {num(s['mean_in_sample'])}, out of sample {num(s['mean_out_of_sample'])}; "
        f"overfitting ratio {s['overfit_ratio']:.2f}\n"
        f"out-of-sample return {pct(s['oos_return_pct'])} compounded over {s['scored']} windows, "
        f"{s['oos_profitable_pct']:.0f}% of them profitable, {s['oos_trades']} trades; "
        f"{s['distinct_choices']} distinct parameter choice(s)"
    )
    return 0


def _duration(flag: str, text: str, parse: Any) -> int:
    try:
        return int(parse(text)) * 1000
    except ValueError as exc:
        raise UsageError(f"{flag} {text}: {exc}") from None


def _span(data: dict[str, str], every_ms: int) -> tuple[int, int]:
    """The cycle times all the data files cover: [latest first close, earliest last close]."""
    from blocks.sources.candle_files import load_candles
    from runner.errors import DataError

    firsts, lasts = [], []
    for path in data.values():
        try:
            series = load_candles(path)
        except DataError as exc:
            raise UsageError(str(exc)) from None
        if not len(series):
            raise UsageError(f"{path}: no candles")
        firsts.append(series.time[0] + series.timeframe_ms)
        lasts.append(series.time[-1] + series.timeframe_ms)
    return max(firsts), min(lasts)


def _table(rows: list[dict[str, Any]], names: list[str], objective: str) -> str:
    body = []
    for r in rows:
        params = r["params"] or {}
        ins, oos = r["in_sample"] or {}, r["out_of_sample"] or {}
        failed = "error" in oos or not oos
        body.append(
            [
                str(r["window"] + 1),
                f"{fmt_time(r['train'][0])[:10]} .. {fmt_time(r['train'][1] - 1)[:10]}",
                f"{fmt_time(r['test'][0])[:10]} .. {fmt_time(r['test'][1] - 1)[:10]}",
                *[str(params.get(n, "-")) for n in names],
                num(ins.get(objective)) if ins else "-",
                "failed" if failed else num(oos.get(objective)),
                "-" if failed else pct(oos.get("return_pct")),
                "-" if failed else str(oos.get("trades", 0)),
            ]
        )
    headers = ["#", "train", "test", *names, f"IS {objective}", f"OOS {objective}", "OOS return", "trades"]
    return table(headers, body)


def _progress(total: int) -> Any:
    finished = 0

    def done(_: int, result: dict[str, Any]) -> None:
        nonlocal finished
        finished += 1
        print(f"\r[{finished}/{total}] backtests", end="" if finished < total else "\n", file=sys.stderr)

    return done
