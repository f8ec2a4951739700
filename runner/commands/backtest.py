"""``runner backtest BOT --data FILE``: replay history through the bot's pipeline, record it, summarise."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from runner.cliutil import UsageError, cost_options, house_rules_line, load_bot, parse_data, parse_time
from runner.deployments import DeploymentConflict
from runner.errors import BlockError, DataError
from runner.risk import risk_file
from runner.runs import RunOptions, backtest
from runner.store import Store


def run(args: argparse.Namespace) -> int:
    try:
        bot = load_bot(args.bot, risk_file(args.risk))
        if bot is None:
            return 1
        options = RunOptions(
            parse_data(bot, args.data),
            parse_time(args.start),
            parse_time(args.end),
            llm=args.llm,
            force=args.force,
            **cost_options(bot, args),
        )
    except UsageError as exc:
        print(f"runner backtest: {exc}", file=sys.stderr)
        return 2
    store = Store(args.db)
    try:
        try:
            with _progress(args.format == "text" and sys.stderr.isatty()) as progress:
                summary = backtest(store, bot, options, progress)
        except (DataError, BlockError, DeploymentConflict) as exc:
            print(f"runner backtest: {exc}", file=sys.stderr)
            return 1
        if args.format == "json":
            print(json.dumps(summary, default=str), flush=True)
        else:
            text = render(bot.spec.bot, bot.spec.version, bot.spec.account.quote, summary, house_rules_line(bot))
            print(text, flush=True)
        if args.report or args.plot:
            _write_report(store, summary["run_id"], args.report, args.plot)
    finally:
        store.close()
    return 0


def _write_report(store: Store, run_id: str, html: str | None, png: str | None) -> None:
    """The report and plot of the run just recorded; a failure to write them is said, never hides the run."""
    from runner.report import ReportError, write_plot, write_report

    try:
        if html:
            write_report(store, run_id, html, png)
        elif png:
            write_plot(store, run_id, png)
    except (ReportError, OSError) as exc:
        print(f"runner backtest: the run is recorded, but its report was not written: {exc}", file=sys.stderr)
    else:
        for path in (html, png):
            if path:
                print(f"wrote {path}", file=sys.stderr)


def render(bot: str, version: str, quote: str, s: dict[str, Any], house: str = "") -> str:
    """The text summary of a backtest (``house``: the house rules it ran under, if any)."""
    rate = s["bars"] / s["elapsed_s"] if s["elapsed_s"] else 0
    return "\n".join(
        [
            f"{bot} {version}  backtest {s['run_id']}  config {s['config_id'][:12]}",
            *([f"  {house}"] if house else []),
            f"  bars          {s['bars']:>12,}",
            f"  trades        {s['trades']:>12,}   win rate {s['win_rate_pct']:.1f}%   "
            f"profit factor {s['profit_factor']:.2f}",
            f"  avg win/loss  {s['avg_win']:>12,.2f} / {s['avg_loss']:,.2f}   expectancy {s['expectancy']:,.2f}",
            f"  return        {s['return_pct']:>11.2f}%   final equity {s['final_equity']:,.2f} {quote}",
            f"  annualised    {s['annual_return_pct']:>11.2f}%   calmar {s['calmar']:.2f}   "
            f"exposure {s['exposure_pct']:.1f}%",
            f"  max drawdown  {s['max_drawdown_pct']:>11.2f}%   lasting {s['max_drawdown_duration_days']:.1f} days   "
            f"sharpe {s['sharpe']:.2f}   sortino {s['sortino']:.2f}",
            f"  fees          {s['fees']:>12,.2f}   orders {s['orders']:,}   fills {s['fills']:,}",
            *(
                [f"  funding paid  {s['funding']:>12,.2f}   liquidations {s['liquidations']}"]
                if s.get("funding") or s.get("liquidations")
                else []
            ),
            *([llm_line(s["llm"])] if s.get("llm") else []),
            *([f"  halted        {s['halted']}"] if s.get("halted") else []),
            f"  elapsed       {s['elapsed_s']:>11.2f}s   {rate:,.0f} bars/s",
        ]
    )


def llm_line(llm: dict[str, Any]) -> str:
    """The LLM planners' calls, cache use, refusals and cost in one line."""
    misses = f"   MISSES {llm['misses']:,} (no recorded reply: rejected)" if llm["misses"] else ""
    return (
        f"  llm calls     {llm['calls']:>12,}   cached {llm['cached']:,}   invalid {llm['errors']:,}   "
        f"repaired {llm['repaired']:,}   tokens {llm['tokens_in']:,}/{llm['tokens_out']:,}   "
        f"cost ${llm['cost_usd']:.4f}{misses}"
    )


@contextmanager
def _progress(enabled: bool) -> Iterator[Callable[[int, int], None] | None]:
    if not enabled:
        yield None
        return
    from rich.progress import Progress

    with Progress(transient=True) as bar:
        task = bar.add_task("backtest", total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update
