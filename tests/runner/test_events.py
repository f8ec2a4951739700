"""``runner events``: the trips, halts and failures of a bot's run, as an operator reads them after the fact."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

from conftest import BOTS, ROOT, data_path

from runner.cli import main


def cli(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return code, out.getvalue(), err.getvalue()


def test_events_lists_the_breaker_trips_of_the_latest_run(tmp_path: Path) -> None:
    data = str(data_path("candles", "binance-usdm", "ETHUSDT-15m.csv.gz"))
    db = str(tmp_path / "r.db")
    rules = str(ROOT / "examples" / "house_rules.yaml")
    code, _, err = cli("backtest", str(BOTS / "mean_reversion.yaml"), "--data", data, "--risk", rules, "--db", db)
    assert code == 0, err
    code, out, _ = cli("events", "mean_reversion", "--kind", "breaker", "--db", db)
    lines = out.splitlines()
    assert (
        code == 0 and lines[0].startswith("mean_reversion: run ") and "(backtest, finished), 17 event(s)" in lines[0]
    )  # 8 daily trips and resets, 1 drawdown
    trips = [line for line in lines[1:] if "house_drawdown tripped" in line]
    assert len(trips) == 1 and trips[0].startswith("2025-10-21 15:30  breaker ")
    code, out, _ = cli("events", "mean_reversion", "--format", "json", "--limit", "0", "--db", db)
    events = json.loads(out)["events"]
    assert {e["kind"] for e in events} >= {"breaker"}
    assert sum("house_daily_loss tripped" in e["message"] for e in events) == 8


def test_events_names_an_unknown_bot(tmp_path: Path) -> None:
    code, _, err = cli("events", "ghost", "--db", str(tmp_path / "r.db"))
    assert code == 1 and "no run of 'ghost'" in err
