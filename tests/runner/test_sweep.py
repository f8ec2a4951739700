"""Parameter sweeps: grids parse strictly, every combination is its own deployment, and a sweep's result for
a combination is exactly what `runner backtest` gives for the same file."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import BOTS, ROOT, data_path

from runner.cliutil import UsageError
from runner.errors import ConfigError
from runner.spec import _SEMVER
from runner.sweep import combinations, parse_grid, ranked, variant, variant_version

RUNNER = str(Path(sys.executable).with_name("runner"))
EMA = BOTS / "ema_cross.yaml"
YEAR = ("--from", "2025-01-01", "--to", "2025-12-31T23:00")


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([RUNNER, *args], cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_grid_flags_parse_to_typed_values_in_product_order() -> None:
    axes = parse_grid(["ema_fast.period=10,20", "candles.timeframe=1h,4h"])
    assert [a.name for a in axes] == ["ema_fast.period", "candles.timeframe"]
    assert combinations(axes) == [
        {"ema_fast.period": 10, "candles.timeframe": "1h"},
        {"ema_fast.period": 10, "candles.timeframe": "4h"},
        {"ema_fast.period": 20, "candles.timeframe": "1h"},
        {"ema_fast.period": 20, "candles.timeframe": "4h"},
    ]


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["period=10,20"], "write STEP.FIELD=V1,V2"),
        (["ema_fast.period"], "write STEP.FIELD=V1,V2"),
        (["ema_fast.period=10,10"], "listed twice"),
        (["ema_fast.period=10", "ema_fast.period=20"], "already a grid axis"),
        ([], "at least one --grid"),
    ],
)
def test_bad_grid_flags_say_how_to_write_them(flags: list[str], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        parse_grid(flags)


def test_a_variant_is_the_file_with_its_values_and_a_marked_version() -> None:
    bot = variant(EMA.read_text(), str(EMA), {"ema_fast.period": 10, "exec.fee_bps": 5.5})
    assert bot.spec.version == "1.0.0+sweep.ema-fast-period-10.exec-fee-bps-5-5"
    assert _SEMVER.match(bot.spec.version)
    steps = {s["id"]: s["with"] for s in bot.snapshot["pipeline"]}
    assert steps["ema_fast"]["period"] == 10 and steps["exec"]["fee_bps"] == 5.5
    assert variant_version("1.0.0+build.7", {"a.b": 1}) == "1.0.0+build.7.sweep.a-b-1"


def test_a_variant_names_a_missing_step_or_a_refused_value() -> None:
    with pytest.raises(UsageError, match="no step 'fast'"):
        variant(EMA.read_text(), str(EMA), {"fast.period": 10})
    with pytest.raises(ConfigError) as refused:
        variant(EMA.read_text(), str(EMA), {"ema_fast.period": 0})
    assert "ema_fast.period=0" in str(refused.value) and "period" in str(refused.value)


def test_ranking_puts_failures_last_and_lower_drawdown_first() -> None:
    runs = [{"max_drawdown_pct": 9.0}, {"error": "boom"}, {"max_drawdown_pct": 3.0}]
    assert ranked(runs, "max_drawdown_pct") == [runs[2], runs[0], runs[1]]


def test_a_parallel_sweep_records_each_combination_as_a_deployment_equal_to_its_backtest(tmp_path: Path) -> None:
    candles = data_path("candles", "binance-spot", "BTCUSDT-1h.csv.gz")
    db = tmp_path / "runner.db"
    grids = ["--grid", "ema_fast.period=10,20", "--grid", "ema_slow.period=50,100", "--grid", "candles.timeframe=1h,4h"]
    done = cli("sweep", str(EMA), "--data", str(candles), *YEAR, *grids, "--workers", "2", "--format", "json",
               "--db", str(db))  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    runs = result["runs"]
    assert len(runs) == 8
    sharpes = [r["sharpe"] for r in runs]
    assert sharpes == sorted(sharpes, reverse=True)
    with sqlite3.connect(db) as conn:
        versions = {v for (v,) in conn.execute("SELECT version FROM deployments WHERE bot = 'ema_cross'")}
        labels = [json.loads(p)["labels"] for (p,) in conn.execute("SELECT params FROM runs")]
    assert versions == {r["version"] for r in runs} and len(versions) == 8
    assert all(label["sweep"] == result["sweep"] for label in labels)
    # The best combination, written out as a bot file and backtested on its own, gives the same numbers.
    best = runs[0]
    text = yaml.safe_load(EMA.read_text())
    steps = {s["id"]: s for s in text["pipeline"]}
    for name, value in best["params"].items():
        step, field = name.split(".")
        steps[step]["with"][field] = value
    text["version"] = "9.9.9"
    alone = tmp_path / "alone.yaml"
    alone.write_text(yaml.safe_dump(text, sort_keys=False))
    single = cli("backtest", str(alone), "--data", str(candles), *YEAR, "--format", "json", "--db", str(db))
    assert single.returncode == 0, single.stderr
    summary = json.loads(single.stdout)
    for key in ("bars", "trades", "final_equity", "sharpe", "max_drawdown_pct", "fees"):
        assert summary[key] == best[key], key


def test_a_sweep_refuses_a_value_before_running_anything(tmp_path: Path) -> None:
    candles = data_path("candles", "binance-spot", "BTCUSDT-1h.csv.gz")
    db = tmp_path / "runner.db"
    done = cli("sweep", str(EMA), "--data", str(candles), "--grid", "ema_fast.period=10,-3", "--db", str(db))
    assert done.returncode == 1
    assert "ema_fast.period=-3" in done.stderr
    assert not db.exists() or not sqlite3.connect(db).execute("SELECT COUNT(*) FROM runs").fetchone()[0]
