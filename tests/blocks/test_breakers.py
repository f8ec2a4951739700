"""Breakers on real price paths: each trips on the right cycle, records it, and takes its action."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT, FakeTime, compile_yaml, data_path, real_candles

from blocks.planners.ema_cross import EmaCross
from runner.curves import decode_times, decode_values
from runner.cycle import Cycle
from runner.loop import ReplayClock
from runner.runs import RunOptions, backtest, paper
from runner.store import Store
from runner.trades import round_trips

PERP_EMA = """
bot: guarded_ema
version: 1.0.0
account: {{cash: 10000, quote: USDC}}
symbols: [BTC/USDC:USDC]
pipeline:
  - {{id: candles, uses: source.candles, with: {{timeframe: 1m}}}}
  - {{id: fast, uses: indicator.ema, with: {{of: candles.close, period: 10}}}}
  - {{id: slow, uses: indicator.ema, with: {{of: candles.close, period: 30}}}}
  - {{id: plan, uses: planner.ema_cross, with: {{fast: fast, slow: slow, allow_short: true, size: {{fraction: 1.0}}}}}}
  - {{id: guard, uses: {block}, with: {config}}}
  - {{id: exec, uses: executor.paper, with: {{fee_bps: 5, slippage_bps: 2, max_leverage: 5}}}}
"""


def run(tmp_path: Path, block: str, config: str, bars: int = 6_000) -> tuple[Store, dict[str, Any]]:
    store = Store(tmp_path / "r.db")
    bot = compile_yaml(PERP_EMA.format(block=block, config=config))
    summary = backtest(store, bot, RunOptions({"BTC/USDC:USDC": str(real_candles(tmp_path, bars))}))
    return store, summary


def rows(store: Store, sql: str, run_id: str) -> list[dict[str, Any]]:
    return store.rows(sql, (run_id,))


def test_drawdown_flatten_trips_on_the_first_cycle_past_the_limit(tmp_path: Path) -> None:
    store, summary = run(tmp_path, "validator.drawdown", "{max_drawdown_pct: 3, on_trip: flatten}")
    run_id = summary["run_id"]
    (trip,) = rows(store, "SELECT t, message FROM events WHERE run_id = ? AND kind = 'breaker'", run_id)
    (curve,) = rows(store, "SELECT times, values_ FROM equity_curves WHERE run_id = ?", run_id)
    times, equity = decode_times(curve["times"]), decode_values(curve["values_"])
    peak, first = 10_000.0, None
    for t, e in zip(times, equity, strict=True):
        if (1 - e / peak) * 100 >= 3:
            first = t
            break
        peak = max(peak, e)
    # the breaker sees each cycle's marked equity before the planners run: it trips on that very cycle
    assert first is not None and trip["t"] == first
    assert "below its peak" in trip["message"] and "flatten" in trip["message"]
    intents = rows(store, "SELECT t, step_id, kind, approved, verdicts FROM intents WHERE run_id = ?", run_id)
    after = [i for i in intents if i["t"] >= trip["t"]]
    assert [i["step_id"] for i in after if i["step_id"] == "guard"] == ["guard"]  # one close of its own
    assert all(not i["approved"] for i in after if i["step_id"] == "plan" and i["kind"] != "close")
    fills = rows(store, "SELECT * FROM fills WHERE run_id = ? ORDER BY t, id", run_id)
    trades = round_trips(fills)
    assert trades[-1].exit_t is not None and trades[-1].exit_t <= trip["t"] + 60_000  # flat by the next open
    assert all(t.entry_t <= trip["t"] for t in trades)


def test_halt_stops_the_planners_for_good(tmp_path: Path) -> None:
    store, summary = run(tmp_path, "validator.drawdown", "{max_drawdown_pct: 3, on_trip: halt}")
    run_id = summary["run_id"]
    halt = rows(store, "SELECT t, message FROM events WHERE run_id = ? AND kind = 'halt'", run_id)
    assert len(halt) == 1 and summary["halted"].startswith("guard: equity")
    intents = rows(store, "SELECT t FROM intents WHERE run_id = ?", run_id)
    assert intents and not [i for i in intents if i["t"] > halt[0]["t"]]


def test_position_timeout_closes_every_position_held_too_long(tmp_path: Path) -> None:
    store, summary = run(tmp_path, "validator.position_timeout", "{max_age: 20m}")
    fills = rows(store, "SELECT * FROM fills WHERE run_id = ? ORDER BY t, id", summary["run_id"])
    trades = [t for t in round_trips(fills) if t.exit_t is not None]
    assert trades and max(t.exit_t - t.entry_t for t in trades if t.exit_t) <= 21 * 60_000  # closed at the next open
    forced = rows(store, "SELECT message FROM events WHERE run_id = ? AND kind = 'breaker'", summary["run_id"])
    assert forced and all("timeout_20m" in e["message"] for e in forced)


def test_daily_loss_refuses_entries_for_the_rest_of_the_day_then_resets(tmp_path: Path) -> None:
    store, summary = run(tmp_path, "validator.daily_loss", "{max_loss_pct: 1}", bars=4 * 1440)
    run_id = summary["run_id"]
    events = rows(store, "SELECT t, message FROM events WHERE run_id = ? AND kind = 'breaker' ORDER BY t", run_id)
    trips = [e for e in events if "tripped" in e["message"]]
    assert trips
    intents = rows(store, "SELECT t, approved, verdicts, kind FROM intents WHERE run_id = ? ORDER BY t", run_id)
    for trip in trips:
        day_end = (trip["t"] // 86_400_000 + 1) * 86_400_000
        same_day = [i for i in intents if trip["t"] <= i["t"] < day_end and i["kind"] != "close"]
        assert all(not i["approved"] and "guard tripped" in i["verdicts"] for i in same_day)
    resets = [e for e in events if "reset" in e["message"]]
    assert resets and all(r["t"] % 86_400_000 < 60_000 * 2 for r in resets)  # the first cycle of a new day


def test_cooldown_refuses_entries_on_a_symbol_after_its_stop(tmp_path: Path) -> None:
    text = (ROOT / "bots" / "mean_reversion.yaml").read_text()
    text = text.replace(
        "  - id: exec", "  - id: cool\n    uses: validator.cooldown\n    with: {duration: 2h}\n  - id: exec"
    )
    text = text.replace("stop_loss_pct: 0.02", "stop_loss_pct: 0.004")  # tight stops: many of them
    store = Store(tmp_path / "r.db")
    candles = data_path("candles", "binance-usdm", "ETHUSDT-15m.csv.gz")
    options = RunOptions({"ETH/USDC:USDC": str(candles)}, 1756684800000, 1767225600000)  # 2025-09-01 .. 2026-01-01
    run_id = backtest(store, compile_yaml(text), options)["run_id"]
    stops = [
        o["t"] for o in rows(store, "SELECT t FROM orders WHERE run_id = ? AND reason LIKE 'stop-loss at%'", run_id)
    ]
    assert len(stops) >= 3
    entries = rows(store, "SELECT t, approved, verdicts FROM intents WHERE run_id = ? AND kind = 'target'", run_id)
    cooled = 0
    for stop in stops:
        within = [e for e in entries if stop <= e["t"] < stop + 2 * 3_600_000]
        assert all(not e["approved"] for e in within)
        cooled += sum("cooling down" in e["verdicts"] for e in within)
    events = rows(store, "SELECT message FROM events WHERE run_id = ? AND kind = 'breaker'", run_id)
    assert len(events) == len(stops) and all("stopped (stop-loss at" in e["message"] for e in events)


def test_losing_weeks_halts_where_three_weeks_in_a_row_lose(tmp_path: Path) -> None:
    """ema_cross over seven weeks of real BTC minutes loses most weeks: the halt comes on the first cycle where
    each of the last three 7-day windows closed trades at a net loss (recomputed here from the fills)."""
    text = (ROOT / "bots" / "ema_cross.yaml").read_text()
    text = text.replace(
        "  - id: exec", "  - id: weeks\n    uses: validator.losing_weeks\n    with: {weeks: 3}\n  - id: exec"
    )
    candles = str(data_path("candles", "binance-usdm", "BTCUSDT-1m.csv.gz"))
    store = Store(tmp_path / "r.db")
    summary = backtest(store, compile_yaml(text), RunOptions({"BTC/USDT": candles}))
    run_id = summary["run_id"]
    (halt,) = rows(store, "SELECT t, message FROM events WHERE run_id = ? AND kind = 'halt'", run_id)
    closed = [(f["t"], f["realized_pnl"]) for f in rows(store, "SELECT * FROM fills WHERE run_id = ?", run_id)]
    closed = [(t, p) for t, p in closed if p is not None]
    week = 7 * 86_400_000

    def losing(now: int) -> bool:
        windows = [[p for t, p in closed if now - (k + 1) * week < t <= now - k * week] for k in range(3)]
        return all(w and sum(w) < 0 for w in windows)

    first = halt["t"]  # the first cycle (a minute) at which the three windows all lose
    assert losing(first) and not losing(first - 60_000)
    assert summary["halted"].startswith("weeks: 3 losing weeks")
    assert not [i for i in rows(store, "SELECT t FROM intents WHERE run_id = ?", run_id) if i["t"] > halt["t"]]
    # started with --force: the trip is recorded and trading goes on
    forced = Store(tmp_path / "f.db")
    summary = backtest(forced, compile_yaml(text), RunOptions({"BTC/USDT": candles}, force=True))
    events = rows(forced, "SELECT t, message FROM events WHERE run_id = ?", summary["run_id"])
    assert [e["t"] for e in events] == [first] and "overridden by --force" in events[0]["message"]
    assert not summary["halted"] and summary["trades"] == 735


def test_funding_flip_flattens_a_perp_that_starts_paying(tmp_path: Path) -> None:
    """A month of shorts and longs on real Binance funding: the breaker trips on the first payment above 5% a
    year and closes the position at the next open."""
    funding = data_path("funding", "binance-usdm", "BTCUSDT-8h.csv")
    text = PERP_EMA.format(block="validator.funding_flip", config="{max_paid_annual_pct: 5, on_trip: flatten}")
    store = Store(tmp_path / "r.db")
    options = RunOptions({"BTC/USDC:USDC": str(real_candles(tmp_path, 8_000))}, funding={"BTC/USDC:USDC": str(funding)})
    run_id = backtest(store, compile_yaml(text), options)["run_id"]
    (trip,) = rows(store, "SELECT t, message FROM events WHERE run_id = ? AND kind = 'breaker'", run_id)
    paid = rows(store, "SELECT t, amount FROM ledger WHERE run_id = ? AND kind = 'funding' AND amount < 0", run_id)
    with open(funding) as f:
        rates = {int(line.split(",")[0]): float(line.split(",")[1]) for line in list(f)[1:]}
    # a payment's annualised rate is the venue's rate x 3 a day x 365 (payment = quantity x mark x rate)
    first = next(p["t"] for p in paid if abs(rates[p["t"]]) * 3 * 365 * 100 >= 5)
    assert trip["t"] == first and "paid funding at" in trip["message"]
    closes = rows(store, "SELECT t FROM intents WHERE run_id = ? AND step_id = 'guard'", run_id)
    assert [c["t"] for c in closes] == [trip["t"]]


def test_a_planner_that_keeps_failing_halts_the_bot(tmp_path: Path, plugin_dir: Path) -> None:
    """A third-party planner starts raising (an expired key, say): each failed cycle is an event with nothing
    sent, and the third failure in a row halts the bot instead of failing quietly every minute."""
    candles = real_candles(tmp_path, 600)
    fail_from = 1746372780000 + 300 * 60_000
    bot = tmp_path / "flaky.yaml"
    bot.write_text(
        "bot: flaky\nversion: 1.0.0\naccount: {cash: 1000, quote: USDT}\nsymbols: [BTC/USDT]\npipeline:\n"
        "  - {id: candles, uses: source.candles, with: {timeframe: 1m}}\n"
        f"  - {{id: plan, uses: planner.flaky, with: {{fail_from: {fail_from}}}}}\n"
        "  - {id: failures, uses: validator.failures, with: {max_consecutive: 3}}\n"
        "  - {id: exec, uses: executor.paper}\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {"PYTHONPATH": str(plugin_dir)}
    db = tmp_path / "r.db"
    done = subprocess.run(
        [sys.executable, "-m", "runner.cli", "backtest", str(bot), "--data", str(candles), "--format", "json",
         "--db", str(db)],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["halted"] == "failures: 3 cycles in a row failed"
    store = Store(db)
    events = rows(store, "SELECT t, kind, message FROM events WHERE run_id = ? ORDER BY id", summary["run_id"])
    errors = [e for e in events if e["kind"] == "block_error"]
    assert [e["t"] for e in errors] == [fail_from + k * 60_000 for k in range(3)]
    assert "401 Unauthorized" in errors[0]["message"]
    assert [e["kind"] for e in events[3:]] == ["breaker", "halt"] and events[3]["t"] == fail_from + 3 * 60_000
    assert summary["failed_cycles"] == 3


def test_a_step_with_on_error_halt_stops_the_bot_at_its_first_failure(tmp_path: Path, plugin_dir: Path) -> None:
    candles = real_candles(tmp_path, 400)
    fail_from = 1746372780000 + 200 * 60_000
    bot = tmp_path / "fragile.yaml"
    bot.write_text(
        "bot: fragile\nversion: 1.0.0\naccount: {cash: 1000, quote: USDT}\nsymbols: [BTC/USDT]\npipeline:\n"
        "  - {id: candles, uses: source.candles, with: {timeframe: 1m}}\n"
        f"  - {{id: plan, uses: planner.flaky, with: {{fail_from: {fail_from}}}, on_error: halt}}\n"
        "  - {id: exec, uses: executor.paper}\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {"PYTHONPATH": str(plugin_dir)}
    done = subprocess.run(
        [sys.executable, "-m", "runner.cli", "backtest", str(bot), "--data", str(candles), "--format", "json",
         "--db", str(tmp_path / "r.db")],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["halted"] == "plan failed and its on_error is halt" and summary["failed_cycles"] == 1


FAILING = """
bot: failing
version: 1.0.0
account: {cash: 1000, quote: USDT}
symbols: [BTC/USDT]
pipeline:
  - {id: candles, uses: source.candles, with: {timeframe: 1m}}
  - {id: fast, uses: indicator.ema, with: {of: candles.close, period: 3}}
  - {id: slow, uses: indicator.ema, with: {of: candles.close, period: 7}}
  - {id: plan, uses: planner.ema_cross, with: {fast: fast, slow: slow}, timeout: 30s}
  - {id: failures, uses: validator.failures, with: {max_consecutive: 3}}
  - {id: exec, uses: executor.paper}
"""
FAIL_FROM = 1_746_372_780_000 + 200 * 60_000  # the 201st bar of the real BTC file


@pytest.mark.parametrize(
    ("fault", "first", "then"),
    [
        ("raises", "RuntimeError: 401 Unauthorized: the API key expired", None),
        ("garbage", "TypeError: plan() must return a list of Intent, not 'BUY EVERYTHING NOW'", None),
        (
            "hangs",
            "timed out after 30s on try 1 of 1; the try is abandoned and whatever it returns is discarded",
            "the try abandoned in the cycle at 2025-05-04 18:53 is still running; the step is not called again "
            "until it returns",
        ),
    ],
)
def test_a_planner_that_raises_returns_garbage_or_hangs_three_cycles_in_a_row_halts_a_paper_bot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fault: str, first: str, then: str | None
) -> None:
    """A real planner breaks from one cycle on, three ways. Each failed cycle is recorded with its error and
    sends nothing; the third in a row trips validator.failures, which halts the bot with an event."""
    fake, release, calls = FakeTime(FAIL_FROM / 1000), threading.Event(), []
    start = EmaCross.start

    def broken(plan: Callable[[Cycle], Any], cycle: Cycle) -> Any:
        calls.append(cycle.t)
        if cycle.t < FAIL_FROM:
            return plan(cycle)
        if fault == "raises":
            raise RuntimeError("401 Unauthorized: the API key expired")
        if fault == "garbage":
            return "BUY EVERYTHING NOW"
        fake.hanging.set()
        release.wait(60)
        return []

    def start_broken(self: EmaCross, ctx: Any) -> None:
        start(self, ctx)
        self.plan = partial(broken, self.plan)  # type: ignore[method-assign]

    monkeypatch.setattr(EmaCross, "start", start_broken)
    store = Store(tmp_path / "r.db")
    try:
        summary = paper(store, compile_yaml(FAILING), RunOptions({"BTC/USDT": str(real_candles(tmp_path, 400))}),
                        ReplayClock(0), timing=fake.timing)  # fmt: skip
    finally:
        release.set()
    run_id = summary["run_id"]
    events = rows(store, "SELECT t, kind, message FROM events WHERE run_id = ? ORDER BY id", run_id)
    minute = 60_000
    then = then or first
    assert [(e["t"], e["kind"], e["message"]) for e in events] == [
        (FAIL_FROM, "block_error", f"step 'plan': {first}"),
        (FAIL_FROM + minute, "block_error", f"step 'plan': {then}"),
        (FAIL_FROM + 2 * minute, "block_error", f"step 'plan': {then}"),
        (FAIL_FROM + 3 * minute, "breaker", "failures tripped: 3 cycles in a row failed; action halt"),
        (FAIL_FROM + 3 * minute, "halt", "the bot stops trading: failures: 3 cycles in a row failed"),
    ]
    failed = rows(store, "SELECT t, error FROM cycles WHERE run_id = ? AND status = 'failed' ORDER BY t", run_id)
    assert [(c["t"], c["error"]) for c in failed] == [(e["t"], e["message"]) for e in events[:3]]
    assert not rows(store, "SELECT * FROM orders WHERE run_id = ? AND t >= " + str(FAIL_FROM), run_id)
    assert summary["halted"] == "failures: 3 cycles in a row failed"
    assert rows(store, "SELECT COUNT(*) AS n FROM cycles WHERE run_id = ?", run_id) == [{"n": 400}]
    # the planner is asked once per cycle until the halt, then never again; a hung one only the first time
    asked = sorted(set(calls))
    assert asked[-1] == (FAIL_FROM if fault == "hangs" else FAIL_FROM + 2 * minute)


def test_runner_run_prints_each_failure_the_trip_and_the_halt(tmp_path: Path, plugin_dir: Path) -> None:
    """What an operator watching `runner run` sees when a planner keeps failing: not a silent hold."""
    candles = real_candles(tmp_path, 300)
    fail_from = 1746372780000 + 250 * 60_000
    bot = tmp_path / "flaky.yaml"
    bot.write_text(
        "bot: flaky\nversion: 1.0.0\naccount: {cash: 1000, quote: USDT}\nsymbols: [BTC/USDT]\npipeline:\n"
        "  - {id: candles, uses: source.candles, with: {timeframe: 1m}}\n"
        f"  - {{id: plan, uses: planner.flaky, with: {{fail_from: {fail_from}}}}}\n"
        "  - {id: failures, uses: validator.failures, with: {max_consecutive: 2}}\n"
        "  - {id: exec, uses: executor.paper}\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {"PYTHONPATH": str(plugin_dir)}
    done = subprocess.run(
        [sys.executable, "-m", "runner.cli", "run", str(bot), "--replay", str(candles), "--db", str(tmp_path / "r.db")],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stdout.splitlines() if "flaky@1.0.0  " in line and "paper" not in line]
    assert lines == [
        "2025-05-04 19:43  flaky@1.0.0  error    step 'plan': RuntimeError: 401 Unauthorized: the API key expired",
        "2025-05-04 19:44  flaky@1.0.0  error    step 'plan': RuntimeError: 401 Unauthorized: the API key expired",
        "2025-05-04 19:45  flaky@1.0.0  breaker  failures tripped: 2 cycles in a row failed; action halt",
        "2025-05-04 19:45  flaky@1.0.0  halt     the bot stops trading: failures: 2 cycles in a row failed",
    ]
