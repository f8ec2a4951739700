"""Walk-forward analysis: choose parameters on a training window, score them on the unseen window after it,
roll forward, repeat.

Windows are laid on cycle (bar close) times: train ``[s, s+train)``, test ``[s+train, s+train+test)``, and the
next window starts ``step`` later (``test`` by default, so test windows tile the data), while a whole test
window fits. Each window's grid is backtested on its train part; the combination ranked best by the
objective is then backtested on the test part. Indicators warm up on the data before each window, as in
``runner backtest --from``. Every backtest is a recorded run, labelled with the walk-forward id, the window
and its role.

The overfitting ratio is perp-bot's: ``clamp(1 - mean out-of-sample / mean in-sample, 0, 1)`` of the
objective, 0 when the in-sample mean is not positive.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from statistics import fmean
from typing import Any

from runner.objectives import OBJECTIVES
from runner.sweep import Task, ranked, run_tasks


@dataclass(frozen=True)
class Window:
    """One step of the walk: the train and test spans, as [start, end) in ms."""

    index: int
    train_start: int
    train_end: int
    test_start: int
    test_end: int


@dataclass
class WindowResult:
    window: Window
    chosen: dict[str, Any] | None
    """The best training run (its summary), None when every training run failed."""
    test: dict[str, Any] | None
    """The out-of-sample run of the chosen parameters."""


@dataclass
class WalkForward:
    objective: str
    windows: list[WindowResult] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """Means in and out of sample, the overfitting ratio, and the test windows' returns compounded."""
        pairs = [(w.chosen, w.test) for w in self.windows if w.chosen and w.test and "error" not in w.test]
        ins = [float(c.get(self.objective) or 0.0) for c, _ in pairs]
        outs = [float(t.get(self.objective) or 0.0) for _, t in pairs]
        mean_in = fmean(ins) if ins else 0.0
        mean_out = fmean(outs) if outs else 0.0
        overfit = min(max(1 - mean_out / mean_in, 0.0), 1.0) if mean_in > 0 and OBJECTIVES[self.objective] else 0.0
        growth = math.prod(1 + t["return_pct"] / 100 for _, t in pairs)
        chosen = [tuple(sorted(c["params"].items())) for c, _ in pairs]
        return {
            "objective": self.objective,
            "windows": len(self.windows),
            "scored": len(pairs),
            "mean_in_sample": mean_in,
            "mean_out_of_sample": mean_out,
            "overfit_ratio": overfit,
            "oos_return_pct": (growth - 1) * 100,
            "oos_profitable_pct": sum(t["return_pct"] > 0 for _, t in pairs) / len(pairs) * 100 if pairs else 0.0,
            "oos_trades": sum(t.get("trades", 0) for _, t in pairs),
            "distinct_choices": len(set(chosen)),
        }


def windows(first: int, last: int, train: int, test: int, step: int | None = None) -> list[Window]:
    """The windows that fit in cycle times ``[first, last]``."""
    step = step or test
    if train <= 0 or test <= 0 or step <= 0:
        raise ValueError("train, test and step must be positive")
    out: list[Window] = []
    start = first
    while start + train + test <= last + 1:
        out.append(Window(len(out), start, start + train, start + train, start + train + test))
        start += step
    return out


def walk_forward(
    base: Task,
    grid: list[dict[str, Any]],
    spans: list[Window],
    objective: str,
    workers: int,
    label: str,
    done: Callable[[int, dict[str, Any]], None] | None = None,
) -> WalkForward:
    """Train every combination on every window, then test each window's best, in parallel processes."""
    train_tasks = [
        replace(
            base,
            params=params,
            start=w.train_start,
            end=w.train_end - 1,
            labels={**base.labels, "walk_forward": label, "window": w.index, "role": "train"},
        )
        for w in spans
        for params in grid
    ]
    trained = run_tasks(train_tasks, workers, done)
    result = WalkForward(objective)
    test_tasks = []
    for w in spans:
        runs = trained[w.index * len(grid) : (w.index + 1) * len(grid)]
        best = ranked(runs, objective)[0] if runs else None
        chosen = best if best is not None and "error" not in best else None
        result.windows.append(WindowResult(w, chosen, None))
        if chosen is not None:
            test_tasks.append(
                replace(
                    base,
                    params=chosen["params"],
                    start=w.test_start,
                    end=w.test_end - 1,
                    labels={**base.labels, "walk_forward": label, "window": w.index, "role": "test"},
                )
            )
    tested = iter(run_tasks(test_tasks, workers, done))
    for window in result.windows:
        if window.chosen is not None:
            window.test = next(tested)
    return result
