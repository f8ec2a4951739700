"""runner check-lookahead: honest bots pass on real data; a third-party block that reads ahead is caught
and named."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import BOTS, ROOT, real_candles

from blocks.sources.candle_files import load_candles, until

PEEKING_BOT = """\
bot: peeking
version: 1.0.0
account: {cash: 10000, quote: USDT}
symbols: [BTC/USDT]
pipeline:
  - {id: candles, uses: source.candles, with: {timeframe: 1m, history: 50}}
  - {id: peek, uses: indicator.peek, with: {of: candles.close}}
  - {id: ema_slow, uses: indicator.ema, with: {of: candles.close, period: 30}}
  - {id: plan, uses: planner.ema_cross, with: {fast: peek, slow: ema_slow}}
  - {id: exec, uses: executor.paper, with: {fee_bps: 2, slippage_bps: 0}}
"""


def check(*args: str, plugin: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    if plugin is not None:
        env["PYTHONPATH"] = str(plugin)
    return subprocess.run(
        [sys.executable, "-m", "runner.cli", "check-lookahead", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_the_reference_bot_decides_the_same_on_every_prefix(tmp_path: Path) -> None:
    data = real_candles(tmp_path, 20_000)
    done = check(str(BOTS / "ema_cross.yaml"), "--data", str(data), "--cuts", "3", "--format", "json")
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(done.stdout)
    assert result["ok"] and len(result["cuts"]) == 3
    assert result["indicators_checked"] == ["ema_fast.value", "ema_slow.value"]
    assert all(cut["intents"] > 10 and not cut["problems"] for cut in result["cuts"])
    assert result["cuts"][-1]["cycles"] < result["cycles"]


def test_a_block_whose_batch_reads_the_next_bar_is_caught_and_named(tmp_path: Path, plugin_dir: Path) -> None:
    bot = tmp_path / "peeking.yaml"
    bot.write_text(PEEKING_BOT)
    data = real_candles(tmp_path, 5_000)
    done = check(str(bot), "--data", str(data), "--cuts", "2", plugin=plugin_dir)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "indicator peek.value" in done.stdout and "its batch() reads later bars" in done.stdout
    assert "look-ahead found" in done.stdout


def test_cutting_a_series_keeps_only_the_bars_closed_by_then(tmp_path: Path) -> None:
    series = load_candles(str(real_candles(tmp_path, 100)))
    close_of_tenth = series.time[9] + series.timeframe_ms
    cut = until(series, close_of_tenth)
    assert len(cut) == 10 and list(cut.close) == list(series.close[:10])
    assert len(until(series, close_of_tenth + series.timeframe_ms - 1)) == 10  # the 11th has not closed yet
    assert until(series, series.time[-1] + series.timeframe_ms) is series
