"""``runner check-lookahead BOT --data FILE``: prove the bot decides the same on a prefix of the data."""

from __future__ import annotations

import argparse
import json
import sys
import time

from runner.cliutil import UsageError, cost_options, fmt_time, load_bot, parse_data, parse_time


def run(args: argparse.Namespace) -> int:
    from runner.errors import BlockError, DataError
    from runner.lookahead import check
    from runner.runs import RunOptions

    try:
        bot = load_bot(args.bot)
        if bot is None:
            return 1
        options = RunOptions(
            parse_data(bot, args.data), parse_time(args.start), parse_time(args.end), **cost_options(bot, args)
        )
        at = [t for t in (parse_time(text) for text in args.at) if t is not None]
    except UsageError as exc:
        print(f"runner check-lookahead: {exc}", file=sys.stderr)
        return 2
    started = time.perf_counter()
    try:
        full, cuts = check(bot, options, args.cuts, at)
    except (DataError, BlockError) as exc:
        print(f"runner check-lookahead: {exc}", file=sys.stderr)
        return 1
    elapsed = time.perf_counter() - started
    failed = [c for c in cuts if c.problems]
    if args.format == "json":
        record = {
            "ok": not failed and bool(cuts),
            "cycles": len(full.equity),
            "intents": len(full.intents),
            "fills": len(full.fills),
            "indicators_checked": sorted(full.columns),
            "cuts": [vars(c) for c in cuts],
            "elapsed_s": round(elapsed, 3),
        }
        print(json.dumps(record))
        return 1 if failed or not cuts else 0
    print(
        f"{bot.spec.bot} {bot.spec.version}: {len(full.equity):,} cycles, {len(full.intents):,} intents, "
        f"{len(full.fills):,} fills on the whole data; {len(cuts)} cut(s), {elapsed:.1f}s"
    )
    if not cuts:
        print("too little data to cut: give more bars")
        return 1
    for c in cuts:
        mark = "differs" if c.problems else "identical"
        print(f"  cut after {fmt_time(c.at)}: {c.cycles:,} cycles, {c.intents:,} intents, {c.fills:,} fills  {mark}")
        for problem in c.problems:
            print("    " + problem.replace("\n", "\n    "))
    if full.columns:
        print(f"  batch indicators compared bar by bar: {', '.join(sorted(full.columns))}")
    if failed:
        print("look-ahead found: decisions depend on data after them (see above)")
        return 1
    print("no look-ahead: every decision, fill and equity point before each cut is identical")
    return 0
