"""Clocks and the loop that drives cycles: backtest (as fast as possible) and replay (accelerated wall
clock). Time and sleep are injected, so tests run instantly with a fake clock."""

from __future__ import annotations

import heapq
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Protocol

from runner.compile import StepInfo
from runner.cycle import Cycle, Pipeline
from runner.errors import BlockError


class Clock(Protocol):
    """Decides when cycle ``t`` (ms since the epoch) may run."""

    def wait_until(self, t: int) -> None: ...


class BacktestClock:
    """Never waits: history runs as fast as the machine allows."""

    def wait_until(self, t: int) -> None:
        return None


@dataclass
class ReplayClock:
    """Replays recorded time ``speed`` times faster than it happened; speed 0 does not wait."""

    speed: float
    now: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    _origin: tuple[int, float] | None = field(default=None, init=False)

    def wait_until(self, t: int) -> None:
        if self.speed <= 0:
            return
        if self._origin is None:
            self._origin = (t, self.now())
            return
        first_t, first_wall = self._origin
        delay = first_wall + (t - first_t) / 1000 / self.speed - self.now()
        if delay > 0:
            self.sleep(delay)


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
    """Run cycles over the pipeline's feeds until they end, ``window.end`` or ``stop()``; returns cycles recorded."""
    window = window or Window()
    cycle = Cycle(0, pipeline.lanes)
    decide, on_bar = pipeline.decide, pipeline.on_bar
    recorded = 0
    current: int | None = None
    total = sum(len(f.timeline) for f in pipeline.feeds)
    for n, (t, source_id, feed_index, i) in enumerate(_bars(pipeline)):
        cycle_t = t if t % every_ms == 0 else t - t % every_ms + every_ms
        if cycle_t != current:
            if current is not None and _trades(current, window):
                decide(cycle, due)
                if window.skip_until is None or current > window.skip_until:
                    recorder.record(cycle)
                    recorded += 1
            if (window.end is not None and cycle_t > window.end) or stop():
                current = None
                break
            if progress is not None and n & 0x3FFF == 0:
                progress(n, total)
            current = cycle_t
            cycle.reset(cycle_t)
            if _trades(cycle_t, window) and (window.skip_until is None or cycle_t > window.skip_until):
                clock.wait_until(cycle_t)
        symbols = pipeline.feeds[feed_index].emit(i, pipeline.lanes)
        try:
            on_bar(source_id, symbols, cycle)
        except BlockError:
            raise
        except Exception as exc:
            raise BlockError(source_id, f"{type(exc).__name__}: {exc}") from exc
    if current is not None and _trades(current, window):
        decide(cycle, due)
        if window.skip_until is None or current > window.skip_until:
            recorder.record(cycle)
            recorded += 1
    return recorded


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
        ((t, str(source_id), k, i) for i, t in enumerate(feed.timeline))
        for k, (source_id, feed) in enumerate(zip(sources, pipeline.feeds, strict=True))
    ]
    yield from heapq.merge(*streams)
