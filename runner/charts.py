"""Charts for reports, drawn by matplotlib (imported only here, and only when drawing) and inlined as SVG.

Long series are cut to about ``MAX_POINTS`` points that keep each bucket's lowest and highest value, so no
drawdown disappears. Margins are fixed in inches so the charts of a page line up.
"""

from __future__ import annotations

import io
import json
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from runner.trades import Trade

    Ints = npt.NDArray[np.int64]
    Floats = npt.NDArray[np.float64]

MAX_POINTS = 4000
"""Points drawn per series: about two per pixel of a wide screen."""
MAX_MARKED_TRADES = 400
"""Trades per symbol marked on the price chart; beyond, only the position panel shows them."""
NONE = "\u2013"  # an en dash: no value
WIDTH = 10.8  # inches: a chart fills a section of the page, 1,038 px at 96 px an inch

LONG, SHORT, EQUITY, LOSS, INK, MUTED = "#15803d", "#b91c1c", "#1d4ed8", "#dc2626", "#1f2937", "#6b7280"
_STYLE = {
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans"],
    "font.size": 9,
    "svg.fonttype": "none",
    "axes.edgecolor": "#d1d5db",
    "axes.linewidth": 0.8,
    "axes.grid": True,
    "axes.axisbelow": True,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.labelcolor": MUTED,
    "axes.titlesize": 9,
    "grid.color": "#eef0f3",
    "grid.linewidth": 0.8,
    "xtick.color": MUTED,
    "ytick.color": MUTED,
    "legend.frameon": False,
    "legend.fontsize": 8,
}


def svg(fig: Figure) -> str:
    """A matplotlib figure as an ``<svg>`` element to inline in HTML: no prolog, no namespaces, as wide as the
    page allows up to the figure's own width."""
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", metadata={"Creator": None, "Date": None, "Format": None, "Type": None})
    text = buffer.getvalue()
    text = text[text.index("<svg") :]
    head, body = text.split(">", 1)
    head = re.sub(r'\s(?:width|height|xmlns(?::xlink)?)="[^"]*"', "", head)
    body = re.sub(r'\sid="[A-Za-z.]+_\d+"', "", body)  # figure_1, axes_1...: the same in every chart
    width = fig.get_figwidth() * 96  # CSS pixels
    return (
        f'{head} class="chart" role="img" style="max-width: {width:.0f}px">'
        + body.replace("xlink:href=", "href=").strip()
    )


@contextmanager
def drawing() -> Iterator[None]:
    import matplotlib

    with matplotlib.rc_context(cast(Any, _STYLE)):
        yield


def _figure(
    width: float,
    height: float,
    rows: Sequence[float] = (1,),
    margins: tuple[float, float, float, float] = (0.85, 0.2, 0.15, 0.5),
) -> tuple[Figure, list[Axes]]:
    """A figure of stacked axes sharing x. Margins (left, right, top, bottom) are fixed in inches, so the
    charts of a page line up (a layout engine would also cost 0.15 s a chart)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    left, right, top, bottom = margins
    fig.subplots_adjust(left=left / width, right=1 - right / width, top=1 - top / height, bottom=bottom / height)
    axes = fig.subplots(len(rows), 1, sharex=True, height_ratios=list(rows), squeeze=False, gridspec_kw={"hspace": 0.1})
    return fig, list(axes[:, 0])


def envelope(values: Floats, limit: int = MAX_POINTS) -> Ints:
    """Indices of at most about ``limit`` points of ``values`` that keep each bucket's min and max, and the ends."""
    import numpy as np

    n = len(values)
    if n <= limit:
        return np.arange(n, dtype=np.int64)
    width = math.ceil(n / (limit // 2))
    full = n // width * width
    blocks = values[:full].reshape(-1, width)
    starts = np.arange(0, full, width, dtype=np.int64)
    picks = [starts + blocks.argmin(axis=1), starts + blocks.argmax(axis=1), np.array([0, n - 1], dtype=np.int64)]
    if full < n:
        tail = values[full:]
        picks.append(np.array([full + tail.argmin(), full + tail.argmax()], dtype=np.int64))
    return np.unique(np.concatenate(picks))


def _days(times: Ints | Sequence[int]) -> Floats:
    """Epoch ms as matplotlib date numbers (days since 1970-01-01)."""
    import matplotlib.dates as mdates
    import numpy as np

    return mdates.date2num(np.asarray(times, dtype="datetime64[ms]"))  # type: ignore[no-any-return, no-untyped-call]


def _share_window(ax: Axes, window: tuple[int, int]) -> None:
    """Show exactly the run's window (every chart of a page the same)."""
    left, right = _days(window)
    ax.set_xlim(float(left), float(right))


def _date_axis(ax: Axes) -> None:
    import matplotlib.dates as mdates

    locator = mdates.AutoDateLocator(minticks=4, maxticks=9)  # type: ignore[no-untyped-call]
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))  # type: ignore[no-untyped-call]


def equity_figure(times: Ints, equity: Floats, start_equity: float, quote: str, title: str = "") -> Figure:
    """Equity with the starting level dashed, and below it the drawdown from the running peak, its deepest point
    labelled."""
    import numpy as np
    from matplotlib.ticker import PercentFormatter, StrMethodFormatter

    fig, (top, bottom) = _figure(WIDTH, 4.6, (3, 1.3), margins=(0.85, 0.2, 0.45 if title else 0.15, 0.5))
    if title:
        fig.suptitle(title, fontsize=10, color=INK)
    with np.errstate(divide="ignore", invalid="ignore"):
        peak = np.maximum(np.maximum.accumulate(equity), start_equity)
        drawdown = np.where(peak > 0, (equity / peak - 1) * 100, 0.0)
    keep = envelope(equity)
    top.plot(_days(times[keep]), equity[keep], color=EQUITY, linewidth=1.1)
    top.axhline(start_equity, color=MUTED, linewidth=0.8, linestyle=(0, (4, 3)))
    top.set_ylabel(f"equity ({quote})" if quote else "equity")
    top.yaxis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))
    keep = envelope(drawdown)
    days = _days(times[keep])
    bottom.fill_between(days, drawdown[keep], 0, color=LOSS, alpha=0.25, linewidth=0)
    bottom.plot(days, drawdown[keep], color=LOSS, linewidth=0.8)
    bottom.set_ylabel("drawdown")
    bottom.yaxis.set_major_formatter(PercentFormatter(decimals=None))
    deepest = int(np.argmin(drawdown))
    if drawdown[deepest] < 0:
        floor = drawdown[deepest] * 1.25
        bottom.set_ylim(top=0, bottom=-105.0 if floor < -100 <= drawdown[deepest] else floor)
        bottom.annotate(
            f"{drawdown[deepest]:.2f}%",
            (_days(times[deepest : deepest + 1])[0], drawdown[deepest]),
            xytext=(0, -3),
            textcoords="offset points",
            fontsize=8,
            color=LOSS,
            va="top",
            ha="center" if 0.1 < deepest / len(drawdown) < 0.9 else "left" if deepest < len(drawdown) / 2 else "right",
        )
    _date_axis(bottom)
    _share_window(bottom, (int(times[0]), int(times[-1])))
    return fig


def price_figure(
    symbol: str,
    prices: tuple[Ints, Floats],
    trades: Sequence[Trade],
    position: tuple[list[int], list[float]] | None,
    window: tuple[int, int],
) -> Figure:
    """Close prices with the trades marked (when few enough), and the signed position below."""
    import numpy as np
    from matplotlib.ticker import StrMethodFormatter

    times, close = prices
    start, end = window
    fig, (top, bottom) = _figure(WIDTH, 4.2, (3, 1))
    keep = envelope(close)
    top.plot(_days(times[keep]), close[keep], color=INK, linewidth=0.9)
    top.set_ylabel(symbol)
    magnitude = math.floor(math.log10(max(float(np.median(close)), 1e-12)))
    top.yaxis.set_major_formatter(StrMethodFormatter(f"{{x:,.{max(0, min(8, 3 - magnitude))}f}}"))
    mine = trades
    if 0 < len(mine) <= MAX_MARKED_TRADES:
        for side, color in (("long", LONG), ("short", SHORT)):
            spans = [
                (d0, max(d1 - d0, 1e-6))
                for t in mine
                if t.side == side
                for d0, d1 in [_days([t.entry_t, t.exit_t if t.exit_t is not None else end])]
            ]
            if spans:
                top.broken_barh(spans, (0, 1), transform=top.get_xaxis_transform(), color=color, alpha=0.08)
        for side, marker, color in (("long", "^", LONG), ("short", "v", SHORT)):
            entries = [t for t in mine if t.side == side]
            if entries:
                top.scatter(
                    _days([t.entry_t for t in entries]),
                    [t.entry_price for t in entries],
                    marker=marker,
                    s=22,
                    color=color,
                    zorder=3,
                )
        exits = [t for t in mine if t.exit_t is not None]
        if exits:
            top.scatter(
                _days([t.exit_t for t in exits if t.exit_t is not None]),
                [t.exit_price or 0.0 for t in exits],
                marker="o",
                s=14,
                facecolors="white",
                edgecolors=INK,
                linewidths=0.8,
                zorder=3,
            )
    held_t, held = position or ([], [])
    steps_t = np.array([start, *held_t, end], dtype=np.int64)
    steps = np.array([0.0, *held, held[-1] if held else 0.0])
    keep = envelope(steps)
    days, steps = _days(steps_t[keep]), steps[keep]
    bottom.fill_between(days, np.maximum(steps, 0), 0, step="post", color=LONG, alpha=0.35, linewidth=0)
    bottom.fill_between(days, np.minimum(steps, 0), 0, step="post", color=SHORT, alpha=0.35, linewidth=0)
    bottom.axhline(0, color="#9ca3af", linewidth=0.6)
    bottom.set_ylabel("position")
    _date_axis(bottom)
    _share_window(bottom, window)
    return fig


def heatmap_figure(
    y_param: str, x_param: str, rows: Sequence[Mapping[str, Any]], objective: str, lower: bool, label: str
) -> Figure:
    """The objective over two parameters, each cell labelled (the best value where several runs share a cell)."""
    import matplotlib
    import numpy as np

    ys = sorted({hashable(r["params"].get(y_param)) for r in rows}, key=sort_key)
    xs = sorted({hashable(r["params"].get(x_param)) for r in rows}, key=sort_key)
    grid = np.full((len(ys), len(xs)), np.nan)
    for r in rows:
        value = r["summary"].get(objective)
        if isinstance(value, int | float) and math.isfinite(value):
            i, j = ys.index(hashable(r["params"].get(y_param))), xs.index(hashable(r["params"].get(x_param)))
            if math.isnan(grid[i, j]) or (value < grid[i, j] if lower else value > grid[i, j]):
                grid[i, j] = value
    left = 0.6 + 0.07 * max(len(plain(y)) for y in ys)
    width, height = min(WIDTH, left + 1.6 + 1.1 * len(xs)), min(9.0, 1.1 + 0.55 * len(ys))
    fig, (ax,) = _figure(width, height, margins=(left, 0.1, 0.15, 0.55))
    finite = grid[np.isfinite(grid)]
    image = ax.imshow(
        np.ma.masked_invalid(grid),
        cmap=matplotlib.colormaps["RdYlGn_r" if lower else "RdYlGn"].with_extremes(bad="#f3f4f6"),
        aspect="auto",
        interpolation="none",
        origin="lower",
        vmin=float(finite.min()) if finite.size else 0.0,
        vmax=float(finite.max()) if finite.size else 1.0,
    )
    ax.grid(False)
    ax.set_xticks(range(len(xs)), [plain(x) for x in xs])
    ax.set_yticks(range(len(ys)), [plain(y) for y in ys])
    ax.set_xlabel(x_param)
    ax.set_ylabel(y_param)
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    for (i, j), value in np.ndenumerate(grid):
        if math.isfinite(value):
            red, green, blue, _ = image.cmap(image.norm(value))
            dark = 0.299 * red + 0.587 * green + 0.114 * blue < 0.5
            ax.text(j, i, f"{value:,.2f}", ha="center", va="center", fontsize=8, color="white" if dark else INK)
        else:
            ax.text(j, i, NONE, ha="center", va="center", fontsize=8, color=MUTED)
    fig.colorbar(image, ax=ax, fraction=0.6 / width, pad=0.15 / width, label=label)
    return fig


def plain(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def hashable(value: Any) -> Any:
    return json.dumps(value, sort_keys=True) if isinstance(value, dict | list) else value


def sort_key(value: Any) -> tuple[int, Any]:
    return (0, value) if isinstance(value, int | float) else (1, str(value))
