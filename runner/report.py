"""Reports: one self-contained HTML page per stored run (charts inline as SVG), an equity PNG, and the
table and heat map of a parameter sweep.

Everything is read from the store. Long curves are cut to about ``MAX_POINTS`` points, keeping each
bucket's lowest and highest value so that no drawdown disappears. numpy and matplotlib are imported by
the functions that draw, so the CLI starts without them.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runner.charts import (
    MAX_MARKED_TRADES,
    MAX_POINTS,
    NONE,
    drawing,
    envelope,
    equity_figure,
    hashable,
    heatmap_figure,
    plain,
    price_figure,
    svg,
)
from runner.curves import decode_times, decode_values
from runner.durations import format_duration, format_time
from runner.errors import DataError
from runner.objectives import OBJECTIVES
from runner.store import Store
from runner.trades import Trade, round_trips

if TYPE_CHECKING:
    import jinja2
    import numpy as np
    import numpy.typing as npt

    Ints = npt.NDArray[np.int64]
    Floats = npt.NDArray[np.float64]

__all__ = [
    "MAX_POINTS",
    "MAX_TRADE_ROWS",
    "ReportError",
    "build_report",
    "build_sweep_report",
    "envelope",
    "svg",
    "write_plot",
    "write_report",
]

MAX_TRADE_ROWS = 500
"""Trades listed in a report; beyond, the first and last half are shown."""
YEAR_MS = 365 * 86_400_000
DAY_MS = 86_400_000


class ReportError(Exception):
    """The run cannot be reported: no such run, or nothing recorded to draw."""


# --- public API -------------------------------------------------------------------------------------------


def build_report(store: Store, run_id: str) -> str:
    """The HTML report of a stored run (backtest, paper or live; ``run_id`` or a unique prefix of it): one
    file with no external resources."""
    return _html(_load_run(store, run_id))


def write_plot(store: Store, run_id: str, path: str | Path) -> None:
    """A PNG of the run's equity curve and drawdown."""
    _plot(_load_run(store, run_id), path)


def write_report(store: Store, run_id: str, html_path: str | Path, png_path: str | Path | None = None) -> str:
    """Write the HTML report (and the PNG when asked), reading the run once; returns the full run id."""
    run = _load_run(store, run_id)
    Path(html_path).write_text(_html(run), encoding="utf-8")
    if png_path is not None:
        _plot(run, png_path)
    return str(run.row["id"])


def build_sweep_report(title: str, params: list[str], rows: list[dict[str, Any]], objective: str) -> str:
    """The HTML report of a parameter sweep: runs ranked by ``objective`` (a summary key), and a heat map of it
    when exactly two parameters vary. Rows are ``{"run_id", "params": {name: value}, "summary": {...}}``."""
    lower = not OBJECTIVES.get(objective, True)
    ranked = sorted(rows, key=lambda r: _rank_key(r["summary"].get(objective), lower))
    varying = [p for p in params if len({hashable(r["params"].get(p)) for r in rows}) > 1]
    heatmap = ""
    if len(varying) == 2:
        with drawing():
            heatmap = svg(heatmap_figure(varying[0], varying[1], rows, objective, lower, _label(objective)))
    columns = [c for c in ("return_pct", "sharpe", "max_drawdown_pct", "trades") if c != objective]
    return _template("sweep.html.j2").render(
        title=title,
        params=params,
        varying=varying,
        objective=objective,
        objective_label=_label(objective),
        lower=lower,
        heatmap=heatmap,
        columns=[_label(c) for c in columns],
        rows=[
            {
                "rank": i,
                "run_id": r["run_id"],
                "params": [plain(r["params"].get(p)) for p in params],
                "objective": _value(objective, r["summary"].get(objective)),
                "cells": [_value(c, r["summary"].get(c)) for c in columns],
            }
            for i, r in enumerate(ranked, 1)
        ],
        generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    )


def _html(run: _Run) -> str:
    charts, notes = _charts(run)
    return _template("report.html.j2").render(
        title=f"{run.row['bot']} {run.row['version']} · {run.row['kind']} {run.row['id']}",
        run=run.row,
        window=_window(run.times),
        data=run.data,
        overrides=_overrides(run.params),
        headline=_headline(run.summary, run.quote),
        metrics=_metrics(run.summary, run.quote),
        annualisation=_annualisation(run.times),
        charts=charts,
        notes=notes,
        trades=_trade_table(run.trades),
        snapshot=_yaml(run.snapshot),
        generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    )


def _plot(run: _Run, path: str | Path) -> None:
    if not len(run.times):
        raise ReportError(f"run {run.row['id']} recorded no equity to plot")
    with drawing():
        title = f"{run.row['bot']} {run.row['version']} · {run.row['kind']} {run.row['id']}"
        figure = equity_figure(run.times, run.equity, run.start_equity, run.quote, title=title)
        figure.savefig(path, format="png", dpi=144, facecolor="white")


# --- reading a run ----------------------------------------------------------------------------------------


@dataclass
class _Run:
    """A stored run, as the report shows it."""

    row: dict[str, Any]
    summary: dict[str, Any]
    snapshot: dict[str, Any]
    data: dict[str, str]
    params: dict[str, Any]
    quote: str
    start_equity: float
    times: Ints
    equity: Floats
    trades: list[Trade]
    positions: dict[str, tuple[list[int], list[float]]]
    """Per symbol: fill times and the signed position after each fill."""


def _load_run(store: Store, run_id: str) -> _Run:
    found = store.rows(
        "SELECT r.*, d.bot, d.version, d.config_id, d.snapshot FROM runs r "
        "JOIN deployments d ON d.id = r.deployment_id WHERE substr(r.id, 1, ?) = ? LIMIT 2",
        (len(run_id), run_id),
    )
    if len(found) != 1 or not run_id:
        what = "several runs start with" if len(found) > 1 and run_id else "no run"
        raise ReportError(f"{what} {run_id!r} in {store.path}")
    row = found[0]
    run_id = row["id"]
    snapshot = json.loads(row.pop("snapshot"))
    account = snapshot.get("account") or {}
    times, equity = _curve(store, run_id)
    start = float(account.get("cash") or (equity[0] if len(equity) else 0.0))
    fills = store.rows(
        "SELECT client_id, t, symbol, side, quantity, price, fee, realized_pnl FROM fills WHERE run_id = ? "
        "ORDER BY t, id",
        (run_id,),
    )
    funding = store.rows("SELECT t, symbol, amount FROM ledger WHERE run_id = ? AND kind = 'funding'", (run_id,))
    # why an order was sent: the executor's reason (a stop, a liquidation) or else the planner's intent
    reasons = {
        r["client_id"]: r["reason"] or ""
        for r in store.rows(
            "SELECT o.client_id, COALESCE(NULLIF(o.reason, ''), json_extract(i.payload, '$.reason')) AS reason "
            "FROM orders o LEFT JOIN intents i ON i.run_id = o.run_id AND i.t = o.t AND i.step_id = o.step_id "
            "AND i.leg = o.leg WHERE o.run_id = ?",
            (run_id,),
        )
    }
    return _Run(
        row=row,
        summary=json.loads(row["summary"]) if row["summary"] else {},
        snapshot=snapshot,
        data=json.loads(row["data"]) if row["data"] else {},
        params=json.loads(row["params"]) if row["params"] else {},
        quote=str(account.get("quote") or ""),
        start_equity=start,
        times=times,
        equity=equity,
        trades=round_trips(fills, funding, reasons),
        positions=_positions(fills),
    )


def _curve(store: Store, run_id: str) -> tuple[Ints, Floats]:
    import numpy as np

    packed = store.one("SELECT times, values_ FROM equity_curves WHERE run_id = ?", (run_id,))
    if packed is not None:
        times = np.frombuffer(decode_times(packed["times"]), dtype=np.int64)
        return times, np.frombuffer(decode_values(packed["values_"]), dtype=np.float64)
    rows = store.conn.execute("SELECT t, equity FROM equity WHERE run_id = ? ORDER BY t", (run_id,)).fetchall()
    return np.array([r[0] for r in rows], dtype=np.int64), np.array([r[1] for r in rows], dtype=np.float64)


def _positions(fills: Sequence[Mapping[str, Any]]) -> dict[str, tuple[list[int], list[float]]]:
    out: dict[str, tuple[list[int], list[float]]] = {}
    for fill in fills:
        times, held = out.setdefault(fill["symbol"], ([], []))
        signed = fill["quantity"] if fill["side"] == "buy" else -fill["quantity"]
        after = (held[-1] if held else 0.0) + signed
        if abs(after) < 1e-12 * max(1.0, abs(signed)):
            after = 0.0
        if times and times[-1] == fill["t"]:
            held[-1] = after
        else:
            times.append(fill["t"])
            held.append(after)
    return out


def _prices(path: str, times: Ints) -> tuple[Ints, Floats] | str:
    """The close prices of a candle file over the run's window, or why they are not available."""
    import numpy as np

    from blocks.sources.candle_files import load_candles

    if not Path(path).is_file():
        where = "" if Path(path).is_absolute() else f" from {Path.cwd()} (the run may have started elsewhere)"
        return f"{path} is not found{where}"
    try:
        series = load_candles(path)
    except DataError as exc:
        return str(exc)
    stamps = np.asarray(series.time, dtype=np.int64)
    lo, hi = np.searchsorted(stamps, [times[0] - series.timeframe_ms, times[-1]], side="right")
    if hi - lo < 2:
        return f"{path} holds no candles in the run's window"
    return stamps[lo:hi] + series.timeframe_ms, np.asarray(series.close, dtype=np.float64)[lo:hi]


# --- charts -----------------------------------------------------------------------------------------------


def _charts(run: _Run) -> tuple[list[dict[str, str]], list[str]]:
    """The page's charts (title, inline SVG, caption), and notes on the charts that could not be drawn."""
    if not len(run.times):
        return [], ["No equity recorded: the run stopped before its first cycle."]
    window = (int(run.times[0]), int(run.times[-1]))
    notes: list[str] = []
    with drawing():
        charts = [
            {
                "title": "Equity and drawdown",
                "svg": svg(equity_figure(run.times, run.equity, run.start_equity, run.quote)),
                "note": "Dashed: the starting equity. Drawdown: the fall from the running peak.",
            }
        ]
        for symbol, path in run.data.items():
            if "/" not in symbol:
                continue  # a binding of a whole source (e.g. subnets=DIR), not one symbol's candles
            prices = _prices(path, run.times)
            if isinstance(prices, str):
                notes.append(f"Price chart of {symbol} omitted: {prices}.")
                continue
            mine = [t for t in run.trades if t.symbol == symbol]
            figure = price_figure(symbol, prices, mine, run.positions.get(symbol), window)
            if len(mine) > MAX_MARKED_TRADES:
                note = f"{len(mine):,} trades are too many to mark on the price; the lower panel shows the position."
            else:
                note = "Shaded: a position is open. ▲ long entry, ▼ short entry, ○ exit." if mine else "No trades."
            charts.append({"title": f"{symbol}: price and position", "svg": svg(figure), "note": note})
    return charts, notes


# --- the page's content ----------------------------------------------------------------------------------

_METRICS: list[tuple[str, str, str]] = [
    # summary key, label, format
    ("return_pct", "Return", "signed_pct"),
    ("annual_return_pct", "Annualised return", "signed_pct"),
    ("final_equity", "Final equity", "money"),
    ("sharpe", "Sharpe", "ratio"),
    ("sortino", "Sortino", "ratio"),
    ("calmar", "Calmar", "ratio"),
    ("max_drawdown_pct", "Max drawdown", "pct"),
    ("max_drawdown_duration_days", "Longest drawdown", "days"),
    ("exposure_pct", "Exposure", "pct1"),
    ("trades", "Trades", "int"),
    ("win_rate_pct", "Win rate", "pct1"),
    ("profit_factor", "Profit factor", "ratio"),
    ("avg_win", "Average win", "money"),
    ("avg_loss", "Average loss", "money"),
    ("expectancy", "Expectancy per trade", "money"),
    ("fees", "Fees", "money"),
    ("funding", "Funding paid", "money"),
    ("liquidations", "Liquidations", "int"),
    ("cycles", "Cycles", "int"),
    ("bars", "Bars", "int"),
    ("orders", "Orders", "int"),
    ("fills", "Fills", "int"),
    ("failed_cycles", "Failed cycles", "int"),
]
_FORMATS = {key: kind for key, _, kind in _METRICS}
_LABELS = {key: label for key, label, _ in _METRICS}
_HEADLINE = ("return_pct", "annual_return_pct", "sharpe", "max_drawdown_pct", "final_equity", "trades")
_SIGNED = {"return_pct", "annual_return_pct", "sharpe", "sortino", "calmar", "expectancy"}


def _label(key: str) -> str:
    return _LABELS.get(key) or key.replace("_pct", " %").replace("_", " ")


def _value(key: str, value: Any, quote: str = "") -> str:
    """A summary value as the report prints it."""
    if value is None:
        return NONE
    if not isinstance(value, int | float) or isinstance(value, bool):
        return str(value)
    if math.isinf(value):
        return "∞" if value > 0 else "-∞"
    if math.isnan(value):
        return NONE
    kind = _FORMATS.get(key, "ratio")
    if kind == "signed_pct":
        text = f"{value:+,.2f}%"
    elif kind == "pct":
        text = f"{value:,.2f}%"
    elif kind == "pct1":
        text = f"{value:,.1f}%"
    elif kind == "days":
        text = f"{value:,.1f} days"
    elif kind == "int":
        text = f"{value:,.0f}"
    elif kind == "money":
        text = f"{value:,.2f}" + (f" {quote}" if quote else "")
    else:
        text = f"{value:,.2f}"
    return text


def _tone(key: str, value: Any) -> str:
    if key in _SIGNED and isinstance(value, int | float) and value:
        return "pos" if value > 0 else "neg"
    return ""


def _headline(summary: Mapping[str, Any], quote: str) -> list[dict[str, str]]:
    return [
        {
            "label": _label(k).replace("Annualised return", "Annualised"),
            "value": _value(k, summary[k]).removesuffix(" days"),
            "unit": quote if _FORMATS.get(k) == "money" else "",
            "tone": _tone(k, summary[k]),
        }
        for k in _HEADLINE
        if k in summary
    ]


def _metrics(summary: Mapping[str, Any], quote: str) -> list[dict[str, str]]:
    known = [k for k, _, _ in _METRICS if k in summary]
    return [{"label": _label(k), "value": _value(k, summary[k], quote), "tone": _tone(k, summary[k])} for k in known]


def _annualisation(times: Ints) -> str:
    import numpy as np

    if len(times) < 2:
        return ""
    step = int(np.median(np.diff(times[:1001])))
    if step <= 0:
        return ""
    bar = format_duration(step // 1000) if step % 1000 == 0 else f"{step} ms"
    return (
        f"Sharpe and Sortino are annualised by bar frequency: the mean over the deviation of per-bar returns "
        f"times √{YEAR_MS / step:,.0f}, the number of {bar} bars in a 365-day year; no risk-free rate. "
        f"The annualised return compounds the total return over the run's span in 365-day years."
    )


def _overrides(params: Mapping[str, Any]) -> dict[str, str]:
    """The run's command-line overrides that were given, readable."""
    shown = {k: v for k, v in params.items() if v not in (None, {}, [])}
    return {k: format_time(v) if k in ("start", "end") and isinstance(v, int) else str(v) for k, v in shown.items()}


def _window(times: Ints) -> dict[str, str]:
    if not len(times):
        return {}
    step = int(times[1] - times[0]) if len(times) > 1 else 0
    span = int(times[-1] - times[0]) + step
    return {
        "from": format_time(int(times[0])),
        "to": format_time(int(times[-1])),
        "span": f"{span / DAY_MS:,.1f} days" if span >= DAY_MS else _held(span),
        "cycles": f"{len(times):,}",
    }


def _trade_table(trades: Sequence[Trade]) -> dict[str, Any]:
    numbered = list(enumerate(trades, 1))
    if len(numbered) > MAX_TRADE_ROWS:
        half = MAX_TRADE_ROWS // 2
        shown, gap_after = numbered[:half] + numbered[-half:], half
    else:
        shown, gap_after = numbered, -1
    rows = [
        {
            "n": n,
            "symbol": t.symbol,
            "side": t.side,
            "entry_t": format_time(t.entry_t),
            "entry_price": _price(t.entry_price),
            "exit_t": format_time(t.exit_t) if t.exit_t is not None else "open",
            "exit_price": _price(t.exit_price) if t.exit_price is not None else "",
            "size": _quantity(t.quantity),
            "held": _held(t.hold_ms) if t.hold_ms is not None else "",
            "pnl": _money(t.pnl) if t.exit_t is not None or t.pnl else NONE,
            "tone": "pos" if t.pnl > 0 else "neg" if t.pnl < 0 else "",
            "fees": _money(t.fees),
            "funding": _money(t.funding) if t.funding else "",
            "reason": t.exit_reason,
        }
        for n, t in shown
    ]
    closed = [t for t in trades if t.exit_t is not None]
    total = sum(t.pnl for t in trades)
    return {
        "rows": rows,
        "count": len(trades),
        "hidden": len(trades) - len(shown),
        "gap_after": gap_after,
        "open": len(trades) - len(closed),
        "won": sum(t.pnl > 0 for t in closed),
        "pnl": _money(total),
        "tone": "pos" if total > 0 else "neg" if total < 0 else "",
        "fees": _money(sum(t.fees for t in trades)),
        "funding": _money(sum(t.funding for t in trades)),
        "symbols": len({t.symbol for t in trades}) > 1,
        "funded": any(t.funding for t in trades),
    }


# --- small formatting helpers -----------------------------------------------------------------------------


def _held(ms: int) -> str:
    minutes = ms // 60_000
    days, hours, mins = minutes // 1440, minutes % 1440 // 60, minutes % 60
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {mins:02d}m"
    return f"{mins}m" if mins else f"{ms // 1000}s"


def _decimals(value: float, digits: int) -> int:
    """Decimals that show about ``digits`` significant digits of ``value``, between 2 and 8."""
    magnitude = math.floor(math.log10(abs(value))) if value else 0
    return max(2, min(8, digits - 1 - magnitude))


def _price(value: float) -> str:
    return f"{value:,.{_decimals(value, 6)}f}"


def _quantity(value: float) -> str:
    return f"{value:,.{max(0, min(8, 4 - (math.floor(math.log10(abs(value))) if value else 0)))}f}"


def _money(value: float) -> str:
    return f"{value:,.2f}"


def _rank_key(value: Any, lower: bool) -> tuple[int, float]:
    if not isinstance(value, int | float) or math.isnan(value):
        return (1, 0.0)
    return (0, value if lower else -value)


def _yaml(snapshot: Mapping[str, Any]) -> str:
    import yaml

    return str(yaml.safe_dump(dict(snapshot), sort_keys=False, allow_unicode=True, width=100))


@cache
def _environment() -> jinja2.Environment:
    import jinja2

    return jinja2.Environment(
        loader=jinja2.PackageLoader("runner", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _template(name: str) -> jinja2.Template:
    return _environment().get_template(name)
