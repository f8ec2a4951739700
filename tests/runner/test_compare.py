"""``runner compare``: pairing and verdicts worked by hand, then real runs on real candles compared through
the store and the CLI."""

from __future__ import annotations

import contextlib
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import BOTS, real_candles

from runner.cli import main
from runner.compare import CompareError, Comparison, RunTrades, compare, compare_runs, load_run, verdict
from runner.store import Store
from runner.trades import round_trips

M = 60_000  # one minute in ms
EMA = str(BOTS / "ema_cross.yaml")


Fills = list[dict[str, Any]]


def fill(
    t: int, side: str, quantity: float, price: float, pnl: float | None = None, symbol: str = "BTC/USDT"
) -> dict[str, Any]:
    return {
        "client_id": f"{symbol}-{t}-{side}",
        "t": t,
        "symbol": symbol,
        "side": side,
        "quantity": quantity,
        "price": price,
        "fee": 0.0,
        "realized_pnl": pnl,
    }


def run_of(fills: Fills, kind: str = "backtest", start: int = 0, end: int = 1000 * M, every: int = M) -> RunTrades:
    return RunTrades("r" + kind, kind, "bot@1.0.0", every, start, end, round_trips(fills))


def long(
    t: int, exit_t: int, price: float = 100.0, exit_price: float = 100.0, size: float = 1.0, symbol: str = "BTC/USDT"
) -> Fills:
    """A long round trip: buy at ``t``, sell at ``exit_t``, no fees."""
    pnl = size * (exit_price - price)
    return [fill(t, "buy", size, price, symbol=symbol), fill(exit_t, "sell", size, exit_price, pnl, symbol=symbol)]


def short(t: int, exit_t: int, price: float = 100.0, exit_price: float = 100.0, size: float = 1.0) -> Fills:
    """A short round trip: sell at ``t``, buy back at ``exit_t``, no fees."""
    return [fill(t, "sell", size, price), fill(exit_t, "buy", size, exit_price, size * (price - exit_price))]


# --- pairing and verdicts, by hand ---------------------------------------------------------------------------


def test_pairs_nearest_entries_first_each_trade_once_same_symbol_and_side() -> None:
    a = run_of(long(10 * M, 11 * M) + long(12 * M, 13 * M))
    b = run_of(
        long(10 * M, 11 * M, symbol="ETH/USDT")  # same time, other symbol
        + long(11 * M + M // 2, 12 * M + M // 2)  # 1.5 min after A's first trade, 0.5 min before its second
        + short(14 * M, 15 * M)
    )
    c = compare(a, b, tolerance_ms=2 * M)
    [pair] = c.pairs
    assert (pair.a.entry_t, pair.b.entry_t, pair.entry_ms) == (12 * M, 11 * M + M // 2, -M // 2)
    assert [t.entry_t for t in c.only_a] == [10 * M]  # its nearer candidate went to the closer trade
    assert [(t.symbol, t.side) for t in c.only_b] == [("ETH/USDT", "long"), ("BTC/USDT", "short")]


def test_default_tolerance_is_one_bar_of_the_coarser_run() -> None:
    a = run_of(long(0, 20 * M), every=M)
    exactly = run_of(long(5 * M, 20 * M), every=5 * M)
    beyond = run_of(long(5 * M + 1, 20 * M), every=5 * M)
    assert compare(a, exactly).tolerance_ms == 5 * M
    assert len(compare(a, exactly).pairs) == 1
    assert (len(compare(a, beyond).pairs), len(compare(a, beyond).only_b)) == (0, 1)


def test_differences_of_a_long_and_a_short_worked_by_hand() -> None:
    a = run_of(long(0, 10 * M, 100.0, 110.0, 1.0) + short(20 * M, 30 * M, 50.0, 45.0, 2.0))  # +10, +10
    b = run_of(long(M, 10 * M, 101.0, 108.9, 0.9) + short(20 * M, 32 * M, 49.5, 45.45, 2.0))  # +7.11, +8.1
    c = compare(a, b)
    first, second = c.pairs
    # long: B paid 1% more to enter and got 1% less to exit; short: B sold 1% cheaper, bought back 1% dearer
    assert (first.entry_ms, first.exit_ms, first.size_pct) == (M, 0, pytest.approx(-10.0))
    assert (first.entry_bps, first.exit_bps, first.pnl) == (
        pytest.approx(100),
        pytest.approx(100),
        pytest.approx(-2.89),
    )
    assert (second.entry_ms, second.exit_ms, second.size_pct) == (0, 2 * M, 0.0)
    assert (second.entry_bps, second.exit_bps, second.pnl) == (
        pytest.approx(100),
        pytest.approx(100),
        pytest.approx(-1.9),
    )
    assert (c.stats_a.pnl, c.stats_b.pnl) == (pytest.approx(20.0), pytest.approx(15.21))
    assert (c.stats_a.avg_hold_ms, c.stats_b.avg_hold_ms) == (10 * M, 10.5 * M)
    assert (c.entry_bps_mean, c.entry_bps_max, c.entry_ms_mean) == (pytest.approx(100), pytest.approx(100), M / 2)
    assert c.pnl_divergence == pytest.approx(-4.79)
    assert c.pnl_divergence_pct == pytest.approx(23.95)  # of A's 20: under 25%, and both win every trade
    assert c.verdict == "CONSISTENT"


@pytest.mark.parametrize(
    ("pnl_pct", "win_points", "expected"),
    [
        (25.0, 10.0, "CONSISTENT"),
        (25.01, 0.0, "MODERATE"),
        (0.0, 10.01, "MODERATE"),
        (50.0, 20.0, "MODERATE"),
        (50.01, 0.0, "SIGNIFICANT"),
        (0.0, 20.01, "SIGNIFICANT"),
    ],
)
def test_verdict_uses_perp_bots_thresholds(pnl_pct: float, win_points: float, expected: str) -> None:
    assert verdict(pnl_pct, win_points) == expected


def test_the_backtest_is_the_reference_against_a_paper_run() -> None:
    paper, backtest = long(0, 10 * M, 100.0, 200.0), long(0, 10 * M, 100.0, 160.0)  # +100 and +60
    c = compare(run_of(paper, "paper"), run_of(backtest, "backtest"))
    assert (c.reference, c.pnl_divergence_pct, c.verdict) == ("b", pytest.approx(40 / 60 * 100), "SIGNIFICANT")
    c = compare(run_of(paper, "backtest"), run_of(backtest, "paper"))
    assert (c.reference, c.pnl_divergence_pct, c.verdict) == ("a", pytest.approx(40.0), "MODERATE")
    # a reference PnL near zero counts as 1: a 30-cent gap on a 20-cent PnL is 30%, not 150%
    c = compare(run_of(long(0, M, 100.0, 100.5), "paper"), run_of(long(0, M, 100.0, 100.2)))
    assert (c.pnl_divergence_pct, c.verdict) == (pytest.approx(30.0), "MODERATE")


def test_only_the_shared_window_counts_and_open_trades_have_no_pnl() -> None:
    a = run_of(long(5 * M, 10 * M) + long(30 * M, 70 * M, 100.0, 150.0) + long(80 * M, 90 * M), end=100 * M)
    b = run_of([fill(30 * M, "buy", 1.0, 100.0)], "paper", start=20 * M, end=60 * M)  # still open at its end
    c = compare(a, b)
    assert (c.start, c.end) == (20 * M, 60 * M)
    [pair] = c.pairs
    assert (pair.entry_ms, pair.exit_ms, pair.exit_bps, pair.pnl) == (0, None, None, None)
    assert (c.only_a, c.only_b) == ([], [])
    # A's trade closed after the window's end: its +50 is not compared with B's unfinished one
    assert (c.stats_a.trades, c.stats_a.closed, c.stats_a.pnl, c.stats_b.closed) == (1, 0, 0.0, 0)
    assert c.verdict == "CONSISTENT"


def test_runs_that_share_no_time_are_refused() -> None:
    with pytest.raises(CompareError, match="share no time"):
        compare(run_of([], end=10 * M), run_of([], start=20 * M, end=30 * M))


# --- real runs on real candles ----------------------------------------------------------------------------------


@dataclass
class Runs:
    db: Path
    paper: str
    backtest: str
    slipped: str
    other_version: str


def _cli(*args: str) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(list(args)) == 0
    return out.getvalue()


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Runs:
    """3,000 real 1m BTC bars: a paper run stopped early, two backtests of the same bot with 0 and 25 bps of
    slippage, and a backtest of another version with faster EMAs."""
    tmp = tmp_path_factory.mktemp("compare")
    data, db = str(real_candles(tmp, 3_000)), str(tmp / "r.db")
    other = tmp / "ema_fast.yaml"
    text = Path(EMA).read_text()
    other.write_text(text.replace("period: 20", "period: 10").replace("period: 50", "period: 30"))
    other.write_text(other.read_text().replace("version: 1.0.0", "version: 1.1.0"))
    _cli("run", EMA, "--replay", data, "--until", "2025-05-06T00:00", "--quiet", "--db", db)

    def backtest(bot: str, *extra: str) -> str:
        return str(json.loads(_cli("backtest", bot, "--data", data, "--format", "json", "--db", db, *extra))["run_id"])

    store = Store(db)
    [paper] = [r["id"] for r in store.rows("SELECT id FROM runs WHERE kind = 'paper'")]
    store.close()
    return Runs(
        Path(db),
        paper,
        backtest(EMA, "--slippage-bps", "0"),
        backtest(EMA, "--slippage-bps", "25"),
        backtest(str(other)),
    )


def _compare(runs: Runs, a: str, b: str) -> Comparison:
    store = Store(runs.db)
    try:
        return compare_runs(store, a, b)
    finally:
        store.close()


def test_a_paper_run_and_its_backtest_agree_trade_for_trade(runs: Runs) -> None:
    c = _compare(runs, runs.paper, runs.backtest)
    assert c.end < c.b.end, "the paper run stopped early: the backtest's later trades are outside the window"
    assert len(c.pairs) >= 10 and c.only_a == [] and c.only_b == []
    assert len(c.pairs) < len(c.b.trades)
    for p in c.pairs:
        assert (p.entry_ms, p.exit_ms, p.entry_bps, p.exit_bps, p.size_pct, p.pnl) == (0, 0, 0, 0, 0, 0)
    assert c.stats_a == c.stats_b
    assert (c.reference, c.pnl_divergence, c.verdict) == ("b", 0.0, "CONSISTENT")


def test_25_bps_of_slippage_shows_as_25_bps_worse_prices_and_less_pnl(runs: Runs) -> None:
    c = _compare(runs, runs.backtest, runs.slipped)
    assert len(c.pairs) >= 20 and c.only_a == [] and c.only_b == []
    for p in c.pairs:
        assert p.entry_ms == 0 and p.entry_bps == pytest.approx(25, abs=1e-6)
        assert p.exit_bps is None or p.exit_bps == pytest.approx(25, abs=1e-6)
        assert p.pnl is None or p.pnl < 0
    assert (c.entry_bps_mean, c.entry_bps_max) == (pytest.approx(25), pytest.approx(25))
    assert c.stats_b.pnl < c.stats_a.pnl
    assert c.stats_b.win_rate_pct <= c.stats_a.win_rate_pct
    # about 50 bps per round trip on a full-size position, over the trades compared
    assert c.pnl_divergence < -0.004 * 10_000 * 0.8 * c.stats_a.closed
    assert c.verdict == "SIGNIFICANT"


def test_another_version_trades_differently_and_the_verdict_says_so(runs: Runs) -> None:
    c = _compare(runs, runs.backtest, runs.other_version)
    assert (c.a.deployment, c.b.deployment) == ("ema_cross@1.0.0", "ema_cross@1.1.0")
    assert c.stats_b.trades > c.stats_a.trades  # faster EMAs cross more often
    assert len(c.only_a) >= 10 and len(c.only_b) >= 20
    assert len(c.pairs) + len(c.only_a) == c.stats_a.trades
    assert len(c.pairs) + len(c.only_b) == c.stats_b.trades
    assert c.pnl_divergence_pct > 50
    assert c.verdict == "SIGNIFICANT"


def test_cli_prints_the_summary_first_then_the_largest_divergences(
    runs: Runs, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["compare", runs.backtest[:6], runs.slipped, "--limit", "3", "--db", str(runs.db)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["A", runs.backtest, "ema_cross@1.0.0", "backtest"]
    assert lines[1].split() == ["B", runs.slipped, "ema_cross@1.0.0", "backtest"]
    assert lines[2] == "shared window 2025-05-04 15:34 to 2025-05-06 17:33   pairing tolerance 1m"
    assert "verdict SIGNIFICANT" in lines
    assert any(line.startswith("  entry price |diff| mean 25.00 bps, max 25.00 bps") for line in lines)
    assert lines.index("verdict SIGNIFICANT") < next(i for i, line in enumerate(lines) if "largest" in line)
    rows = [line.split() for line in lines if line.startswith("paired ")]
    assert len(rows) == 3
    pnl_gaps = [abs(float(row[-1].replace(",", ""))) for row in rows]
    assert pnl_gaps == sorted(pnl_gaps, reverse=True)


def test_cli_same_activity_and_json(runs: Runs, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compare", runs.paper, runs.backtest, "--db", str(runs.db)]) == 0
    out = capsys.readouterr().out
    assert "verdict CONSISTENT" in out and out.endswith("every trade is paired and none differs\n")
    assert main(["compare", runs.paper, runs.backtest, "--format", "json", "--db", str(runs.db)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["summary"]["verdict"] == "CONSISTENT"
    assert report["summary"]["paired"] == len(report["pairs"]) >= 10
    assert report["pairs"][0]["a"]["entry_t"] == report["pairs"][0]["b"]["entry_t"]


def test_cli_unknown_run_exits_1_naming_it(runs: Runs, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compare", runs.paper, "feedface", "--db", str(runs.db)]) == 1
    captured = capsys.readouterr()
    assert (captured.out, captured.err) == ("", f"runner compare: no run 'feedface' in {runs.db}\n")
    assert main(["compare", runs.paper, runs.backtest, "--tolerance", "5 minutes", "--db", str(runs.db)]) == 2
    assert "not a duration" in capsys.readouterr().err


def test_an_ambiguous_prefix_is_refused(tmp_path: Path) -> None:
    store = Store(tmp_path / "r.db")
    snapshot = json.dumps({"every": "1m", "account": {"quote": "USDT"}})
    deployment = {"id": "b@1.0.0", "bot": "b", "version": "1.0.0", "config_id": "c", "created_at": "now"}
    store.insert("deployments", {**deployment, "snapshot": snapshot})
    for run_id in ("abc1", "abc2"):
        run = {"id": run_id, "deployment_id": "b@1.0.0", "kind": "paper", "status": "finished", "started_at": "now"}
        store.insert("runs", run)
        store.insert("cycles", {"run_id": run_id, "t": 0, "status": "ok"})
    with pytest.raises(CompareError, match=r"run 'abc' is ambiguous: 2 runs start with it \(abc1, abc2\)"):
        load_run(store, "abc")
    assert load_run(store, "abc2").id == "abc2"
    store.close()
