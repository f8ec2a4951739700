"""Clocks and the loop that drives cycles: backtest (as fast as possible), replay (accelerated wall
clock) and live (aligned to candle closes on the wall clock). Time and sleep are injected, so tests run
instantly with a fake clock."""

from __future__ import annotations

import gc
import heapq
import time
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from runner.compile import StepInfo
from runner.cycle import Cycle, Pipeline, update_all
from runner.durations import format_duration, format_time
from runner.errors import BlockError
from runner.recorder import BacktestRecorder


class Clock(Protocol):
    """Decides when cycle ``t`` (ms since the epoch) may run, and whether its time has passed."""

    def wait_until(self, t: int) -> None: ...

    def missed(self, t: int, every_ms: int) -> bool:
        """Whether the tick after ``t`` is already due, so that the tick at ``t`` is stale."""
        ...


class BacktestClock:
    """Never waits: history runs as fast as the machine allows."""

    def wait_until(self, t: int) -> None:
        return None

    def missed(self, t: int, every_ms: int) -> bool:
        return False


@dataclass
class ReplayClock:
    """Replays recorded time ``speed`` times faster than it happened; speed 0 does not wait.

    A late tick runs at once and the replay goes on from there rather than catching up in a burst. A cycle's
    duration is real even when market time runs faster, so ticks are missed as they would be live: when the
    tick after them came due, a whole number of real cadences after the last tick that ran. The overlap policy
    thus shows what a slow block would do live, not how far the machine lags the acceleration."""

    speed: float
    now: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    _origin: tuple[int, float] | None = field(default=None, init=False)
    _ran: tuple[int, float] | None = field(default=None, init=False)
    """The last tick that ran, and when it started on the injected clock."""

    def wait_until(self, t: int) -> None:
        if self.speed <= 0:
            return
        if self._origin is None:
            self._origin = (t, self.now())
        elif (delay := self._wall(t) - self.now()) > 0:
            self.sleep(delay)
        elif delay < 0:
            self._origin = (t, self.now())
        self._ran = (t, self.now())

    def missed(self, t: int, every_ms: int) -> bool:
        if self.speed <= 0 or self._ran is None:
            return False
        ran_t, started = self._ran
        return self.now() - started >= (t - ran_t + every_ms) / 1000

    def _wall(self, t: int) -> float:
        """When cycle ``t`` is due on the injected clock."""
        assert self._origin is not None
        first_t, first_wall = self._origin
        return first_wall + (t - first_t) / 1000 / self.speed


@dataclass
class WallClock:
    """Live: cycle ``t`` (a candle close) runs once the wall clock passes ``t`` plus ``settle_s``, the time a
    venue takes to publish the closed candle. A late cycle runs at once; time and sleep are injected."""

    settle_s: float = 2.0
    now: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep

    def wait_until(self, t: int) -> None:
        while (delay := t / 1000 + self.settle_s - self.now()) > 0:
            self.sleep(delay)

    def missed(self, t: int, every_ms: int) -> bool:
        return self.now() >= (t + every_ms) / 1000 + self.settle_s


class Recorder(Protocol):
    """Receives every finished cycle."""

    def record(self, cycle: Cycle) -> None: ...


@dataclass
class Window:
    """Which cycles trade: before ``start`` they only warm up; after ``end`` the run stops."""

    start: int | None = None
    end: int | None = None
    skip_until: int | None = None
    """Cycles up to this time were recorded by an earlier attempt of the same run: recompute, do not record."""


def drive(
    pipeline: Pipeline,
    recorder: Recorder,
    clock: Clock,
    every_ms: int,
    window: Window | None = None,
    stop: Callable[[], bool] = lambda: False,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Run cycles over the pipeline's feeds until they end, ``window.end`` or ``stop()``; returns cycles recorded.

    One cycle at a time, never two at once. When a cycle outlasts the cadence, the ticks whose time passed
    meanwhile are skipped rather than run as a backlog: the newest due tick runs, with an ``overlap`` event
    saying which ticks were skipped. Their bars still reach the indicators and the executor, in the cycle
    that runs next, so no fill or funding payment is lost."""
    window = window or Window()
    # Breakers watch every cycle, a halt must stop the planners, and a trade book (an LLM's prompt shows the
    # run's trades) must see every fill: such bots take the general path.
    general = pipeline.breakers or pipeline.can_halt or pipeline.ctx.trade_book is not None
    fast = _column_feed(pipeline, every_ms) if not general else None
    if fast is not None and isinstance(recorder, BacktestRecorder) and isinstance(clock, BacktestClock):
        try:
            return _drive_columns(pipeline, fast, recorder, window, stop, progress)
        finally:
            gc.unfreeze()
    cycle = Cycle(0, pipeline.lanes, account=pipeline.account)
    on_bar = pipeline.on_bar
    recorded = 0
    current: int | None = None
    total = sum(len(f.timeline) for f in pipeline.feeds)
    skipped = Skipped(every_ms)
    ended = False  # by window.end or stop(), with the cycle before finished

    def finish(t: int) -> None:
        """Plan, validate and act on the cycle at ``t``, then record it unless an earlier attempt did."""
        nonlocal recorded
        if skipped.last == t:
            return
        if _trades(t, window):
            if skipped:
                cycle.events.append(("overlap", skipped.note()))
            pipeline.decide(cycle, due)
            if window.skip_until is None or t > window.skip_until:
                recorder.record(cycle)
                recorded += 1
                skipped.ran(t)

    for n, (t, source_id, feed_index, i) in enumerate(_bars(pipeline)):
        cycle_t = t if t % every_ms == 0 else t - t % every_ms + every_ms
        if cycle_t != current:
            if current is not None:
                finish(current)
            if (window.end is not None and cycle_t > window.end) or stop():
                ended = True
                break
            if progress is not None and n & 0x3FFF == 0:
                progress(n, total)
            current = cycle_t
            if skipped:
                cycle.t = cycle_t  # the bars of skipped ticks stay in this cycle, with their fills
            else:
                cycle.reset(cycle_t)
            if _trades(cycle_t, window) and (window.skip_until is None or cycle_t > window.skip_until):
                if clock.missed(cycle_t, every_ms):
                    skipped.add(cycle_t)
                else:
                    clock.wait_until(cycle_t)
        try:
            symbols = pipeline.feeds[feed_index].emit(i, pipeline.lanes)
        except Exception as exc:
            raise BlockError(source_id, f"{type(exc).__name__}: {exc}") from exc
        on_bar(source_id, symbols, cycle)
    if current is not None and (not ended or skipped.last == current):
        if skipped.last == current:
            skipped.unskip()  # the run ends here: no newer tick will run instead of this one, which has its bars
        finish(current)
    return recorded


class Skipped:
    """The ticks skipped since the last cycle that ran, and the ``overlap`` event that reports them."""

    def __init__(self, every_ms: int) -> None:
        self.every_ms = every_ms
        self.ticks: list[int] = []
        self.previous: int | None = None
        """The last cycle that ran and was recorded by this loop."""

    def __bool__(self) -> bool:
        return bool(self.ticks)

    @property
    def last(self) -> int | None:
        return self.ticks[-1] if self.ticks else None

    def add(self, t: int) -> None:
        self.ticks.append(t)

    def unskip(self) -> None:
        self.ticks.pop()

    def ran(self, t: int) -> None:
        self.previous, self.ticks = t, []

    def note(self) -> str:
        n, first, last = len(self.ticks), self.ticks[0], self.ticks[-1]
        span = format_time(first) if n == 1 else f"{format_time(first)} to {format_time(last)}"
        why = (
            f"the cycle at {format_time(self.previous)} outlasted the {format_duration(self.every_ms // 1000)} cadence"
            if self.previous is not None
            else "the run started after their time"
        )
        return f"skipped {n} missed tick{'s' if n > 1 else ''} ({span}): {why}; the newest due tick runs instead"


def _trades(t: int, window: Window) -> bool:
    return window.start is None or t >= window.start


def due(step: StepInfo, t: int) -> bool:
    """Whether a step with its own ``every:`` runs in the cycle at ``t``."""
    return step.every is None or t % (step.every * 1000) == 0


def _bars(pipeline: Pipeline) -> Iterator[tuple[int, str, int, int]]:
    """(bar close time, source step id, feed index, bar index) of every bar of every feed, in time order."""
    sources = [step.id for step, _ in pipeline.sources]
    if len(pipeline.feeds) == 1:
        (source_id,) = sources
        for i, t in enumerate(pipeline.feeds[0].timeline):
            yield t, str(source_id), 0, i
        return
    streams = [
        _stream(str(source_id), k, feed)
        for k, (source_id, feed) in enumerate(zip(sources, pipeline.feeds, strict=True))
    ]
    yield from heapq.merge(*streams)


def _stream(source_id: str, k: int, feed: Any) -> Iterator[tuple[int, str, int, int]]:
    # A function, not a generator expression in the loop above: those would all see the last feed's k.
    for i, t in enumerate(feed.timeline):
        yield t, source_id, k, i


def _column_feed(pipeline: Pipeline, every_ms: int) -> Any:
    """The feed, when the run has the common shape: one feed of one symbol as columns, one cycle per bar."""
    if len(pipeline.feeds) != 1 or any(step.every for step, _ in pipeline.planners):
        return None
    feed = pipeline.feeds[0]
    columns = getattr(feed, "columns", None)
    if columns is None or getattr(feed, "timeframe_ms", None) != every_ms:
        return None
    if feed.timeline and feed.timeline[0] % every_ms:
        return None
    return feed


def _drive_columns(
    pipeline: Pipeline,
    feed: Any,
    recorder: BacktestRecorder,
    window: Window,
    stop: Callable[[], bool],
    progress: Callable[[int, int], None] | None,
) -> int:
    """The backtest loop for the common shape, reading the columns directly: the same steps in the same
    order as ``drive``, without its per-bar bookkeeping. Equity is marked once per cycle.

    When every planner names the bars it can act on (``Planner.wake``) and no indicator streams, the loop
    visits only those bars and the bars where the executor has orders to fill; in between nothing can
    happen, so the equity of the skipped bars is marked in bulk from the executor's mark line."""
    (symbol,) = pipeline.lanes
    lane = pipeline.lanes[symbol]
    c = feed.columns[3]
    sc = feed.slots[3]
    times = feed.timeline
    source_id = str(pipeline.sources[0][0].id)
    updaters, copies = _batch_indicators(pipeline, source_id, feed)
    executor = pipeline.executor
    on_bar, equity, pending, line = pipeline.settle, executor.equity, pipeline.busy, executor.mark_line
    planners = [(planner, pipeline.plan_call(planner)) for _, planner in pipeline.planners]
    act, send, fail, checked = pipeline.act, pipeline.send, pipeline.fail, pipeline.checked
    pending_orders: list[Any] = []
    marks = recorder.equity
    mark = marks.append
    keep = recorder.record_activity
    first = bisect_left(times, window.start) if window.start is not None else 0
    end = bisect_right(times, window.end) if window.end is not None else len(times)
    cycle = Cycle(0, pipeline.lanes, account=pipeline.account)
    on_bar(symbol, lane, cycle)  # lets the executor see the lane before any order exists
    a, b = line(symbol) or (None, None)
    waiting = False
    reporting = progress is not None
    everything = [*zip(feed.slots, feed.columns, strict=True), *copies]
    wakes = None if updaters else _wakes(pipeline, dict(everything), first, end)
    skip_to = first if wakes is not None else 0
    next_wake = 0
    # Each bar writes only what planners read (and the close, so an account is always marked right); the
    # whole lane is written before the executor settles a bar and before intents meet the validators.
    # Streaming indicators read the lane themselves, so with any of them every slot is written every bar.
    reads = pipeline.planner_reads | {sc}
    per_bar = everything if updaters else [(slot, column) for slot, column in everything if slot in reads]
    # The first four writes are unrolled (an inner loop costs more than the writes); extra ones go to a
    # scratch slot past the lane's end, so four writes always happen.
    lane.append(None)
    # Everything built so far, the columns above all, lives until the end: collections during the loop need not
    # walk millions of values again and again (a quarter of the loop's time on a million bars).
    gc.freeze()
    scratch = (len(lane) - 1, c)
    (s1, c1), (s2, c2), (s3, c3), (s4, c4) = (per_bar + [scratch] * 4)[:4]
    rest = per_bar[4:]
    bars = iter(range(end))
    jump = bars.__setstate__  # type: ignore[attr-defined]  # a range iterator can jump: skipped bars cost nothing
    jump(skip_to)
    for i in bars:
        lane[s1] = c1[i]
        lane[s2] = c2[i]
        lane[s3] = c3[i]
        lane[s4] = c4[i]
        if rest:
            for slot, column in rest:
                lane[slot] = column[i]
        cycle.t = times[i]
        active = False
        if waiting:
            for slot, column in everything:
                lane[slot] = column[i]
            fills = on_bar(symbol, lane, cycle)
            if fills:
                cycle.fills.extend(fills)
            active = bool(fills or cycle.ledger or cycle.events)  # funding moves cash without a fill
            if pipeline.chains:
                pipeline.advance(cycle)  # the next leg of a group goes out once the one before it filled
                active = True
            waiting = pending()
        if updaters:
            update_all(updaters, lane)
        if i < first:
            continue
        plan_failed = False
        for planner, plan in planners:
            try:
                intents = plan(cycle)
            except Exception as exc:
                fail(cycle, planner.step_id, exc)
                intents = None
            if intents:
                intents = checked(planner, intents, cycle)
            if intents:
                for slot, column in everything:
                    lane[slot] = column[i]
                orders = act(planner, intents, cycle)
                active = True
                if orders and not cycle.error:
                    pending_orders += orders
            if cycle.error:
                plan_failed = active = True
                break
        if cycle.llm_calls or cycle.events:
            active = True  # an LLM planner's calls and rejections are kept even when it proposed nothing
        if pending_orders:
            if not plan_failed:
                send(pending_orders, cycle)
            pending_orders = []
        if active:
            cycle.bars = 1
            keep(cycle)
            cycle.reset(cycle.t)
            waiting = pending()
            a, b = line(symbol) or (None, None)
        if a is None:
            mark(equity())
        elif b:
            mark(a + b * c[i])
        else:
            mark(a)
        if wakes is not None and not waiting and a is not None:
            while next_wake < len(wakes) and wakes[next_wake] <= i:
                next_wake += 1
            skip_to = wakes[next_wake] if next_wake < len(wakes) else end
            if skip_to > i + 1:
                marks.extend([a + b * x for x in c[i + 1 : skip_to]] if b else array("d", [a]) * (skip_to - i - 1))
                jump(skip_to)
            if reporting and (i >> 16) != (skip_to >> 16):
                progress(skip_to, end)  # type: ignore[misc]
                if stop():
                    end = skip_to
                    break
        elif reporting and not i & 0xFFFF:
            progress(i, end)  # type: ignore[misc]
            if stop():
                end = i + 1
                break
    lane.pop()
    recorder.times = array("q", times[first:end])
    return end - first


def _wakes(pipeline: Pipeline, columns: dict[int, Any], first: int, end: int) -> list[int] | None:
    """The bars any planner can act on, ascending; None when some planner may act on any bar."""
    bars: set[int] = set()
    for _, planner in pipeline.planners:
        wakes = planner.wake(columns, first, end)
        if wakes is None:
            return None
        bars.update(wakes)
    return sorted(bars)


def _batch_indicators(pipeline: Pipeline, source_id: str, feed: Any) -> tuple[list[Any], list[tuple[int, list[Any]]]]:
    """Split the source's indicators into those computed whole up front (their columns are copied into the
    lane bar by bar) and those updated bar by bar; a batch indicator may read only columns known up front."""
    ctx = pipeline.ctx
    known: dict[int, list[Any]] = dict(zip(feed.slots, feed.columns, strict=True))
    copies: list[tuple[int, list[Any]]] = []
    updaters: list[Any] = []
    for block, refs, updater in pipeline.driven.get(source_id, []):
        inputs = [known.get(ctx.slot(ref)) for ref in refs]
        result = block.batch(*inputs) if all(x is not None for x in inputs) else None  # type: ignore[arg-type]
        if result is None:
            updaters.append((block.step_id, updater))
            continue
        outputs = [ctx.slots[(block.step_id, name)] for name in block.output_fields(block.config)]
        columns = [result] if len(outputs) == 1 else list(result)
        for slot, column in zip(outputs, columns, strict=True):
            known[slot] = column
            copies.append((slot, column))
    return updaters, copies
