"""Parameter grids: variants of a bot file, each a deployment of its own, backtested in parallel processes.

A grid axis is ``STEP.FIELD=V1,V2,...``: the field under the step's ``with:`` (dots reach into nested
mappings), each value read as YAML (``20`` is a number, ``true`` a boolean). A variant's version is the
bot's with build metadata naming its values, e.g. ``1.0.0+sweep.ema-fast-period-10``, so every
combination is recorded as its own deployment with its own snapshot and can never be mistaken for the
bot as written.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import os
import re
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field, replace
from functools import cache
from typing import Any

from runner.cliutil import UsageError
from runner.compile import CompiledBot, compile_text
from runner.errors import ConfigError
from runner.objectives import OBJECTIVES


@dataclass(frozen=True)
class Axis:
    """One ``--grid`` flag: a step's field and the values to try."""

    step: str
    path: tuple[str, ...]
    values: tuple[Any, ...]

    @property
    def name(self) -> str:
        return ".".join((self.step, *self.path))


def parse_grid(flags: Iterable[str]) -> list[Axis]:
    """``--grid STEP.FIELD=V1,V2`` flags as axes; raises UsageError naming the bad flag."""
    import yaml

    axes: list[Axis] = []
    for flag in flags:
        name, sep, values = flag.partition("=")
        parts = name.strip().split(".")
        if not sep or len(parts) < 2 or not all(parts) or not values.strip():
            raise UsageError(f"--grid {flag}: write STEP.FIELD=V1,V2,..., e.g. --grid ema_fast.period=10,20,30")
        parsed = tuple(yaml.safe_load(v.strip()) for v in values.split(","))
        if len(set(map(repr, parsed))) != len(parsed):
            raise UsageError(f"--grid {flag}: a value is listed twice")
        if any(a.name == name.strip() for a in axes):
            raise UsageError(f"--grid {flag}: {name.strip()} is already a grid axis")
        axes.append(Axis(parts[0], tuple(parts[1:]), parsed))
    if not axes:
        raise UsageError("give at least one --grid STEP.FIELD=V1,V2,...")
    return axes


def combinations(axes: list[Axis]) -> list[dict[str, Any]]:
    """Every combination of the axes' values, the first axis varying slowest."""
    return [
        {axis.name: value for axis, value in zip(axes, values, strict=True)}
        for values in itertools.product(*(a.values for a in axes))
    ]


def variant(text: str, file: str, params: dict[str, Any]) -> CompiledBot:
    """The bot file with ``params`` (``STEP.FIELD`` -> value) set and its version marked; raises UsageError
    for a step or field that does not exist and ConfigError for a value the block refuses."""
    import yaml

    data = yaml.safe_load(text)
    steps = {step.get("id"): step for step in data.get("pipeline") or [] if isinstance(step, dict)}
    for name, value in params.items():
        step_id, *path = name.split(".")
        step = steps.get(step_id)
        if step is None:
            raise UsageError(f"--grid {name}: the bot has no step '{step_id}' (steps: {', '.join(map(str, steps))})")
        node = step.setdefault("with", {})
        for key in path[:-1]:
            node = node.setdefault(key, {})
            if not isinstance(node, dict):
                raise UsageError(f"--grid {name}: '{key}' of step '{step_id}' is not a mapping")
        node[path[-1]] = value
    data["version"] = variant_version(str(data.get("version")), params)
    label = ", ".join(f"{k}={v}" for k, v in params.items())
    return compile_text(yaml.safe_dump(data, sort_keys=False), f"{file} [{label}]", _registry())


def variant_version(version: str, params: dict[str, Any]) -> str:
    """``1.0.0`` -> ``1.0.0+sweep.<step>-<field>-<value>...`` (semver build metadata), or a hash of the
    values when they do not spell a short identifier."""
    words = [re.sub(r"[^0-9A-Za-z]+", "-", f"{k}-{v}").strip("-") for k, v in params.items()]
    tag = ".".join(words)
    if not all(words) or len(tag) > 80:
        tag = hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()[:12]
    return f"{version}{'.' if '+' in version else '+'}sweep.{tag}"


@cache
def _registry() -> Any:
    from runner.registry import Registry

    return Registry.discover()


@dataclass(frozen=True)
class Task:
    """One backtest of a variant: what a worker process needs to run it on its own."""

    text: str
    file: str
    params: dict[str, Any]
    data: dict[str, str]
    db: str | None
    start: int | None = None
    end: int | None = None
    costs: dict[str, Any] = field(default_factory=dict)
    labels: dict[str, Any] = field(default_factory=dict)


def run_task(task: Task) -> dict[str, Any]:
    """Backtest one variant; returns its summary, or ``{"error": ...}`` when it could not run."""
    from runner.deployments import DeploymentConflict
    from runner.errors import BlockError, DataError
    from runner.runs import RunOptions, backtest
    from runner.store import Store

    try:
        bot = variant(task.text, task.file, task.params)
    except (ConfigError, UsageError) as exc:
        return {"params": task.params, "error": str(exc)}
    options = RunOptions(task.data, task.start, task.end, labels={**task.labels, "params": task.params}, **task.costs)
    store = Store(task.db)
    try:
        summary = backtest(store, bot, options)
    except (DataError, BlockError, DeploymentConflict) as exc:
        return {"params": task.params, "error": str(exc)}
    finally:
        store.close()
    return {"params": task.params, "version": bot.spec.version, **summary}


def run_tasks(
    tasks: list[Task], workers: int, done: Callable[[int, dict[str, Any]], None] | None = None
) -> list[dict[str, Any]]:
    """Run tasks in up to ``workers`` processes (in this one when 1); results in task order. ``done`` hears
    of each result as it arrives."""
    results: list[dict[str, Any] | None] = [None] * len(tasks)
    if workers <= 1 or len(tasks) <= 1:
        for i, task in enumerate(tasks):
            results[i] = run_task(task)
            if done:
                done(i, results[i])  # type: ignore[arg-type]
        return [r for r in results if r is not None]
    # Each worker writes its own runs; SQLite's busy timeout takes the writers in turn.
    with ProcessPoolExecutor(max_workers=workers) as pool:
        futures = {pool.submit(run_task, task): i for i, task in enumerate(tasks)}
        for future in as_completed(futures):
            i = futures[future]
            results[i] = future.result()
            if done:
                done(i, results[i])  # type: ignore[arg-type]
    return [r for r in results if r is not None]


def default_workers() -> int:
    return max(1, min(os.cpu_count() or 1, 8))


def score(summary: dict[str, Any], objective: str) -> float:
    """The objective as a number where larger is better (failed runs last)."""
    if "error" in summary:
        return -math.inf
    value = float(summary.get(objective) or 0.0)
    if math.isnan(value):
        return -math.inf
    return value if OBJECTIVES[objective] else -value


def ranked(results: list[dict[str, Any]], objective: str) -> list[dict[str, Any]]:
    """Results best first by the objective; ties keep grid order."""
    return sorted(results, key=lambda r: -score(r, objective))


def check_variants(text: str, file: str, grid: list[dict[str, Any]]) -> list[str]:
    """Compile every variant up front: the problems, each naming its combination (empty when all compile)."""
    problems: list[str] = []
    for params in grid:
        try:
            variant(text, file, params)
        except ConfigError as exc:
            problems.extend(str(issue) for issue in exc.issues)
    return problems


def with_window(task: Task, start: int | None, end: int | None, **labels: Any) -> Task:
    return replace(task, start=start, end=end, labels={**task.labels, **labels})
