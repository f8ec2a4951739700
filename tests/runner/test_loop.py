"""The loop: cycles aligned to the cadence, injected clocks, and warm-up windows, on real files."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from conftest import FakeTime, compile_yaml, real_candles

from runner.attempts import Timing
from runner.cycle import BuildContext, Cycle, Pipeline
from runner.durations import format_time
from runner.loop import BacktestClock, ReplayClock, WallClock, Window, drive
from runner.recorder import BacktestRecorder

BOT = """
bot: loop
version: 1.0.0
every: {every}
symbols: [BTC/USDT]
pipeline:
  - {{id: candles, uses: source.candles, with: {{timeframe: 1m}}}}
  - {{id: ema, uses: indicator.ema, with: {{of: candles.close, period: 1}}}}
  - {{id: plan, uses: planner.noop}}
  - {{id: exec, uses: executor.paper}}
"""
T0 = 1_700_000_000_000 - 1_700_000_000_000 % 300_000  # aligned to 5 minutes


def candles(tmp_path: Path, closes: list[float], skip: tuple[int, ...] = ()) -> Path:
    path = tmp_path / "c.csv"
    lines = ["timestamp,open,high,low,close,volume"]
    lines += [f"{T0 + i * 60_000},{c},{c},{c},{c},1" for i, c in enumerate(closes) if i not in skip]
    path.write_text("\n".join(lines) + "\n")
    return path


class Seen:
    """A recorder that keeps what each cycle saw."""

    def __init__(self, slot: int = 0) -> None:
        self.slot = slot
        self.cycles: list[tuple[int, int, float]] = []

    def record(self, cycle: Cycle) -> None:
        self.cycles.append((cycle.t, cycle.bars, cycle.lanes["BTC/USDT"][self.slot]))


def pipeline(tmp_path: Path, every: str, closes: list[float], skip: tuple[int, ...] = ()) -> Pipeline:
    bot = compile_yaml(BOT.format(every=every))
    p = Pipeline(bot, BuildContext(bot, data={"BTC/USDT": str(candles(tmp_path, closes, skip))}))
    p.open()
    return p


def test_a_coarser_cadence_feeds_every_bar_and_plans_once_per_cycle(tmp_path: Path) -> None:
    p = pipeline(tmp_path, "5m", [float(i) for i in range(1, 11)])
    seen = Seen(p.ctx.slot("ema"))
    assert drive(p, seen, BacktestClock(), 300_000) == 2
    # cycle t is the close of its last bar; the indicator saw all five bars (its value is the last close)
    assert seen.cycles == [(T0 + 300_000, 5, 5.0), (T0 + 600_000, 5, 10.0)]


def test_gaps_stay_gaps(tmp_path: Path) -> None:
    p = pipeline(tmp_path, "1m", [1.0, 2.0, 3.0, 4.0], skip=(2,))
    seen = Seen()
    drive(p, seen, BacktestClock(), 60_000)
    assert [t for t, _, _ in seen.cycles] == [T0 + 60_000, T0 + 120_000, T0 + 240_000]


def test_replay_clock_sleeps_scaled_gaps_with_injected_time(tmp_path: Path) -> None:
    now = [100.0]
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(round(seconds, 9))
        now[0] += seconds

    p = pipeline(tmp_path, "1m", [1.0, 2.0, 3.0, 4.0], skip=(2,))
    drive(p, Seen(), ReplayClock(60, now=lambda: now[0], sleep=sleep), 60_000)
    assert sleeps == [1.0, 2.0]  # a minute of market per second; the gap takes twice as long


def test_wall_clock_waits_for_each_candle_close_plus_settle_and_never_runs_early() -> None:
    now = [1_700_000_000.5]  # half a second after a minute's close
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(round(seconds, 6))
        now[0] += seconds * 0.999  # sleep may wake a hair early: the clock must wait again, not run early

    clock = WallClock(settle_s=2.0, now=lambda: now[0], sleep=sleep)
    clock.wait_until(1_700_000_000_000)
    assert now[0] >= 1_700_000_002.0 and sleeps[0] == 1.5
    clock.wait_until(1_700_000_060_000)
    assert now[0] >= 1_700_000_062.0
    sleeps.clear()
    now[0] = 1_700_000_500.0  # the process was suspended: the missed close runs at once
    clock.wait_until(1_700_000_120_000)
    assert sleeps == []


def test_warm_up_before_the_window_is_not_recorded(tmp_path: Path) -> None:
    p = pipeline(tmp_path, "1m", [float(i) for i in range(1, 11)])
    seen = Seen()
    drive(p, seen, BacktestClock(), 60_000, Window(start=T0 + 8 * 60_000, end=T0 + 9 * 60_000))
    assert [t for t, _, _ in seen.cycles] == [T0 + 480_000, T0 + 540_000]


FIRST, DAY = 1_746_372_780_000, 86_400_000  # the first candle of the real BTC file, and a day


def _backtest(bot: Any, data: dict[str, str], mode: str, window: Window | None = None) -> tuple[Any, ...]:
    """What a backtest recorded, through the sparse fast path, the fast path on every bar, or the generic loop."""
    p = Pipeline(bot, BuildContext(bot, data=data))
    p.open()
    if mode == "every bar":
        for _, planner in p.planners:
            planner.wake = lambda *args: None  # type: ignore[method-assign]
    recorder = BacktestRecorder("r")
    clock = ReplayClock(0) if mode == "generic" else BacktestClock()  # any other clock takes the generic path
    drive(p, recorder, clock, 60_000, window)
    return (
        list(recorder.times),
        list(recorder.equity),
        [(f.t, f.side, f.price, f.quantity, f.fee) for f in recorder.fills],
        [(row["t"], row["payload"], row["verdicts"]) for row in recorder.intents],
    )


@pytest.mark.parametrize(
    ("periods", "window", "symbol"),
    [
        ((20, 50), None, "BTC/USDT"),
        ((5, 13), Window(start=FIRST + 3 * DAY, end=FIRST + 15 * DAY), "BTC/USDT"),
        ((3, 7), None, "BTC/USDT:USDT"),
    ],
    ids=["20-50", "window", "perp-short"],
)
def test_skipping_quiet_bars_changes_nothing_on_real_data(
    tmp_path: Path, periods: tuple[int, int], window: Window | None, symbol: str
) -> None:
    """The sparse backtest (visiting only cross bars and fill bars) records exactly what visiting every bar
    records, and what the generic loop records: equity of every bar, fills, intents and verdicts."""
    text = (Path(__file__).parents[2] / "bots" / "ema_cross.yaml").read_text()
    text = text.replace("period: 20", f"period: {periods[0]}").replace("period: 50", f"period: {periods[1]}")
    text = text.replace("BTC/USDT", symbol).replace("max_leverage: 1", "max_leverage: 2")
    if symbol.endswith(":USDT"):
        text = text.replace("size: {fraction: 1.0}}", "size: {fraction: 0.5}, allow_short: true}")
    bot = compile_yaml(text)
    data = {symbol: str(real_candles(tmp_path, 30_000))}
    sparse, dense, generic = (_backtest(bot, data, mode, window) for mode in ("sparse", "every bar", "generic"))
    assert len(sparse[2]) > 50 and len(sparse[0]) == len(sparse[1]) > 17_000
    assert sparse == dense
    assert sparse == generic


class Flaky:
    """Wraps a planner so that it raises on every third call: a fault injected into a real block."""

    def __init__(self, plan):  # type: ignore[no-untyped-def]
        self.plan, self.calls = plan, 0

    def __call__(self, cycle: Cycle):  # type: ignore[no-untyped-def]
        self.calls += 1
        if self.calls % 3 == 0:
            raise RuntimeError("feed went away")
        return self.plan(cycle)


def test_a_raising_planner_fails_its_cycle_sends_nothing_and_the_run_goes_on(tmp_path: Path) -> None:
    closes = [100 + (i % 17) - (i % 5) * 1.5 for i in range(400)]
    bot_text = (Path(__file__).parents[2] / "bots" / "ema_cross.yaml").read_text()
    bot = compile_yaml(bot_text.replace("period: 20", "period: 3").replace("period: 50", "period: 7"))
    for clock in (BacktestClock(), ReplayClock(0)):  # the fast path and the generic loop
        p = Pipeline(bot, BuildContext(bot, data={"BTC/USDT": str(candles(tmp_path, closes))}))
        p.open()
        planner = p.planners[0][1]
        planner.plan = flaky = Flaky(planner.plan)  # type: ignore[method-assign]
        recorder = BacktestRecorder("r")
        drive(p, recorder, clock, 60_000)
        failed = {e["t"] for e in recorder.events}
        assert flaky.calls > 30 and len(failed) == flaky.calls // 3  # the fast path calls it on cross bars only
        assert all(e["message"] == "step 'plan': RuntimeError: feed went away" for e in recorder.events)
        assert recorder.orders and not failed & {o.t for o in recorder.orders}
        assert len(recorder.equity) == 400


def faulty(function: Callable[..., Any], on_call: int) -> Callable[..., Any]:
    """``function``, but raising ZeroDivisionError on call number ``on_call``: a fault injected into a real block."""
    calls = [0]

    def wrapped(*args: Any) -> Any:
        calls[0] += 1
        if calls[0] == on_call:
            raise ZeroDivisionError("division by zero")
        return function(*args)

    return wrapped


@pytest.mark.parametrize("step", ["ema", "exec"])
def test_an_indicator_or_executor_that_raises_stops_the_run_naming_its_step(tmp_path: Path, step: str) -> None:
    from runner.errors import BlockError

    bot = compile_yaml(BOT.format(every="1m"))
    for clock in (BacktestClock(), ReplayClock(0)):  # the fast path and the generic loop
        p = Pipeline(bot, BuildContext(bot, data={"BTC/USDT": str(candles(tmp_path, [1.0, 2.0, 3.0]))}))
        block: Any = next(b for _, b in p.blocks if b.step_id == step)
        if step == "ema":  # its update function raises on the second bar (streaming: no batch form)
            start = block.start
            block.batch = lambda *columns: None
            block.start = lambda symbol, start=start: faulty(start(symbol), on_call=2)
        else:  # the executor raises the first time it is asked to settle a bar
            block.on_bar = faulty(block.on_bar, on_call=1)
        p.open()
        with pytest.raises(BlockError) as caught:
            drive(p, BacktestRecorder("r"), clock, 60_000)
        assert str(caught.value) == f"step '{step}': ZeroDivisionError: division by zero"


class Temporary:
    """Wraps a planner so that its calls number ``failing`` raise ``error``: a fault injected into a real block."""

    def __init__(self, plan: Callable[[Cycle], Any], failing: set[int], error: Exception) -> None:
        self.plan, self.failing, self.error, self.calls = plan, failing, error, 0

    def __call__(self, cycle: Cycle) -> Any:
        self.calls += 1
        if self.calls in self.failing:
            raise self.error
        return self.plan(cycle)


@pytest.mark.parametrize(
    ("error", "failed"),
    [
        (ConnectionResetError("reset by peer"), []),
        (ValueError("bad reply"), ["step 'plan': ValueError: bad reply (not a temporary error: not retried)"]),
    ],
    ids=["temporary", "permanent"],
)
def test_a_step_retries_temporary_errors_in_both_loops_and_fails_at_once_on_others(
    tmp_path: Path, error: Exception, failed: list[str]
) -> None:
    closes = [100 + (i % 17) - (i % 5) * 1.5 for i in range(200)]
    bot_text = (Path(__file__).parents[2] / "bots" / "ema_cross.yaml").read_text()
    bot_text = bot_text.replace("period: 20", "period: 3").replace("period: 50", "period: 7")
    bot = compile_yaml(bot_text.replace("size: {fraction: 1.0}}", "size: {fraction: 1.0}}\n    retries: 2"))
    outcomes = []
    for clock in (BacktestClock(), ReplayClock(0)):  # the fast path and the generic loop
        sleeps: list[float] = []
        p = Pipeline(bot, BuildContext(bot, data={"BTC/USDT": str(candles(tmp_path, closes))}), Timing(sleeps.append))
        p.open()
        planner = p.planners[0][1]
        planner.plan = faulty = Temporary(planner.plan, {5, 6}, error)  # type: ignore[method-assign]
        recorder = BacktestRecorder("r")
        drive(p, recorder, clock, 60_000)
        events = [(e["kind"], e["message"]) for e in recorder.events]
        outcomes.append((events, [o.t for o in recorder.orders]))
        if failed:
            assert events == [("block_error", failed[0])] * 2 and sleeps == []  # calls 5 and 6: two cycles
        else:
            assert events == [
                ("retry", "step 'plan': ConnectionResetError: reset by peer; try 2 of 3 in 1s"),
                ("retry", "step 'plan': ConnectionResetError: reset by peer; try 3 of 3 in 2s"),
            ]
            assert sleeps == [1, 2] and faulty.calls > 7
    if not failed:  # retried in time, the faults change nothing: both loops send the same orders
        assert outcomes[0] == outcomes[1] and len(outcomes[0][1]) > 10


@pytest.mark.parametrize("kind", ["wall", "replay at 60x"])
def test_a_cycle_that_outlasts_the_cadence_skips_the_missed_ticks_and_no_cycle_overlaps(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    """A paper run on the wall clock or a fast replay (fake time, so instant) whose planner once takes 200 s of
    a 1m cadence: the two ticks that came due meanwhile are skipped with an event, not run as a burst; their
    bars reach the next cycle; every cycle starts after the one before it ended, and none early."""
    from blocks.planners.ema_cross import EmaCross
    from runner.runs import RunOptions, paper
    from runner.store import Store

    fake, minute = FakeTime(FIRST / 1000), 60_000
    tick = [FIRST + (k + 1) * minute for k in range(30)]  # cycle times: the closes of the 30 candles
    slow_at = tick[10]
    spans: list[tuple[int, float, float]] = []
    start = EmaCross.start

    def timed(plan: Callable[[Cycle], Any], cycle: Cycle) -> Any:
        began = fake.now()
        assert not spans or began >= spans[-1][2], "a cycle started before the one before it ended"
        fake.takes(200 if cycle.t == slow_at else 0.5)
        spans.append((cycle.t, began, fake.now()))
        return plan(cycle)

    def start_timed(self: EmaCross, ctx: Any) -> None:
        start(self, ctx)
        self.plan = partial(timed, self.plan)  # type: ignore[method-assign]

    monkeypatch.setattr(EmaCross, "start", start_timed)
    text = (Path(__file__).parents[2] / "bots" / "ema_cross.yaml").read_text()
    bot = compile_yaml(text.replace("period: 20", "period: 3").replace("period: 50", "period: 7"))
    store = Store(tmp_path / "r.db")
    wall = kind == "wall"
    clock: Any = WallClock(2.0, fake.now, fake.sleep) if wall else ReplayClock(60, fake.now, fake.sleep)
    run_id = paper(store, bot, RunOptions({"BTC/USDT": str(real_candles(tmp_path, 30))}), clock)["run_id"]

    ran = [t for t, _, _ in spans]
    assert ran == [t for k, t in enumerate(tick) if k not in (11, 12)]
    if wall:
        assert all(began >= t / 1000 + 2.0 for t, began, _ in spans)  # never before the candle closed (+ settle)
    else:
        first = spans[0][1]  # a minute of market per second, never ahead of it
        assert all(began >= first + (t - spans[0][0]) / 60_000 for t, began, _ in spans)
    events = store.rows("SELECT t, kind, message FROM events WHERE run_id = ?", (run_id,))
    assert events == [
        {
            "t": tick[13],
            "kind": "overlap",
            "message": "skipped 2 missed ticks (2025-05-04 15:45 to 2025-05-04 15:46): the cycle at 2025-05-04 "
            "15:44 outlasted the 1m cadence; the newest due tick runs instead",
        }
    ]
    cycles = store.rows("SELECT t, bars FROM cycles WHERE run_id = ? ORDER BY t", (run_id,))
    assert [c["t"] for c in cycles] == ran
    assert {c["t"]: c["bars"] for c in cycles}[tick[13]] == 3  # the skipped ticks' bars came along


@pytest.mark.parametrize("end", [None, T0 + 9 * 60_000], ids=["data ends", "window ends"])
def test_the_last_tick_runs_even_when_its_time_has_passed_since_no_newer_one_will(
    tmp_path: Path, end: int | None
) -> None:
    p = pipeline(tmp_path, "1m", [float(i) for i in range(1, 11)])
    fake = FakeTime(T0 / 1000)
    last = end or T0 + 10 * 60_000
    planner = p.planners[0][1]
    plan = planner.plan

    def slow(cycle: Cycle) -> Any:
        fake.takes(200 if cycle.t == last - 2 * 60_000 else 1)
        return plan(cycle)

    planner.plan = slow  # type: ignore[method-assign]
    seen: list[tuple[int, int, list[tuple[str, str]]]] = []
    recorder = type("Keep", (), {"record": lambda self, c: seen.append((c.t, c.bars, list(c.events)))})()
    drive(p, recorder, WallClock(2.0, fake.now, fake.sleep), 60_000, Window(end=end))
    ticks = [T0 + k * 60_000 for k in range(1, 11)]
    assert [t for t, _, _ in seen] == [t for t in ticks if t <= last and t != last - 60_000]
    t, bars, events = seen[-1]
    assert (t, bars) == (last, 2)
    skipped, before = format_time(last - 60_000), format_time(last - 2 * 60_000)
    assert events == [("overlap", f"skipped 1 missed tick ({skipped}): the cycle at {before} outlasted the 1m "
                       "cadence; the newest due tick runs instead")]  # fmt: skip


def test_clocks_say_when_a_tick_is_stale() -> None:
    now = [1_700_000_000.0]
    wall = WallClock(settle_s=2.0, now=lambda: now[0], sleep=lambda s: None)
    t, minute = 1_700_000_000_000, 60_000
    assert not wall.missed(t, minute)
    now[0] += 61.0  # the wall clock's next tick is due (its close plus the settle time)
    assert not wall.missed(t, minute)
    now[0] += 1.0
    assert wall.missed(t, minute) and not wall.missed(t + minute, minute)
    assert not BacktestClock().missed(t, minute) and not ReplayClock(0, now=lambda: now[0]).missed(t, minute)


def test_a_replay_misses_a_tick_only_a_whole_real_cadence_late() -> None:
    """At 60x a minute bar lasts a second, but a cycle lasts what it lasts: only a cycle longer than the bot's
    real cadence makes ticks stale, as live; a replay that merely lags the acceleration runs late, no burst."""
    now = [1_000.0]
    replay = ReplayClock(60, now=lambda: now[0], sleep=lambda s: None)
    t, minute = 1_700_000_000_000, 60_000
    replay.wait_until(t)  # anchors replayed time to the wall: a minute per second from here
    now[0] += 5.0  # a 5 s cycle: four ticks late at 60x, yet far shorter than a real minute
    assert not replay.missed(t + minute, minute)
    replay.wait_until(t + minute)  # runs at once, and the replay goes on from here
    now[0] += 150.0  # a cycle of two and a half real minutes: live, the second tick after it came due meanwhile
    missed = [replay.missed(t + k * minute, minute) for k in range(2, 6)]
    assert missed == [True, False, False, False]  # so the first is skipped, and the second runs
