"""Every candle bot in bots/ backtests on real data from ../shared/data and runs in paper with --replay.
(The subnet bots are exercised on the real subnet data in test_alpha_bots.py.)"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import BOTS, ROOT, data_path

RUNNER = str(Path(sys.executable).with_name("runner"))

# bot -> (candles file under shared/data/candles, backtest window, whether it must trade there)
CANDLE_BOTS = {
    "noop": ("binance-usdm/BTCUSDT-1m.csv.gz", ("2025-05-10", "2025-05-12"), False),
    "ema_cross": ("binance-usdm/BTCUSDT-1m.csv.gz", ("2025-05-10", "2025-05-12"), True),
    "dca_buy": ("binance-spot/SOLUSDT-1h.csv.gz", ("2025-01-01", "2025-03-01"), True),
    "market_maker_basic": ("binance-usdm/BTCUSDT-1m.csv.gz", ("2025-05-10", "2025-05-12"), True),
    "mean_reversion": ("binance-usdm/ETHUSDT-15m.csv.gz", ("2025-09-01", "2026-01-01"), True),
}


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([RUNNER, *args], cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_every_candle_bot_is_covered() -> None:
    elsewhere = {
        "alpha_dca",
        "alpha_momentum",
        "alpha_yield",
        "llm_perp_trader",
    }  # test_alpha_bots, test_llm_perp_trader
    assert {p.stem for p in BOTS.glob("*.yaml")} - elsewhere == set(CANDLE_BOTS)


@pytest.mark.parametrize("name", sorted(CANDLE_BOTS))
def test_backtests_and_paper_trades_on_real_candles(name: str, tmp_path: Path) -> None:
    file, (start, end), trades = CANDLE_BOTS[name]
    candles = str(data_path("candles", *file.split("/")))
    bot, db = str(BOTS / f"{name}.yaml"), str(tmp_path / "r.db")
    done = cli("backtest", bot, "--data", candles, "--from", start, "--to", end, "--format", "json", "--db", db)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["cycles"] > 0 and summary["failed_cycles"] == 0
    assert (summary["fills"] > 0) == trades, summary
    paper = cli("run", bot, "--replay", candles, "--from", start, "--until", f"{start}T06:00", "--quiet", "--db", db)
    assert paper.returncode == 0, paper.stderr
    (recorded,) = summaries(db, "paper")
    assert recorded["cycles"] > 0


def summaries(db: str, kind: str) -> list[dict[str, object]]:
    with sqlite3.connect(db) as conn:
        return [json.loads(s) for (s,) in conn.execute("SELECT summary FROM runs WHERE kind = ?", (kind,))]
