"""Runs through the real CLI on real candles: replay equals backtest, crashes lose nothing, bad data is
refused before anything is recorded, and a deployed version never changes."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import BOTS, ROOT, data_path, real_candles

from runner.curves import decode_times, decode_values

RUNNER = str(Path(sys.executable).with_name("runner"))
EMA = str(BOTS / "ema_cross.yaml")


def cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([RUNNER, *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def query(db: Path, sql: str, *params: object) -> list[tuple[object, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql, params).fetchall()


def activity(db: Path, run_id: str) -> dict[str, list[tuple[object, ...]]]:
    """Everything a run decided and did, without the run id."""
    return {
        "intents": query(
            db,
            "SELECT t, step_id, leg, symbol, kind, side, payload, verdicts, approved FROM intents "
            "WHERE run_id = ? ORDER BY t, step_id, leg",
            run_id,
        ),
        "orders": query(
            db,
            "SELECT client_id, t, symbol, kind, side, order_type, price, status, reason FROM orders "
            "WHERE run_id = ? ORDER BY t, client_id",
            run_id,
        ),
        "fills": query(
            db,
            "SELECT client_id, t, symbol, side, quantity, price, fee, realized_pnl FROM fills "
            "WHERE run_id = ? ORDER BY t, client_id",
            run_id,
        ),
    }


def run_ids(db: Path, kind: str) -> list[str]:
    return [str(r[0]) for r in query(db, "SELECT id FROM runs WHERE kind = ? ORDER BY rowid", kind)]


def test_replaying_a_paper_run_through_backtest_gives_the_same_activity(tmp_path: Path) -> None:
    data, db = real_candles(tmp_path, 5_000), tmp_path / "r.db"
    assert cli("run", EMA, "--replay", str(data), "--quiet", "--db", str(db)).returncode == 0
    assert cli("backtest", EMA, "--data", str(data), "--db", str(db)).returncode == 0
    [paper], [backtest] = run_ids(db, "paper"), run_ids(db, "backtest")
    recorded, replayed = activity(db, paper), activity(db, backtest)
    assert len(recorded["fills"]) > 10
    assert recorded == replayed
    # the paper run's equity, cycle by cycle, is the backtest's stored curve to the last bit
    [(times, values)] = query(db, "SELECT times, values_ FROM equity_curves WHERE run_id = ?", backtest)
    curve = list(zip(decode_times(times), decode_values(values), strict=True))  # type: ignore[arg-type]
    assert curve == query(db, "SELECT t, equity FROM equity WHERE run_id = ? ORDER BY t", paper)
    assert len(curve) == 5_000


def test_sigkill_mid_run_then_restart_loses_no_cycle_and_sends_no_order_twice(tmp_path: Path) -> None:
    data, db, clean = real_candles(tmp_path, 3_000), tmp_path / "r.db", tmp_path / "clean.db"
    command = [RUNNER, "run", EMA, "--replay", str(data), "--speed", "6000", "--quiet", "--db", str(db)]
    victim = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        time.sleep(0.2)
        if db.exists() and _cycles(db) > 400:
            break
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    killed_at = _cycles(db)
    assert 0 < killed_at < 3_000, "the run must be killed in the middle"
    assert cli("run", EMA, "--replay", str(data), "--quiet", "--db", str(db)).returncode == 0
    assert cli("run", EMA, "--replay", str(data), "--quiet", "--db", str(clean)).returncode == 0
    [resumed], [reference] = run_ids(db, "paper"), run_ids(clean, "paper")
    times = [r[0] for r in query(db, "SELECT t FROM cycles WHERE run_id = ? ORDER BY t", resumed)]
    assert times == [r[0] for r in query(clean, "SELECT t FROM cycles WHERE run_id = ? ORDER BY t", reference)]
    assert activity(db, resumed) == activity(clean, reference)
    assert query(db, "SELECT kind FROM events WHERE run_id = ?", resumed) == [("resume",)]
    assert query(db, "SELECT status FROM runs") == [("finished",)]


def _cycles(db: Path) -> int:
    try:
        return int(query(db, "SELECT COUNT(*) FROM cycles")[0][0])  # type: ignore[call-overload]
    except sqlite3.OperationalError:
        return 0


def test_ctrl_c_stops_after_the_current_cycle(tmp_path: Path) -> None:
    data, db = real_candles(tmp_path, 3_000), tmp_path / "r.db"
    command = [RUNNER, "run", EMA, "--replay", str(data), "--speed", "3000", "--db", str(db)]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and _cycles(db) < 100:
        time.sleep(0.1)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert "stopping after the current cycle" in err
    [(status, last_t)] = query(db, "SELECT status, last_t FROM runs")
    assert status == "stopped"
    assert query(db, "SELECT MAX(t), COUNT(*) FROM cycles")[0][0] == last_t
    assert "paper" in out and "cycles" in out


BAD_DATA = [
    (
        "timestamp,open,high,low,close\n1,1,1,1,1\n",
        "missing column volume (found timestamp, open, high, low, close)",
        1,
    ),
    ("timestamp,open,high,low,close,volume\n", "no candles in the file", None),
    ("", "", None),
    (
        "timestamp,open,high,low,close,volume\n120000,1,2,1,1,1\n60000,1,2,1,1,1\n",
        "timestamp goes back in time 60000 (previous line has 120000)",
        3,
    ),
    (
        "timestamp,open,high,low,close,volume\n60000,1,2,1,1,1\n60000,1,2,1,1,1\n",
        "duplicate timestamp 60000 (previous line has 60000)",
        3,
    ),
    ("timestamp,open,high,low,close,volume\n60000,1,2,1,1,1\n120000,1,2,1,nan,1\n", "close is empty or NaN", 3),
    ("timestamp,open,high,low,close,volume\n60000,1,2,1,1,1\n120000,1,2,1,,1\n", "close is empty or NaN", 3),
    ("timestamp,open,high,low,close,volume\n60000,1,2,3,1,1\n", "impossible candle: low 3.0, high 2.0", 2),
]


@pytest.mark.parametrize(
    ("content", "message", "line"),
    BAD_DATA,
    ids=["missing_column", "empty", "no_header", "unsorted", "duplicate", "nan", "blank", "low_above_high"],
)
def test_bad_data_is_refused_with_file_and_line_and_nothing_is_recorded(
    tmp_path: Path, content: str, message: str, line: int | None
) -> None:
    data, db = tmp_path / "bad.csv", tmp_path / "r.db"
    data.write_text(content)
    result = cli("backtest", EMA, "--data", str(data), "--db", str(db))
    assert result.returncode == 1
    where = f"{data}:{line}: " if line else f"{data}: "
    assert result.stderr.startswith(f"runner backtest: {where}{message}"), result.stderr
    assert "Traceback" not in result.stderr
    assert query(db, "SELECT COUNT(*) FROM runs") == [(0,)]
    assert query(db, "SELECT COUNT(*) FROM deployments") == [(0,)]


def test_missing_data_file(tmp_path: Path) -> None:
    result = cli("backtest", EMA, "--data", str(tmp_path / "nope.csv"), "--db", str(tmp_path / "r.db"))
    assert result.returncode == 1
    assert result.stderr == f"runner backtest: {tmp_path / 'nope.csv'}: no such file\n"


def test_a_deployed_version_is_immutable(tmp_path: Path) -> None:
    data, db = real_candles(tmp_path, 500), tmp_path / "r.db"
    changed = tmp_path / "ema_cross.yaml"
    changed.write_text(Path(EMA).read_text().replace("period: 50", "period: 60"))
    assert cli("backtest", EMA, "--data", str(data), "--db", str(db)).returncode == 0
    refused = cli("backtest", str(changed), "--data", str(data), "--db", str(db))
    assert refused.returncode == 1
    assert refused.stderr == (
        "runner backtest: ema_cross 1.0.0 is already deployed with a different config:\n"
        "  ~ pipeline[2].with.period: 50 -> 60\n"
        "bump the version (e.g. to 1.0.1) to deploy these changes\n"
    )
    changed.write_text(changed.read_text().replace("version: 1.0.0", "version: 1.1.0"))
    assert cli("backtest", str(changed), "--data", str(data), "--db", str(db)).returncode == 0
    versions = cli("versions", "ema_cross", "--db", str(db)).stdout.splitlines()
    assert [line.split()[0] for line in versions] == ["version", "1.0.0", "1.1.0"]
    diff = cli("diff", "ema_cross", "1.0.0", "1.1.0", "--db", str(db)).stdout.splitlines()
    assert diff[1:] == ["  ~ pipeline[2].with.period: 50 -> 60", '  ~ version: "1.0.0" -> "1.1.0"']
    board = cli("leaderboard", "--db", str(db)).stdout
    assert "ema_cross@1.0.0" in board and "ema_cross@1.1.0" in board


def test_backtest_json_has_the_documented_fields(tmp_path: Path) -> None:
    import json

    result = cli(
        "backtest",
        EMA,
        "--data",
        str(real_candles(tmp_path, 2_000)),
        "--format",
        "json",
        "--db",
        str(tmp_path / "r.db"),
    )
    summary = json.loads(result.stdout)
    assert {
        "bars",
        "trades",
        "final_equity",
        "return_pct",
        "max_drawdown_pct",
        "sharpe",
        "fees",
        "elapsed_s",
        "run_id",
        "config_id",
    } <= set(summary)


def test_run_without_replay_says_what_to_do() -> None:
    result = cli("run", EMA)
    assert result.returncode == 2
    assert "--replay FILE" in result.stderr


@pytest.mark.skipif(os.name != "posix", reason="signals")
def test_several_bots_run_in_one_process(tmp_path: Path) -> None:
    btc, db = real_candles(tmp_path, 3_000), tmp_path / "r.db"
    sol = real_candles(tmp_path, 3_000, "SOLUSDT-1m.csv.gz")
    result = cli(
        "run",
        EMA,
        str(BOTS / "dca_buy.yaml"),
        "--replay",
        f"BTC/USDT={btc}",
        "--replay",
        f"SOL/USDT={sol}",
        "--db",
        str(db),
    )
    assert result.returncode == 0, result.stderr
    assert "ema_cross@1.0.0  fill" in result.stdout and "dca_buy@1.0.0  fill" in result.stdout
    assert sorted(r[0] for r in query(db, "SELECT deployment_id FROM runs")) == ["dca_buy@1.0.0", "ema_cross@1.0.0"]


def test_explain_walks_an_order_back_to_its_deployment(tmp_path: Path) -> None:
    db = tmp_path / "r.db"
    assert cli("backtest", EMA, "--data", str(real_candles(tmp_path, 2_000)), "--db", str(db)).returncode == 0
    [(client_id, run_id)] = query(
        db, "SELECT client_id, run_id FROM orders WHERE status = 'filled' ORDER BY t DESC LIMIT 1"
    )
    config_id = query(db, "SELECT config_id FROM deployments")[0][0]
    lines = cli("explain", str(client_id), "--db", str(db)).stdout.splitlines()
    assert lines[0].startswith(f"order {client_id}  BTC/USDT ")
    assert lines[0].endswith("status filled")
    assert any(line.startswith("  reason: ema_fast ") and "crossed" in line for line in lines)
    assert "  verdict limits: approve" in lines
    assert f"run {run_id} (backtest, started" in "\n".join(lines)
    assert f"deployment ema_cross@1.0.0  config {config_id}" in lines
    assert cli("explain", "--last", "--db", str(db)).stdout.splitlines()[0].startswith("order br-")
    missing = cli("explain", "br-nope", "--db", str(db))
    assert (missing.returncode, missing.stderr) == (1, "runner explain: no order br-nope\n")


def test_once_records_one_cycle_and_the_next_call_continues_the_run(tmp_path: Path) -> None:
    data, db = real_candles(tmp_path, 300), tmp_path / "r.db"
    for expected in (1, 2, 3):
        result = cli("run", EMA, "--replay", str(data), "--once", "--quiet", "--db", str(db))
        assert result.returncode == 0, result.stderr
        assert query(db, "SELECT COUNT(*), COUNT(DISTINCT run_id) FROM cycles") == [(expected, 1)]
    assert query(db, "SELECT status FROM runs") == [("stopped",)]
    times = [r[0] for r in query(db, "SELECT t FROM cycles ORDER BY t")]
    assert times[1] - times[0] == times[2] - times[1] == 60_000


def test_a_paper_perp_replayed_with_funding_pays_what_its_backtest_pays(tmp_path: Path) -> None:
    """Perp shorts and longs over real candles across real Binance funding times: the paper run and the
    backtest book the same funding, fills and equity."""
    funding = data_path("funding", "binance-usdm", "BTCUSDT-8h.csv")
    data, db = real_candles(tmp_path, 3_000), tmp_path / "r.db"
    text = (BOTS / "ema_cross.yaml").read_text()
    text = text.replace("version: 1.0.0", "version: 1.0.0-perp").replace("BTC/USDT]", "BTC/USDT:USDT]")
    text = text.replace("size: {fraction: 1.0}}", "size: {fraction: 0.5}, allow_short: true}")
    bot = tmp_path / "perp.yaml"
    bot.write_text(text)
    assert (
        cli("run", str(bot), "--replay", str(data), "--funding", str(funding), "--quiet", "--db", str(db)).returncode
        == 0
    )
    assert cli("backtest", str(bot), "--data", str(data), "--funding", str(funding), "--db", str(db)).returncode == 0
    [paper], [backtest] = run_ids(db, "paper"), run_ids(db, "backtest")
    assert activity(db, paper) == activity(db, backtest)
    sql = "SELECT t, symbol, amount FROM ledger WHERE run_id = ? AND kind = 'funding' ORDER BY t"
    paid = query(db, sql, paper)
    assert len(paid) >= 5  # 3,000 minutes hold at least six 8-hour funding times
    assert paid == query(db, sql, backtest)
    summaries = dict(query(db, "SELECT kind, summary FROM runs"))
    assert json.loads(summaries["paper"])["funding"] == pytest.approx(json.loads(summaries["backtest"])["funding"])
    assert json.loads(summaries["paper"])["funding"] == pytest.approx(-sum(row[2] for row in paid))


def test_a_dry_run_validates_and_records_every_order_and_sends_none(tmp_path: Path) -> None:
    data, db = real_candles(tmp_path, 2_000), tmp_path / "r.db"
    bot = tmp_path / "dry.yaml"
    bot.write_text((BOTS / "ema_cross.yaml").read_text().replace("version: 1.0.0", "version: 1.0.0\nmode: dry-run"))
    assert cli("run", str(bot), "--replay", str(data), "--quiet", "--db", str(db)).returncode == 0
    assert cli("run", EMA, "--replay", str(data), "--quiet", "--db", str(db)).returncode == 0
    dry, paper = run_ids(db, "paper")
    orders = query(db, "SELECT status, reason FROM orders WHERE run_id = ?", dry)
    assert len(orders) > 10 and set(orders) == {("not_sent", "dry-run: validated and recorded, never sent")}
    assert query(db, "SELECT COUNT(*) FROM fills WHERE run_id = ?", dry) == [(0,)]
    assert {e for (e,) in query(db, "SELECT equity FROM equity WHERE run_id = ?", dry)} == {10_000.0}
    # the same decisions as the paper run of the same file: mode is not part of the deployment
    assert activity(db, dry)["intents"] == activity(db, paper)["intents"]
    assert query(db, "SELECT COUNT(DISTINCT deployment_id) FROM runs") == [(1,)]


@pytest.mark.skipif(os.name != "posix", reason="signals")
def test_a_second_runner_run_of_the_same_bot_and_data_is_refused_while_the_first_runs(tmp_path: Path) -> None:
    """Before the run lock, the second process resumed the first one's run and failed on its cycles."""
    data, db = real_candles(tmp_path, 2_000), tmp_path / "r.db"
    command = [RUNNER, "run", EMA, "--replay", str(data), "--speed", "3000", "--quiet", "--db", str(db)]
    first = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and _cycles(db) < 20:
        time.sleep(0.05)
    second = cli(*command[1:])
    first.send_signal(signal.SIGINT)
    _, err = first.communicate(timeout=60)
    assert first.returncode == 0, err
    assert second.returncode == 1
    assert second.stderr.startswith(
        f"runner run: ema_cross@1.0.0: already running over the same data (pid {first.pid} on "
    ), second.stderr
    assert query(db, "SELECT status FROM runs") == [("stopped",)]
    assert cli(*command[1:3], "--replay", str(data), "--quiet", "--db", str(db)).returncode == 0  # resumes, as before
    assert query(db, "SELECT status, COUNT(*) FROM runs") == [("finished", 1)]


TRADER = """
bot: paused_ema
version: 1.0.0
account: {cash: 10000, quote: USDC}
symbols: [BTC/USDC:USDC]
pipeline:
  - {id: candles, uses: source.candles, with: {timeframe: 1m}}
  - {id: fast, uses: indicator.ema, with: {of: candles.close, period: 5}}
  - {id: slow, uses: indicator.ema, with: {of: candles.close, period: 15}}
  - {id: plan, uses: planner.ema_cross, with: {fast: fast, slow: slow, allow_short: true, size: {fraction: 0.5}}}
  - {id: exec, uses: executor.paper, with: {max_leverage: 5}}
"""


@pytest.mark.parametrize("paused", ["while-stopped", "before-the-stop"])
def test_a_resumed_run_takes_operator_commands_at_the_cycles_an_unbroken_run_would(tmp_path: Path, paused: str) -> None:
    """A pause given while the bot is stopped is taken at its first new cycle, not in the recomputed ones; a
    pause it took before it stopped is taken again at the same cycle. Either way the run records what a run
    that never stopped records."""
    from conftest import compile_yaml

    from runner import controls
    from runner.cycle import Cycle
    from runner.runs import RunOptions, paper
    from runner.store import Store

    bot = compile_yaml(TRADER)
    data = RunOptions({"BTC/USDC:USDC": str(real_candles(tmp_path, 400))})
    t0 = 1_746_372_780_000  # the first candle's close
    pause_after, stop_after = t0 + 200 * 60_000, t0 + (200 if paused == "while-stopped" else 300) * 60_000

    def run(db: Path, stop_at: int | None) -> None:
        store = Store(db)

        def echo(cycle: Cycle) -> None:
            seen.append(cycle.t)
            if cycle.t == pause_after and not (paused == "while-stopped" and stop_at is not None):
                controls.send(store, "paused_ema", "pause")

        seen: list[int] = []
        try:
            paper(store, bot, data, echo=echo, stop=lambda: stop_at is not None and bool(seen) and seen[-1] >= stop_at)
            if stop_at is not None and paused == "while-stopped":
                controls.send(store, "paused_ema", "pause")
        finally:
            store.close()

    run(tmp_path / "unbroken.db", None)
    run(tmp_path / "broken.db", stop_after)
    run(tmp_path / "broken.db", None)

    def recorded(db: Path) -> tuple[list[tuple[object, ...]], ...]:
        with sqlite3.connect(db) as conn:
            return (
                conn.execute("SELECT t, equity FROM equity ORDER BY t").fetchall(),
                conn.execute("SELECT t, kind, message FROM events WHERE kind != 'resume' ORDER BY t, id").fetchall(),
                conn.execute("SELECT command, taken_t FROM controls").fetchall(),
                conn.execute("SELECT t, symbol, side, quantity, price FROM fills ORDER BY t, id").fetchall(),
            )

    unbroken, broken = recorded(tmp_path / "unbroken.db"), recorded(tmp_path / "broken.db")
    assert broken[2] == unbroken[2] == [("pause", pause_after + 60_000)]
    assert [e[2] for e in broken[1]] == ["paused by the operator: no planner runs until resume"]
    assert broken == unbroken
    assert unbroken[3] and all(t <= pause_after + 60_000 for t, *_ in unbroken[3])


def test_a_run_resumes_only_over_the_same_start(tmp_path: Path) -> None:
    """A stopped run is resumed by a restart over the same data from the same start; from another start it is
    another run (resuming it would rebuild a state it never had)."""
    from conftest import compile_yaml

    from runner.cycle import Cycle
    from runner.runs import RunOptions, paper
    from runner.store import Store

    bot = compile_yaml(TRADER)
    data = {"BTC/USDC:USDC": str(real_candles(tmp_path, 120))}
    t0 = 1_746_372_780_000
    store = Store(tmp_path / "r.db")
    seen: list[int] = []

    def echo(cycle: Cycle) -> None:
        seen.append(cycle.t)

    def stop() -> bool:
        return len(seen) >= 10

    first = paper(store, bot, RunOptions(data, start=t0 + 20 * 60_000), echo=echo, stop=stop)["run_id"]
    seen.clear()
    other = paper(store, bot, RunOptions(data, start=t0 + 30 * 60_000), echo=echo, stop=stop)["run_id"]
    seen.clear()
    again = paper(store, bot, RunOptions(data, start=t0 + 20 * 60_000), echo=echo)["run_id"]
    assert other != first and again == first
    rows = store.rows("SELECT id, status FROM runs ORDER BY started_at")
    assert [(r["id"], r["status"]) for r in rows] == [(first, "finished"), (other, "stopped")]
    store.close()
