"""Walk-forward: windows tile the data, each window's choice is the best of its training runs, and each
choice is scored on the window after it."""

from __future__ import annotations

import itertools
import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import BOTS, ROOT, data_path

from runner.walkforward import Window, windows

RUNNER = str(Path(sys.executable).with_name("runner"))
DAY = 24 * 3600 * 1000


def test_windows_roll_by_the_test_span_while_a_whole_test_window_fits() -> None:
    spans = windows(0, 100 * DAY - 1, 30 * DAY, 10 * DAY)
    assert len(spans) == 7  # tests start on days 30, 40, ..., 90
    assert spans[0] == Window(0, 0, 30 * DAY, 30 * DAY, 40 * DAY)
    assert spans[-1].test_end == 100 * DAY
    assert [w.test_start for w in spans] == [w.train_end for w in spans]
    assert all(b.test_start == a.test_end for a, b in itertools.pairwise(spans))  # tests tile
    assert len(windows(0, 100 * DAY - 1, 30 * DAY, 10 * DAY, step=20 * DAY)) == 4
    assert windows(0, 10 * DAY, 30 * DAY, 10 * DAY) == []
    with pytest.raises(ValueError):
        windows(0, DAY, 0, DAY)


def test_each_window_chooses_its_best_training_run_and_scores_it_out_of_sample(tmp_path: Path) -> None:
    candles = data_path("candles", "binance-spot", "BTCUSDT-1h.csv.gz")
    db = tmp_path / "runner.db"
    done = subprocess.run(
        [RUNNER, "walk-forward", str(BOTS / "ema_cross.yaml"), "--data", str(candles),
         "--from", "2025-01-01", "--to", "2025-06-30", "--train", "60d", "--test", "30d",
         "--grid", "ema_fast.period=10,20", "--grid", "candles.timeframe=1h,4h",
         "--objective", "sharpe", "--workers", "2", "--format", "json", "--db", str(db)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["windows"] and len(result["windows"]) == 4  # tests in Mar, Apr, May, Jun (Jun 30 is cut)
    with sqlite3.connect(db) as conn:
        runs = [(json.loads(p)["labels"], json.loads(s)) for p, s in conn.execute("SELECT params, summary FROM runs")]
    assert len(runs) == 4 * 4 + 4  # every combination trained on every window, one test each
    for window in result["windows"]:
        trained = [s for label, s in runs if label["window"] == window["window"] and label["role"] == "train"]
        (tested,) = [s for label, s in runs if label["window"] == window["window"] and label["role"] == "test"]
        assert window["in_sample"]["sharpe"] == max(s["sharpe"] for s in trained)
        assert window["out_of_sample"]["run_id"] == tested["run_id"]
        bar = {"1h": 3600 * 1000, "4h": 4 * 3600 * 1000}[window["params"]["candles.timeframe"]]
        assert tested["cycles"] == (window["test"][1] - window["test"][0]) // bar  # the whole 30 days, no more
    mean_in = sum(w["in_sample"]["sharpe"] for w in result["windows"]) / 4
    mean_out = sum(w["out_of_sample"]["sharpe"] for w in result["windows"]) / 4
    assert result["mean_in_sample"] == pytest.approx(mean_in)
    assert result["mean_out_of_sample"] == pytest.approx(mean_out)
    expected = min(max(1 - mean_out / mean_in, 0), 1) if mean_in > 0 else 0.0
    assert result["overfit_ratio"] == pytest.approx(expected)


def test_too_little_data_for_one_window_is_a_usage_error(tmp_path: Path) -> None:
    candles = data_path("candles", "binance-spot", "BTCUSDT-1h.csv.gz")
    done = subprocess.run(
        [RUNNER, "walk-forward", str(BOTS / "ema_cross.yaml"), "--data", str(candles), "--from", "2026-05-01",
         "--train", "90d", "--test", "30d", "--grid", "ema_fast.period=10,20", "--db", str(tmp_path / "r.db")],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2
    assert "shorter than one train + test window" in done.stderr
