"""The ``runner`` command: argument parsing and dispatch only. Commands import what they need lazily,
so start-up stays fast."""

from __future__ import annotations

import argparse
import os
import sys
from importlib import import_module

from runner import __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="runner", description="Run trading bots described as YAML pipelines of blocks."
    )
    parser.add_argument("--version", action="version", version=f"bot-runner {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("validate", help="compile bot files and report every problem with file:line:col")
    p.add_argument("paths", nargs="*", metavar="PATH", help="bot files, directories or glob patterns")
    _risk_option(p, "check this risk file, and every bot with its house rules")
    p.add_argument("--format", choices=("text", "json"), default="text", help="output format (default: text)")

    p = sub.add_parser("blocks", help="list the installed blocks, or document one")
    p.add_argument("name", nargs="?", help="a block type, e.g. indicator.rsi")

    p = sub.add_parser("schema", help="write the JSON Schemas of the bot file and every block")
    p.add_argument("--out", default="schemas", help="directory to write to (default: schemas)")
    p.add_argument("--check", action="store_true", help="only check the files are current; exit 1 if stale")

    p = sub.add_parser("backtest", help="replay history through a bot and summarise the run")
    p.add_argument("bot", metavar="BOT", help="a bot file")
    _history_options(p)
    _risk_option(p, "house rules: the validator steps of this risk file run after the bot's own")
    _llm_option(p, "cached")
    p.add_argument("--report", metavar="FILE", help="also write the run's self-contained HTML report")
    p.add_argument(
        "--force",
        action="store_true",
        help="breakers that allow it (losing_weeks) record their trip but do not stop the bot",
    )
    p.add_argument("--plot", metavar="FILE", help="also write its equity and drawdown chart as a PNG")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.add_argument("--db", help="the store (default: $RUNNER_DB or ./runner.db)")

    p = sub.add_parser("sweep", help="backtest every combination of a parameter grid, in parallel processes")
    p.add_argument("bot", metavar="BOT", help="a bot file")
    _history_options(p)
    _grid_option(p, "values to try for a step's field, e.g. ema_fast.period=10,20,30; repeat for more axes")
    _objective_options(p)
    p.add_argument("--report", metavar="FILE", help="write an HTML report (a heat map when two parameters vary)")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.add_argument("--db", help="the store (default: $RUNNER_DB or ./runner.db)")

    p = sub.add_parser(
        "walk-forward", help="choose parameters on rolling training windows and score them on the window after"
    )
    p.add_argument("bot", metavar="BOT", help="a bot file")
    _history_options(p)
    p.add_argument("--train", required=True, metavar="DURATION", help="training window, e.g. 30d")
    p.add_argument("--test", required=True, metavar="DURATION", help="out-of-sample window after it, e.g. 7d")
    p.add_argument("--step", metavar="DURATION", help="how far windows roll (default: the test window)")
    _grid_option(p, "values to choose from on each training window; repeat for more axes")
    _objective_options(p)
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.add_argument("--db", help="the store (default: $RUNNER_DB or ./runner.db)")

    p = sub.add_parser(
        "check-lookahead", help="prove a bot decides the same on a prefix of the data as on the whole of it"
    )
    p.add_argument("bot", metavar="BOT", help="a bot file")
    _history_options(p)
    p.add_argument("--cuts", type=int, default=4, help="cut points spread over the data (default 4)")
    p.add_argument("--at", action="append", default=[], metavar="TIME", help="cut after this bar close instead")
    p.add_argument("--format", choices=("text", "json"), default="text")

    p = sub.add_parser("run", help="paper-trade bots over replayed candles, posting every decision")
    p.add_argument("bots", nargs="+", metavar="BOT", help="bot files; several run side by side")
    p.add_argument("--replay", action="append", metavar="FILE", help="candles to replay; SYMBOL=FILE per symbol")
    p.add_argument(
        "--funding",
        action="append",
        default=[],
        metavar="FILE",
        help="funding history to replay for a perp; SYMBOL=FILE per symbol",
    )
    p.add_argument("--speed", type=float, default=0, help="replay speed: 60 plays a minute per second; 0 = no waiting")
    p.add_argument("--from", dest="start", metavar="TIME", help="first cycle that trades (UTC)")
    p.add_argument("--until", metavar="TIME", help="stop after the cycle at this time (UTC)")
    _risk_option(p, "house rules: the validator steps of this risk file run in every bot, after its own")
    _llm_option(p, "live")
    p.add_argument("--once", action="store_true", help="run one cycle, record it and exit")
    p.add_argument("--quiet", action="store_true", help="print only the summary")
    p.add_argument(
        "--force",
        action="store_true",
        help="breakers that allow it (losing_weeks) record their trip but do not stop the bot",
    )
    p.add_argument("--db", help="the store (default: $RUNNER_DB or ./runner.db)")

    for name, text in (("versions", "list the deployed versions of a bot"),):
        p = sub.add_parser(name, help=text)
        p.add_argument("bot", metavar="BOT", help="the bot's name (as in its file's bot:)")
        p.add_argument("--db", help="the store")

    p = sub.add_parser("diff", help="what changed between two deployed versions of a bot")
    p.add_argument("bot", metavar="BOT")
    p.add_argument("old", metavar="V1")
    p.add_argument("new", metavar="V2")
    p.add_argument("--db", help="the store")

    p = sub.add_parser("runs", help="list runs, newest first")
    p.add_argument("bot", nargs="?", metavar="BOT")
    p.add_argument("--limit", type=int, default=20)
    p.add_argument("--db", help="the store")

    p = sub.add_parser("leaderboard", help="compare deployments by their latest finished run, per run kind")
    p.add_argument("--kind", choices=("backtest", "paper", "live"), help="only this run kind")
    p.add_argument("--db", help="the store")

    p = sub.add_parser("explain", help="walk an order back to its intent, verdicts, decision and deployment")
    p.add_argument("order", metavar="ORDER_ID", nargs="?", help="an order's client id (br-...)")
    p.add_argument("--last", action="store_true", help="explain the newest filled order of the latest run")
    p.add_argument("--bot", help="with --last: of this bot's latest run")
    p.add_argument("--run", help="the run, when several runs have this order id")
    p.add_argument("--db", help="the store")

    p = sub.add_parser("compare", help="compare two runs trade by trade, e.g. a paper run against its backtest")
    p.add_argument("run_a", metavar="RUN_A", help="a run id, or a unique prefix of one")
    p.add_argument("run_b", metavar="RUN_B", help="the run to compare with it")
    p.add_argument("--format", choices=("text", "json"), default="text", help="output format (default: text)")
    p.add_argument("--limit", type=int, default=20, help="trades listed in the text report (default: 20)")
    p.add_argument(
        "--tolerance",
        metavar="DURATION",
        help="how far apart two entries may be to pair, e.g. 5m or 0 (default: one bar of the coarser run)",
    )
    p.add_argument("--db", help="the store")

    p = sub.add_parser("report", help="write a run's report: one self-contained HTML page, and an equity PNG")
    p.add_argument("run_id", metavar="RUN_ID", help="a run id, as `runner runs` lists them")
    p.add_argument("--out", metavar="FILE", help="the HTML file (default: report-RUN_ID.html)")
    p.add_argument("--plot", metavar="FILE", help="also write the equity and drawdown chart as a PNG")
    p.add_argument("--db", help="the store (default: $RUNNER_DB or ./runner.db)")

    p = sub.add_parser("render", help="print the prompts an LLM bot would send at a time, without asking a model")
    p.add_argument("bot", metavar="BOT", help="a bot file with a planner.llm step")
    p.add_argument(
        "--data",
        action="append",
        required=True,
        metavar="FILE",
        help="candles to replay up to that time; SYMBOL=FILE for each symbol of a multi-symbol bot",
    )
    p.add_argument("--at", metavar="TIME", help="the cycle to render (UTC; default: the last one of the data)")
    p.add_argument(
        "--funding", action="append", default=[], metavar="FILE", help="funding history of a perp; SYMBOL=FILE"
    )
    p.add_argument("--no-tokens", dest="tokens", action="store_false", help="skip the token count (loads litellm)")
    p.add_argument("--format", choices=("text", "json"), default="text")

    p = sub.add_parser("decisions", help="list the LLM decisions of a bot's latest run: model, tokens, cost, outcome")
    p.add_argument("bot", metavar="BOT", help="the bot's name (as in its file's bot:)")
    p.add_argument("--run", help="this run (an id or a unique prefix) instead of the latest")
    p.add_argument("--limit", type=int, default=50, help="the last N decisions (default 50; 0: all)")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.add_argument("--db", help="the store (default: $RUNNER_DB or ./runner.db)")

    p = sub.add_parser(
        "events", help="list what happened to a bot's latest run: breaker trips, halts, kills, failures, skips"
    )
    p.add_argument("bot", metavar="BOT", help="the bot's name (as in its file's bot:)")
    p.add_argument("--run", help="this run (an id or a unique prefix) instead of the latest")
    p.add_argument("--kind", action="append", metavar="KIND", help="only events of this kind, e.g. breaker, halt")
    p.add_argument("--limit", type=int, default=100, help="the last N events (default 100; 0: all)")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.add_argument("--db", help="the store (default: $RUNNER_DB or ./runner.db)")

    for name, text in (
        ("pause", "stop a bot's planners at its next cycle (positions and open orders stay)"),
        ("resume", "let a paused bot plan again"),
        ("kill", "cancel a bot's open orders, close its perps at market and stop it; a second kill does nothing"),
    ):
        p = sub.add_parser(name, help=text)
        p.add_argument("bot", metavar="BOT", help="the bot's name (as in its file's bot:)")
        if name == "kill":
            p.add_argument("--liquidate-spot", action="store_true", help="also sell spot holdings for the quote asset")
        p.add_argument("--db", help="the store (default: $RUNNER_DB or ./runner.db)")

    p = sub.add_parser("snapshot", help="print the resolved config of a bot file and its config_id")
    p.add_argument("path", metavar="FILE", help="a bot file")
    _risk_option(p, "with the house rules of this risk file, as run and backtest would deploy it")
    return parser


def _history_options(p: argparse.ArgumentParser) -> None:
    """The options of every command that replays history: data, window and cost overrides."""
    p.add_argument(
        "--data",
        action="append",
        required=True,
        metavar="FILE",
        help="candles to replay (CSV, gzip or plain); SYMBOL=FILE for each symbol of a multi-symbol bot "
        "(SYMBOL=none: that symbol has no data in this run, so it is never priced or traded)",
    )
    p.add_argument("--from", dest="start", metavar="TIME", help="first cycle that trades (UTC), e.g. 2025-05-10")
    p.add_argument("--to", dest="end", metavar="TIME", help="last cycle (UTC)")
    p.add_argument("--fee-bps", type=float, help="override the executor's taker fee")
    p.add_argument("--slippage-bps", type=float, help="override the executor's slippage")
    p.add_argument(
        "--entry-delay",
        type=_bars,
        metavar="BARS",
        help="orders wait this many more bars before they meet the market (default 0: the next bar's open)",
    )
    p.add_argument(
        "--funding",
        action="append",
        default=[],
        metavar="FILE",
        help="funding history of a perp; SYMBOL=FILE per symbol",
    )


def _risk_option(p: argparse.ArgumentParser, text: str) -> None:
    p.add_argument("--risk", metavar="FILE", help=f"{text} (default: $RUNNER_RISK)")


def _llm_option(p: argparse.ArgumentParser, default: str) -> None:
    p.add_argument(
        "--llm",
        choices=("live", "cached", "replay"),
        help="how LLM planners get replies: live asks the model, cached asks only for prompts it has no recorded "
        f"reply to, replay uses recorded replies only and reports misses (default: {default})",
    )


def _grid_option(p: argparse.ArgumentParser, text: str) -> None:
    p.add_argument("--grid", action="append", required=True, metavar="STEP.FIELD=V1,V2", help=text)


def _objective_options(p: argparse.ArgumentParser) -> None:
    from runner.objectives import OBJECTIVES

    p.add_argument(
        "--objective",
        choices=tuple(OBJECTIVES),
        default="sharpe",
        help="what ranks the combinations (default: sharpe; max_drawdown_pct ranks lowest first)",
    )
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="processes (default: one per core)")


def _bars(text: str) -> int:
    try:
        bars = int(text)
    except ValueError:
        bars = -1
    if not 0 <= bars <= 10_000:
        raise argparse.ArgumentTypeError(f"expected a whole number of bars from 0 to 10000, got {text!r}")
    return bars


def main(argv: list[str] | None = None) -> int:
    # pydantic otherwise scans every installed package's entry points for plugins we never use.
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    args = build_parser().parse_args(argv)
    module = import_module(f"runner.commands.{args.command.replace('-', '_')}")
    try:
        code: int = module.run(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    return code


if __name__ == "__main__":
    sys.exit(main())
