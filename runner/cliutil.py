"""Small helpers the commands share: loading a bot, parsing times and data bindings, formatting."""

from __future__ import annotations

import argparse
import os
import re
import sys
from datetime import UTC, datetime
from typing import Any

from runner.compile import CompiledBot, compile_file
from runner.durations import format_time
from runner.errors import ConfigError, ConfigIssue
from runner.spec import STEP_ID_PATTERN

STEP_ID = re.compile(STEP_ID_PATTERN)


class UsageError(Exception):
    """Wrong command-line input: printed and exit code 2."""


def load_bot(path: str, risk: str | None = None) -> CompiledBot | None:
    """Compile a bot file (with the house rules of the risk file ``risk``), printing its problems (and
    returning None) when it does not compile."""
    bots = load_bots([path], risk)
    return bots[0] if bots else None


def load_bots(paths: list[str], risk: str | None = None) -> list[CompiledBot] | None:
    """Compile bot files, each with the house rules of the risk file ``risk``; prints every problem once (a
    problem of the risk file once, however many bots meet it) and returns None if any file has one."""
    rules = None
    if risk is not None:
        from runner.risk import load_risk

        try:
            rules = load_risk(risk)
        except ConfigError as exc:
            _print_issues(exc.issues)
            return None
        except OSError as exc:
            raise UsageError(f"risk file {risk}: {exc.strerror}") from None
    bots: list[CompiledBot] = []
    issues: list[ConfigIssue] = []
    for path in paths:
        try:
            bots.append(compile_file(path, risk=rules))
        except ConfigError as exc:
            issues += exc.issues
        except OSError as exc:
            raise UsageError(f"{path}: {exc.strerror}") from None
    _print_issues(issues)
    return None if issues else bots


def _print_issues(issues: list[ConfigIssue]) -> None:
    for issue in dict.fromkeys(issues):
        print(issue, file=sys.stderr)


def house_rule_ids(snapshot: dict[str, Any]) -> list[str]:
    """The ids of the house rules a deployment runs, in order (none without a risk file)."""
    return [step["id"] for step in snapshot.get("risk", ())]


def house_rules_line(bot: CompiledBot) -> str:
    """Which house rules a bot runs under, for the operator: empty without a risk file."""
    ids = house_rule_ids(bot.snapshot)
    return f"house rules of {bot.risk_file}: {', '.join(ids)}" if ids else ""


def parse_time(text: str | None) -> int | None:
    """Milliseconds since the epoch from ``2025-05-10``, ``2025-05-10T12:00`` (UTC) or a number of ms."""
    if text is None:
        return None
    if text.isdigit():
        return int(text)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(f"'{text}' is not a time; write 2025-05-10, 2025-05-10T12:00 or milliseconds") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


NO_DATA = "none"
"""The --data path of a symbol that has no data in this run."""


def parse_data(bot: CompiledBot, values: list[str], strict: bool = True, flag: str = "--data") -> dict[str, str]:
    """``--data FILE`` for a one-symbol bot, ``--data SYMBOL=FILE`` per symbol, or ``--data STEP=PATH`` for a
    source that reads all its symbols from one place (source.subnets); bindings for symbols or steps the bot
    does not have are ignored unless strict. Paths are made absolute, so what a run records still names its
    files from any directory. ``SYMBOL=none`` runs without that symbol's data: it never has a price, so nothing
    can trade it (the recorded data says so)."""
    data: dict[str, str] = {}
    symbols = list(bot.spec.symbols)
    steps = {step.id for step in bot.steps if step.kind == "source"}
    for value in values:
        symbol, sep, path = value.partition("=")
        if sep and STEP_ID.match(symbol):
            if symbol in steps:
                data[symbol] = os.path.abspath(path)
            elif strict:
                raise UsageError(f"{flag} {value}: {bot.spec.bot} has no source step '{symbol}'")
        elif sep and "/" in symbol:
            if symbol in symbols:
                data[symbol] = NO_DATA if path == NO_DATA else os.path.abspath(path)
            elif strict:
                raise UsageError(f"{flag} {value}: {symbol} is not one of the bot's symbols ({', '.join(symbols)})")
        elif len(symbols) == 1:
            data[symbols[0]] = os.path.abspath(value)
        else:
            raise UsageError(
                f"{bot.spec.bot} trades {len(symbols)} symbols: give {flag} SYMBOL=FILE for each "
                "(or STEP=PATH for a source that reads them all from one place)"
            )
    return data


def cost_options(bot: CompiledBot, args: argparse.Namespace) -> dict[str, Any]:
    """The executor overrides of the history options (see cli._history_options), as RunOptions keywords."""
    return {
        "fee_bps": args.fee_bps,
        "slippage_bps": args.slippage_bps,
        "entry_delay": args.entry_delay,
        "funding": parse_data(bot, args.funding, flag="--funding"),
    }


def price(value: float) -> str:
    """A price with thousands separators and enough digits for its size: 104,791.10, 0.0019842."""
    if abs(value) >= 1:
        return f"{value:,.2f}"
    return f"{value:.5g}"


fmt_time = format_time
"""A cycle time as UTC text (``runner.durations.format_time``, under the name the commands use)."""


def table(headers: list[str], rows: list[list[str]]) -> str:
    """Plain aligned columns; numbers (cells starting with a digit, sign or dot) align right."""
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(headers)]

    def cell(text: str, width: int) -> str:
        try:
            float(text.rstrip("%").replace(",", ""))
        except ValueError:
            return text.ljust(width)
        return text.rjust(width)

    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines += ["  ".join(cell(c, w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return "\n".join(lines)


def pct(value: object) -> str:
    return f"{value:+.2f}%" if isinstance(value, int | float) else "-"


def num(value: object, digits: int = 2) -> str:
    return f"{value:.{digits}f}" if isinstance(value, int | float) else "-"
