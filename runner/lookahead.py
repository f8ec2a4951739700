"""Look-ahead check: a bot must decide the same on a prefix of the data as on the whole of it.

The bot is backtested on the full data, then again with the data cut after each of several bar closes (the
sources replay nothing later, as if the file ended there). Every intent with its verdicts, every fill and
every equity point up to the cut must be identical, bit for bit. Indicators computed whole up front
(``Indicator.batch``) are also compared column by column, so a block that reads ahead is named even when no
decision happens to change. Nothing is recorded in the store.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from runner.compile import CompiledBot
from runner.loop import BacktestClock, Window, _batch_indicators, drive
from runner.recorder import BacktestRecorder
from runner.runs import RunOptions, open_pipeline
from runner.store import Store


@dataclass
class Replay:
    """What one backtest decided and did, as comparable rows."""

    intents: list[tuple[Any, ...]]
    fills: list[tuple[Any, ...]]
    equity: list[tuple[int, float]]
    columns: dict[str, list[Any]]
    """Batch-computed indicator outputs by ``step.output``."""
    last_t: int | None


@dataclass
class Cut:
    """The comparison at one cut: how much was compared and the first difference, if any."""

    at: int
    intents: int
    fills: int
    cycles: int
    problems: list[str] = field(default_factory=list)


def replay(bot: CompiledBot, options: RunOptions, store: Store | None = None) -> Replay:
    """Backtest in memory and keep everything comparable (LLM replies cached in ``store``, if given)."""
    pipeline = open_pipeline(bot, "backtest", options, store)
    recorder = BacktestRecorder("lookahead")
    columns = _batch_columns(pipeline)
    drive(pipeline, recorder, BacktestClock(), bot.every * 1000, Window(options.start, options.end))
    intents = [
        (r["t"], r["step_id"], r["leg"], r["symbol"], r["kind"], r["side"], r["payload"], r["verdicts"])
        for r in recorder.intents
    ]
    fills = [(f.t, f.client_id, f.symbol, f.side, f.quantity, f.price, f.fee) for f in recorder.fills]
    equity = list(zip(recorder.times, recorder.equity, strict=True))
    return Replay(intents, fills, equity, columns, recorder.times[-1] if len(recorder.times) else None)


def _batch_columns(pipeline: Any) -> dict[str, list[Any]]:
    if len(pipeline.feeds) != 1 or getattr(pipeline.feeds[0], "columns", None) is None:
        return {}
    names = {slot: f"{step}.{output}" for (step, output), slot in pipeline.ctx.slots.items()}
    source_id = str(pipeline.sources[0][0].id)
    _, copies = _batch_indicators(pipeline, source_id, pipeline.feeds[0])
    return {names[slot]: list(column) for slot, column in copies}


def cut_times(full: Replay, count: int, start: int | None = None) -> list[int]:
    """``count`` cut points spread evenly over the cycles that trade (never the last one)."""
    times = [t for t, _ in full.equity if start is None or t >= start]
    if len(times) < 2:
        return []
    picks = {times[min(len(times) - 2, (len(times) - 1) * (k + 1) // (count + 1))] for k in range(count)}
    return sorted(picks)


def compare(full: Replay, prefix: Replay, at: int) -> Cut:
    """The prefix run against the full run up to ``at``."""
    result = Cut(at, 0, 0, 0)
    pairs = (
        ("intent", [r for r in full.intents if r[0] <= at], prefix.intents),
        ("fill", [r for r in full.fills if r[0] <= at], prefix.fills),
        ("equity point", [r for r in full.equity if r[0] <= at], prefix.equity),
    )
    for name, whole, cut in pairs:
        problem = _first_difference(name, whole, cut)
        if problem:
            result.problems.append(problem)
    result.intents, result.fills, result.cycles = len(prefix.intents), len(prefix.fills), len(prefix.equity)
    for column, values in prefix.columns.items():
        whole_column = full.columns.get(column)
        if whole_column is None:
            continue
        for i, value in enumerate(values):
            if not _same(value, whole_column[i]):
                result.problems.append(
                    f"indicator {column}: bar {i} is {value!r} on the cut data but {whole_column[i]!r} on the whole "
                    "data: its batch() reads later bars"
                )
                break
    return result


def _first_difference(name: str, whole: list[tuple[Any, ...]], cut: list[tuple[Any, ...]]) -> str:
    for a, b in zip(whole, cut, strict=False):
        if a != b:
            step = f" from step '{a[1]}'" if name == "intent" else ""
            return f"first {name} that differs{step} at t={a[0]}:\n    whole data: {a}\n    cut data:   {b}"
    if len(whole) != len(cut):
        return f"{len(whole)} {name}s up to the cut on the whole data, {len(cut)} on the cut data"
    return ""


def _same(a: Any, b: Any) -> bool:
    return bool(a == b or (a != a and b != b))  # NaN equals NaN here


def check(
    bot: CompiledBot, options: RunOptions, cuts: int = 4, at: list[int] | None = None
) -> tuple[Replay, list[Cut]]:
    """Backtest on the whole data and on each cut; returns the full replay and one comparison per cut.
    An LLM planner is asked once per prompt: the cuts replay the whole run's replies from a cache in memory."""
    store = Store(":memory:")
    try:
        full = replay(bot, options, store)
        points = at or cut_times(full, cuts, options.start)
        return full, [compare(full, replay(bot, replace(options, data_until=t), store), t) for t in points]
    finally:
        store.close()
