"""Reports of real runs on real candles: one self-contained HTML file that carries the run's numbers, its
trades and its config; an equity PNG; a sweep's ranking and heat map; and the page as Chromium draws it."""

from __future__ import annotations

import contextlib
import io
import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import BOTS, data_path, real_candles

from runner.cli import main
from runner.compile import compile_file
from runner.report import MAX_TRADE_ROWS, build_report, build_sweep_report, envelope, write_plot
from runner.runs import RunOptions, backtest
from runner.store import Store
from runner.trades import round_trips

EMA = str(BOTS / "ema_cross.yaml")
CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    with contextlib.closing(Store(tmp_path_factory.mktemp("report") / "r.db")) as opened:
        yield opened


@pytest.fixture(scope="module")
def short_run(store: Store, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A backtest of 5,000 real one-minute BTC candles: a few dozen trades."""
    data = real_candles(tmp_path_factory.mktemp("candles"), 5_000)
    return backtest(store, compile_file(EMA), RunOptions({"BTC/USDT": str(data)}))


def cli(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return code, out.getvalue(), err.getvalue()


def trades_of(store: Store, run_id: str) -> int:
    fills = store.rows("SELECT * FROM fills WHERE run_id = ? ORDER BY t, id", (run_id,))
    funding = store.rows("SELECT t, symbol, amount FROM ledger WHERE run_id = ? AND kind = 'funding'", (run_id,))
    return len(round_trips(fills, funding))


def assert_self_contained(html: str) -> None:
    assert html.startswith("<!doctype html>")
    assert not re.search(r"https?://", html), "a network address in the page"
    targets = re.findall(r"""\b(?:src|href)\s*=\s*["']?([^"'\s>]*)""", html)
    assert all(t.startswith(("#", "data:")) for t in targets), "a reference to another file"
    assert not re.search(r"<script|<link|<iframe|@import|url\((?!#)", html, re.IGNORECASE)


def test_a_backtest_report_is_one_file_with_the_runs_numbers_trades_and_config(
    store: Store, short_run: dict[str, Any], tmp_path: Path
) -> None:
    out = tmp_path / "report.html"
    run_id = short_run["run_id"]
    code, printed, _ = cli("report", run_id, "--out", str(out), "--db", store.path)
    assert code == 0 and printed.startswith(f"wrote {out}")
    html = out.read_text(encoding="utf-8")
    assert_self_contained(html)
    assert run_id in html and short_run["config_id"] in html
    for key, shown in [
        ("return_pct", "{:+,.2f}%"),
        ("annual_return_pct", "{:+,.2f}%"),
        ("sharpe", "{:,.2f}"),
        ("sortino", "{:,.2f}"),
        ("max_drawdown_pct", "{:,.2f}%"),
        ("win_rate_pct", "{:,.1f}%"),
        ("fees", "{:,.2f}"),
        ("trades", "{:,}"),
        ("final_equity", "{:,.2f}"),
    ]:
        assert f">{shown.format(short_run[key])}<" in html or f">{shown.format(short_run[key])} " in html, key
    assert "365-day year" in html and "√525,600" in html  # one-minute bars
    trades = trades_of(store, run_id)
    assert 10 < trades < MAX_TRADE_ROWS
    assert html.count('<tr class="trade">') == trades
    assert "crossed below" in html  # the exit reason: why the closing order was sent
    assert html.count("<svg") == 2  # equity and drawdown; price and position
    assert f">{-short_run['max_drawdown_pct']:.2f}%</text>" in html  # the chart marks the summary's drawdown
    assert "planner.ema_cross" in html.split("<pre>")[1]  # the resolved config


def test_a_long_trade_list_shows_its_first_and_last_trades_and_says_so(store: Store) -> None:
    data = data_path("candles", "binance-usdm", "BTCUSDT-1m.csv.gz")  # 7 weeks of real minutes, 735 trades
    summary = backtest(store, compile_file(EMA), RunOptions({"BTC/USDT": str(data)}))
    trades = trades_of(store, summary["run_id"])
    assert trades > MAX_TRADE_ROWS
    html = build_report(store, summary["run_id"])
    assert html.count('<tr class="trade">') == MAX_TRADE_ROWS
    hidden = trades - MAX_TRADE_ROWS
    assert f"{hidden:,} in between are not listed" in html and f"… {hidden:,} trades not listed …" in html
    assert f'<td class="num">{trades}</td>' in html  # the last trade is there, numbered


def test_without_the_candle_file_the_price_chart_gives_way_to_a_note(store: Store, tmp_path: Path) -> None:
    data = real_candles(tmp_path, 2_000)
    summary = backtest(store, compile_file(EMA), RunOptions({"BTC/USDT": str(data)}))
    data.unlink()
    html = build_report(store, summary["run_id"])
    assert f"Price chart of BTC/USDT omitted: {data} is not found." in html
    assert html.count("<svg") == 1


def test_a_paper_run_is_reported_from_its_recorded_cycles(tmp_path: Path) -> None:
    data, db = real_candles(tmp_path, 1_500), tmp_path / "paper.db"
    assert cli("run", EMA, "--replay", str(data), "--quiet", "--db", str(db))[0] == 0
    with contextlib.closing(Store(db)) as store:
        [row] = store.rows("SELECT id, summary FROM runs WHERE kind = 'paper'")
        summary = json.loads(row["summary"])
        html = build_report(store, row["id"][:6])  # a unique prefix will do
        assert html.count('<tr class="trade">') == trades_of(store, row["id"])
    assert_self_contained(html)
    assert row["id"] in html and "paper report" in html
    assert f"{summary['cycles']:,} cycles" in html
    assert f">{summary['return_pct']:+,.2f}%<" in html


def test_plot_writes_a_png_of_equity_and_drawdown(store: Store, short_run: dict[str, Any], tmp_path: Path) -> None:
    from PIL import Image

    png, out = tmp_path / "equity.png", tmp_path / "r.html"
    code, printed, _ = cli("report", short_run["run_id"], "--out", str(out), "--plot", str(png), "--db", store.path)
    assert code == 0 and f" and {png}" in printed
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(png) as image:
        assert image.width > 1000 and image.height > 400
        assert len(image.convert("RGB").getcolors(1 << 24) or []) > 50
    write_plot(store, short_run["run_id"], tmp_path / "again.png")
    assert (tmp_path / "again.png").stat().st_size > 10_000


def test_the_command_refuses_what_it_cannot_report(store: Store, short_run: dict[str, Any], tmp_path: Path) -> None:
    code, _, err = cli("report", "feedbeef0000", "--db", store.path, "--out", str(tmp_path / "x.html"))
    assert code == 1 and "no run 'feedbeef0000'" in err
    code, _, err = cli("report", short_run["run_id"], "--db", str(tmp_path / "nowhere.db"))
    assert code == 1 and "no store at" in err and not (tmp_path / "nowhere.db").exists()
    code, _, err = cli("report", short_run["run_id"], "--db", store.path, "--out", str(tmp_path))
    assert code == 2 and "is a directory" in err
    with pytest.raises(SystemExit) as usage:
        cli("report")
    assert usage.value.code == 2


def test_a_sweep_ranks_runs_by_the_objective_and_maps_two_parameters(store: Store, tmp_path: Path) -> None:
    data = real_candles(tmp_path, 3_000)
    bot = compile_file(EMA)
    rows = []
    for fee in (0.0, 2.0, 5.0):
        for slippage in (0.0, 1.0):
            s = backtest(store, bot, RunOptions({"BTC/USDT": str(data)}, fee_bps=fee, slippage_bps=slippage))
            rows.append({"run_id": s["run_id"], "params": {"fee_bps": fee, "slippage_bps": slippage}, "summary": s})
    html = build_sweep_report("ema_cross fees", ["fee_bps", "slippage_bps"], rows, "sharpe")
    assert_self_contained(html)
    assert html.count("<svg") == 1 and "<image" in html  # the heat map
    ranked = sorted(rows, key=lambda r: -r["summary"]["sharpe"])
    listed = re.findall(r"<code>([0-9a-f]{12})</code>", html)
    assert listed == [r["run_id"] for r in ranked]
    for r in rows:
        assert f"{r['summary']['sharpe']:,.2f}" in html
    one_varies = [r for r in rows if r["params"]["slippage_bps"] == 0.0]
    html = build_sweep_report("ema_cross fees", ["fee_bps", "slippage_bps"], one_varies, "max_drawdown_pct")
    assert "<svg" not in html
    listed = re.findall(r"<code>([0-9a-f]{12})</code>", html)
    assert listed == [r["run_id"] for r in sorted(one_varies, key=lambda r: r["summary"]["max_drawdown_pct"])]


def test_downsampling_keeps_every_buckets_extremes(store: Store, short_run: dict[str, Any]) -> None:
    import numpy as np

    from runner.curves import decode_values

    [row] = store.rows("SELECT values_ FROM equity_curves WHERE run_id = ?", (short_run["run_id"],))
    equity = np.frombuffer(decode_values(row["values_"]), dtype=np.float64)
    drawdown = equity / np.maximum.accumulate(equity) - 1
    for series in (equity, drawdown):
        keep = envelope(series, limit=200)
        assert len(keep) <= 204 and keep[0] == 0 and keep[-1] == len(series) - 1
        assert np.all(np.diff(keep) > 0)  # in time order, no point twice
        assert series[keep].min() == series.min() and series[keep].max() == series.max()
        width = -(-len(series) // 100)
        for start in range(0, len(series), width):  # every bucket's low and high survive
            bucket = series[start : start + width]
            assert bucket.min() in series[keep[(keep >= start) & (keep < start + width)]]


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"no Chromium at {CHROMIUM} (apt-get install chromium)")
def test_chromium_draws_the_report(store: Store, short_run: dict[str, Any], tmp_path: Path) -> None:
    from PIL import Image

    page, shot = tmp_path / "report.html", tmp_path / "shot.png"
    page.write_text(build_report(store, short_run["run_id"]), encoding="utf-8")
    command = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
        f"--screenshot={shot}",
        "--window-size=1280,2000",
        page.as_uri(),
    ]
    subprocess.run(command, capture_output=True, timeout=120, check=True)
    with Image.open(shot) as image:
        assert image.size == (1280, 2000)
        colours = image.convert("RGB").getcolors(1 << 24) or []
    assert len(colours) > 100, "the screenshot is blank"
    bluish = sum(n for n, (r, g, b) in colours if b > 170 and r < 90 and g < 130)  # the equity line, #1d4ed8
    reddish = sum(n for n, (r, g, b) in colours if r > 170 and g < 90 and b < 90)  # the negative numbers
    assert bluish > 200 and reddish > 50


def test_backtest_writes_its_report_and_plot_after_the_summary(tmp_path: Path) -> None:
    data = real_candles(tmp_path, 3_000)
    html, png = tmp_path / "report.html", tmp_path / "equity.png"
    code, out, err = cli(
        "backtest", str(EMA), "--data", str(data), "--db", str(tmp_path / "r.db"), "--format", "json",
        "--report", str(html), "--plot", str(png),
    )  # fmt: skip
    assert code == 0, err
    summary = json.loads(out)
    page = html.read_text()
    assert_self_contained(page)
    assert summary["run_id"] in page and summary["config_id"] in page
    assert png.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert f"wrote {html}" in err and f"wrote {png}" in err
