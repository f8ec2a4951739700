"""Compare two runs trade by trade: a paper run against a backtest of the same deployment, or two backtests.

Both runs are cut to the time they share. A trade takes part if it entered inside that window; its PnL
counts in the statistics only if it also closed inside it (a trade still open at the window's end has no
final PnL on either side). Trades pair up by symbol and side, nearest entry times first, each trade used
once, when their entries are at most ``tolerance_ms`` apart. The default tolerance is one bar of the
coarser run's cadence: a backtest fills a decision at the next bar's open, a paper or live fill of the same
decision lands in that bar or, late at the boundary, the one after; a trade two bars away is another
decision.

Differences read "B against A". Price differences are in bps of A's price, signed by cost: positive means
B's price was worse (it paid more to buy or got less to sell). The verdict uses perp-bot's thresholds on
the net PnL of the closed trades, measured against the reference run (the backtest when only one run is
a backtest, else A): SIGNIFICANT if |PnL B - PnL A| / max(|PnL ref|, 1) > 50% or the win rates differ by
more than 20 points; MODERATE above 25% or 10 points; otherwise CONSISTENT.
"""

from __future__ import annotations

import json
from bisect import bisect_left, bisect_right
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Literal

from runner.curves import decode_times
from runner.durations import format_time, parse_duration
from runner.store import Store
from runner.trades import Trade, round_trips

Verdict = Literal["CONSISTENT", "MODERATE", "SIGNIFICANT"]
SIGNIFICANT_PNL_PCT, SIGNIFICANT_WIN_POINTS = 50.0, 20.0
MODERATE_PNL_PCT, MODERATE_WIN_POINTS = 25.0, 10.0


class CompareError(Exception):
    """A run that cannot be found or compared; the message says which and why."""


@dataclass(slots=True)
class RunTrades:
    """A run's identity, the span of its cycles and its round trips."""

    id: str
    kind: str
    deployment: str
    every_ms: int
    start: int
    end: int
    trades: list[Trade]
    status: str = "finished"
    quote: str = ""

    def record(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "status": self.status,
            "deployment": self.deployment,
            "every_ms": self.every_ms,
            "start": self.start,
            "end": self.end,
        }


@dataclass(slots=True)
class Pair:
    """The same trade in both runs, and how B's differs from A's."""

    a: Trade
    b: Trade

    @property
    def entry_ms(self) -> int:
        return self.b.entry_t - self.a.entry_t

    @property
    def exit_ms(self) -> int | None:
        return None if self.a.exit_t is None or self.b.exit_t is None else self.b.exit_t - self.a.exit_t

    @property
    def entry_bps(self) -> float:
        return _cost_bps(self.a.side, self.a.entry_price, self.b.entry_price, entry=True)

    @property
    def exit_bps(self) -> float | None:
        if self.a.exit_price is None or self.b.exit_price is None:
            return None
        return _cost_bps(self.a.side, self.a.exit_price, self.b.exit_price, entry=False)

    @property
    def size_pct(self) -> float:
        return (self.b.quantity / self.a.quantity - 1) * 100 if self.a.quantity else 0.0

    @property
    def pnl(self) -> float | None:
        """B's PnL minus A's, when both trades are closed."""
        return None if self.a.exit_t is None or self.b.exit_t is None else self.b.pnl - self.a.pnl

    def record(self) -> dict[str, Any]:
        return {
            "symbol": self.a.symbol,
            "side": self.a.side,
            "entry_ms": self.entry_ms,
            "exit_ms": self.exit_ms,
            "entry_bps": self.entry_bps,
            "exit_bps": self.exit_bps,
            "size_pct": self.size_pct,
            "pnl": self.pnl,
            "a": self.a.record(),
            "b": self.b.record(),
        }


@dataclass(slots=True)
class SideStats:
    """One run's trades inside the shared window."""

    trades: int
    closed: int
    pnl: float
    win_rate_pct: float
    avg_hold_ms: float | None

    @property
    def avg_pnl(self) -> float:
        return self.pnl / self.closed if self.closed else 0.0

    def record(self) -> dict[str, Any]:
        return {
            "trades": self.trades,
            "closed": self.closed,
            "pnl": self.pnl,
            "avg_pnl": self.avg_pnl,
            "win_rate_pct": self.win_rate_pct,
            "avg_hold_ms": self.avg_hold_ms,
        }


@dataclass(slots=True)
class Comparison:
    """Two runs over their shared window: the pairs, the unpaired trades, statistics and a verdict."""

    a: RunTrades
    b: RunTrades
    start: int
    end: int
    tolerance_ms: int
    reference: Literal["a", "b"]
    pairs: list[Pair]
    only_a: list[Trade]
    only_b: list[Trade]
    stats_a: SideStats
    stats_b: SideStats
    verdict: Verdict = "CONSISTENT"
    pnl_divergence: float = 0.0
    """Net PnL of B's closed trades minus A's."""
    pnl_divergence_pct: float = 0.0
    """|pnl_divergence| as a percentage of max(|reference's net PnL|, 1)."""
    win_rate_delta: float = 0.0
    """|win rate B - win rate A|, in points."""
    entry_bps_mean: float = 0.0
    entry_bps_max: float = 0.0
    entry_ms_mean: float = 0.0

    def record(self) -> dict[str, Any]:
        return {
            "a": self.a.record(),
            "b": self.b.record(),
            "window": {"start": self.start, "end": self.end},
            "tolerance_ms": self.tolerance_ms,
            "reference": self.reference,
            "summary": {
                "a": self.stats_a.record(),
                "b": self.stats_b.record(),
                "paired": len(self.pairs),
                "only_a": len(self.only_a),
                "only_b": len(self.only_b),
                "entry_bps_mean_abs": self.entry_bps_mean,
                "entry_bps_max_abs": self.entry_bps_max,
                "entry_ms_mean_abs": self.entry_ms_mean,
                "pnl_divergence": self.pnl_divergence,
                "pnl_divergence_pct": self.pnl_divergence_pct,
                "win_rate_delta_points": self.win_rate_delta,
                "verdict": self.verdict,
            },
            "pairs": [p.record() for p in self.pairs],
            "only_a": [t.record() for t in self.only_a],
            "only_b": [t.record() for t in self.only_b],
        }


def parse_tolerance(text: str) -> int:
    """Milliseconds from ``0`` or a duration such as ``5m``; raises ValueError."""
    return 0 if text.strip() in ("0", "0s") else parse_duration(text) * 1000


def compare_runs(store: Store, ref_a: str, ref_b: str, tolerance_ms: int | None = None) -> Comparison:
    """Load two runs (ids or unique prefixes) and compare them; raises CompareError."""
    return compare(load_run(store, ref_a), load_run(store, ref_b), tolerance_ms)


def compare(a: RunTrades, b: RunTrades, tolerance_ms: int | None = None) -> Comparison:
    """Compare two loaded runs over the time they share; raises CompareError if they share none."""
    start, end = max(a.start, b.start), min(a.end, b.end)
    if start > end:
        raise CompareError(f"runs {a.id} and {b.id} share no time: {_span(a)} and {_span(b)}")
    tolerance = max(a.every_ms, b.every_ms) if tolerance_ms is None else tolerance_ms
    trades_a = [t for t in a.trades if start <= t.entry_t <= end]
    trades_b = [t for t in b.trades if start <= t.entry_t <= end]
    pairs, only_a, only_b = pair_trades(trades_a, trades_b, tolerance)
    stats_a, stats_b = side_stats(trades_a, end), side_stats(trades_b, end)
    reference: Literal["a", "b"] = "b" if b.kind == "backtest" and a.kind != "backtest" else "a"
    base = (stats_a if reference == "a" else stats_b).pnl
    out = Comparison(a, b, start, end, tolerance, reference, pairs, only_a, only_b, stats_a, stats_b)
    out.pnl_divergence = stats_b.pnl - stats_a.pnl
    out.pnl_divergence_pct = abs(out.pnl_divergence) / max(abs(base), 1.0) * 100
    out.win_rate_delta = abs(stats_b.win_rate_pct - stats_a.win_rate_pct)
    out.verdict = verdict(out.pnl_divergence_pct, out.win_rate_delta)
    if pairs:
        out.entry_bps_mean = sum(abs(p.entry_bps) for p in pairs) / len(pairs)
        out.entry_bps_max = max(abs(p.entry_bps) for p in pairs)
        out.entry_ms_mean = sum(abs(p.entry_ms) for p in pairs) / len(pairs)
    return out


def verdict(pnl_pct: float, win_points: float) -> Verdict:
    """perp-bot's rule on the PnL divergence (% of the reference's PnL) and the win-rate gap (points)."""
    if pnl_pct > SIGNIFICANT_PNL_PCT or win_points > SIGNIFICANT_WIN_POINTS:
        return "SIGNIFICANT"
    if pnl_pct > MODERATE_PNL_PCT or win_points > MODERATE_WIN_POINTS:
        return "MODERATE"
    return "CONSISTENT"


def pair_trades(a: list[Trade], b: list[Trade], tolerance_ms: int) -> tuple[list[Pair], list[Trade], list[Trade]]:
    """Pairs of same symbol and side, nearest entries first, each trade once, at most ``tolerance_ms``
    apart (ties go to the earlier trades); then A's and B's unpaired trades. Pairs are in A's entry order."""
    by_key: dict[tuple[str, str], list[tuple[int, int]]] = defaultdict(list)
    for j, y in enumerate(b):
        by_key[y.symbol, y.side].append((y.entry_t, j))
    for entries in by_key.values():
        entries.sort()
    candidates = []
    for i, x in enumerate(a):
        near = by_key.get((x.symbol, x.side), [])
        low = bisect_left(near, (x.entry_t - tolerance_ms, -1))
        high = bisect_right(near, (x.entry_t + tolerance_ms, len(b)))
        candidates += [(abs(t - x.entry_t), x.entry_t, t, i, j) for t, j in near[low:high]]
    candidates.sort()
    match: dict[int, int] = {}
    used: set[int] = set()
    for *_, i, j in candidates:
        if i not in match and j not in used:
            match[i] = j
            used.add(j)
    pairs = [Pair(a[i], b[match[i]]) for i in sorted(match)]
    return pairs, [t for i, t in enumerate(a) if i not in match], [t for j, t in enumerate(b) if j not in used]


def side_stats(trades: list[Trade], end: int) -> SideStats:
    """Counts of the trades; PnL, win rate (PnL > 0 wins) and hold of those closed by ``end``."""
    closed = [t for t in trades if _closed(t, end)]
    holds = [t.hold_ms for t in closed if t.hold_ms is not None]
    return SideStats(
        trades=len(trades),
        closed=len(closed),
        pnl=sum(t.pnl for t in closed),
        win_rate_pct=sum(t.pnl > 0 for t in closed) / len(closed) * 100 if closed else 0.0,
        avg_hold_ms=sum(holds) / len(holds) if holds else None,
    )


def load_run(store: Store, ref: str) -> RunTrades:
    """A run by id or unique id prefix, with its round trips; raises CompareError."""
    found = store.rows(
        "SELECT r.id, r.kind, r.status, r.deployment_id, d.snapshot FROM runs r "
        "JOIN deployments d ON d.id = r.deployment_id WHERE substr(r.id, 1, ?) = ? ORDER BY r.id",
        (len(ref), ref),
    )
    if not found or not ref:
        raise CompareError(f"no run '{ref}' in {store.path}")
    if len(found) > 1 and not any(r["id"] == ref for r in found):
        ids = ", ".join(r["id"] for r in found[:5]) + (", ..." if len(found) > 5 else "")
        raise CompareError(f"run '{ref}' is ambiguous: {len(found)} runs start with it ({ids})")
    row = next((r for r in found if r["id"] == ref), found[0])
    run_id, snapshot = row["id"], json.loads(row["snapshot"])
    span = _cycle_span(store, run_id)
    if span is None:
        raise CompareError(f"run {run_id} ({row['kind']}, {row['status']}) recorded no cycles")
    return RunTrades(
        id=run_id,
        kind=row["kind"],
        deployment=row["deployment_id"],
        every_ms=parse_duration(snapshot["every"]) * 1000,
        start=span[0],
        end=span[1],
        trades=_trades(store, run_id),
        status=row["status"],
        quote=snapshot.get("account", {}).get("quote", ""),
    )


def _trades(store: Store, run_id: str) -> list[Trade]:
    fills = store.rows(
        "SELECT client_id, t, symbol, side, quantity, price, fee, realized_pnl FROM fills "
        "WHERE run_id = ? ORDER BY t, id",
        (run_id,),
    )
    funding = store.rows("SELECT t, symbol, amount FROM ledger WHERE run_id = ? AND kind = 'funding'", (run_id,))
    # why an order was sent: its intent's reason, or the executor's (an exit plan's order has no intent)
    reasons = store.rows(
        "SELECT o.client_id, COALESCE(NULLIF(json_extract(i.payload, '$.reason'), ''), o.reason, '') AS reason "
        "FROM orders o LEFT JOIN intents i ON i.run_id = o.run_id AND i.t = o.t AND i.step_id = o.step_id "
        "AND i.leg = o.leg WHERE o.run_id = ?",
        (run_id,),
    )
    return round_trips(fills, funding, {r["client_id"]: r["reason"] for r in reasons})


def _cycle_span(store: Store, run_id: str) -> tuple[int, int] | None:
    """First and last cycle time: a backtest's equity curve, a paper or live run's cycles."""
    curve = store.one("SELECT times FROM equity_curves WHERE run_id = ?", (run_id,))
    if curve is not None:
        times = decode_times(curve["times"])
        return (times[0], times[-1]) if len(times) else None
    row = store.one("SELECT MIN(t) AS first, MAX(t) AS last FROM cycles WHERE run_id = ?", (run_id,))
    return (row["first"], row["last"]) if row is not None and row["first"] is not None else None


def _closed(trade: Trade, end: int) -> bool:
    return trade.exit_t is not None and trade.exit_t <= end


def _cost_bps(side: str, price_a: float, price_b: float, entry: bool) -> float:
    """How much worse B's price is than A's, in bps of A's: buying (a long's entry, a short's exit) dearer
    or selling cheaper is positive."""
    buys = entry == (side == "long")
    return (price_b - price_a) / price_a * 1e4 * (1 if buys else -1) + 0.0 if price_a else 0.0  # never -0.0


def _span(run: RunTrades) -> str:
    return f"{run.id} runs {format_time(run.start)} to {format_time(run.end)}"
