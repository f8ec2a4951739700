"""``runner compare RUN_A RUN_B``: two runs trade by trade, a summary and a verdict (see runner.compare)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

from runner.cliutil import fmt_time, table

if TYPE_CHECKING:
    from runner.compare import Comparison, Pair, SideStats
    from runner.trades import Trade

COLUMNS = [
    "match", "symbol", "side", "entry A", "entry B", "entry diff", "exit diff", "entry bps", "exit bps", "size",
    "PnL A", "PnL B", "PnL diff",
]  # fmt: skip


def run(args: argparse.Namespace) -> int:
    from runner.compare import CompareError, compare_runs, parse_tolerance
    from runner.store import Store

    try:
        tolerance = None if args.tolerance is None else parse_tolerance(args.tolerance)
    except ValueError as exc:
        print(f"runner compare: --tolerance: {exc}", file=sys.stderr)
        return 2
    if args.limit < 0:
        print("runner compare: --limit must be 0 or more", file=sys.stderr)
        return 2
    store = Store(args.db)
    try:
        result = compare_runs(store, args.run_a, args.run_b, tolerance)
    except CompareError as exc:
        print(f"runner compare: {exc}", file=sys.stderr)
        return 1
    finally:
        store.close()
    if args.format == "json":
        print(json.dumps(result.record()))
    else:
        print(render(result, args.limit))
    return 0


def render(c: Comparison, limit: int) -> str:
    """The text report: the runs, the summary and verdict, then the largest divergences."""
    from runner.compare import MODERATE_PNL_PCT, MODERATE_WIN_POINTS, SIGNIFICANT_PNL_PCT, SIGNIFICANT_WIN_POINTS

    ref = "A" if c.reference == "a" else "B"
    quote = c.a.quote if c.a.quote == c.b.quote else ""
    lines = [
        f"A  {c.a.id}  {c.a.deployment}  {c.a.kind}" + ("" if c.a.status == "finished" else f" ({c.a.status})"),
        f"B  {c.b.id}  {c.b.deployment}  {c.b.kind}" + ("" if c.b.status == "finished" else f" ({c.b.status})"),
        f"shared window {fmt_time(c.start)} to {fmt_time(c.end)}   pairing tolerance {span(c.tolerance_ms)}",
        "",
        *_summary_rows(c.stats_a, c.stats_b, quote),
        "",
        f"  paired {len(c.pairs)}   only in A {len(c.only_a)}   only in B {len(c.only_b)}",
        f"  entry price |diff| mean {c.entry_bps_mean:.2f} bps, max {c.entry_bps_max:.2f} bps   "
        f"entry time |diff| mean {span(round(c.entry_ms_mean))}",
        f"  PnL divergence B - A {c.pnl_divergence:+,.2f}{' ' + quote if quote else ''} "
        f"({c.pnl_divergence_pct:.1f}% of {ref}'s PnL, the reference)   "
        f"win rate diff {c.win_rate_delta:.1f} points",
        f"verdict {c.verdict}",
        f"  SIGNIFICANT if the PnL divergence > {SIGNIFICANT_PNL_PCT:g}% of max(|{ref}'s PnL|, 1) or the win rate "
        f"diff > {SIGNIFICANT_WIN_POINTS:g} points; MODERATE above {MODERATE_PNL_PCT:g}% or "
        f"{MODERATE_WIN_POINTS:g} points",
    ]
    rows = _divergences(c)
    if not rows:
        lines += [
            "",
            "every trade is paired and none differs" if c.pairs else "neither run traded in the shared window",
        ]
    elif rows and limit:
        shown = rows[:limit]
        lines += [
            "",
            f"largest divergences ({len(shown)} of {len(rows):,} pairs that differ and unpaired trades; B against A, "
            "bps > 0: "
            "B's price worse; PnL of open trades in brackets; blank: does not apply)",
            table(COLUMNS, [cells for _, cells in shown]),
        ]
    return "\n".join(lines)


def _summary_rows(a: SideStats, b: SideStats, quote: str) -> list[str]:
    unit = f" ({quote})" if quote else ""
    rows = [
        ("", "A", "B"),
        ("trades", f"{a.trades:,}", f"{b.trades:,}"),
        ("closed in window", f"{a.closed:,}", f"{b.closed:,}"),
        (f"net PnL{unit}", f"{a.pnl:,.2f}", f"{b.pnl:,.2f}"),
        (f"avg PnL{unit}", f"{a.avg_pnl:,.2f}", f"{b.avg_pnl:,.2f}"),
        ("win rate", f"{a.win_rate_pct:.1f}%", f"{b.win_rate_pct:.1f}%"),
        ("avg hold", _hold(a.avg_hold_ms), _hold(b.avg_hold_ms)),
    ]
    width = max(len(cell) for row in rows for cell in row[1:])
    return [f"  {label:<18}{x:>{width}}  {y:>{width}}".rstrip() for label, x, y in rows]


def _divergences(c: Comparison) -> list[tuple[tuple[float, float], list[str]]]:
    """Each pair that differs and each unpaired trade as a table row, largest PnL effect first, then
    largest entry price gap."""
    rows = [((abs(p.pnl or 0.0), abs(p.entry_bps)), _pair_cells(p)) for p in c.pairs if _differs(p)]
    rows += [((abs(_pnl(t)), 0.0), _lone_cells(t, "only A")) for t in c.only_a]
    rows += [((abs(_pnl(t)), 0.0), _lone_cells(t, "only B")) for t in c.only_b]
    return sorted(rows, key=lambda row: row[0], reverse=True)


def _pair_cells(p: Pair) -> list[str]:
    exit_bps = "" if p.exit_bps is None else f"{p.exit_bps:+.2f}"
    pnl = "" if p.pnl is None else f"{p.pnl:+,.2f}"
    return [
        "paired", p.a.symbol, p.a.side, fmt_time(p.a.entry_t), fmt_time(p.b.entry_t), _signed_span(p.entry_ms),
        "" if p.exit_ms is None else _signed_span(p.exit_ms),
        f"{p.entry_bps:+.2f}", exit_bps, f"{p.size_pct:+.2f}%", _trade_pnl(p.a), _trade_pnl(p.b), pnl,
    ]  # fmt: skip


def _differs(p: Pair) -> bool:
    gaps = (p.entry_bps, p.exit_bps or 0.0, p.size_pct, p.pnl or 0.0)
    return p.entry_ms != 0 or (p.exit_ms or 0) != 0 or any(abs(gap) > 1e-9 for gap in gaps)


def _lone_cells(t: Trade, match: str) -> list[str]:
    entry = fmt_time(t.entry_t)
    a, b = (entry, "-") if match == "only A" else ("-", entry)
    pa, pb = (_trade_pnl(t), "") if match == "only A" else ("", _trade_pnl(t))
    return [match, t.symbol, t.side, a, b, "", "", "", "", "", pa, pb, ""]


def _pnl(t: Trade) -> float:
    return t.pnl if t.exit_t is not None else 0.0


def _trade_pnl(t: Trade) -> str:
    return f"{t.pnl:,.2f}" if t.exit_t is not None else f"({t.pnl:,.2f})"


def _hold(ms: float | None) -> str:
    return "-" if ms is None else span(round(ms))


def _signed_span(ms: int) -> str:
    return span(ms) if ms == 0 else ("+" if ms > 0 else "-") + span(abs(ms))


def span(ms: int) -> str:
    """A duration to the two largest units: ``0s``, ``45s``, ``12m 30s``, ``3h 05m``, ``2d 04h``."""
    seconds = abs(ms) // 1000
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours:02d}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {secs:02d}s" if secs else f"{minutes}m"
    return f"{secs}s" if secs or not ms % 1000 else f"{abs(ms)}ms"
