"""Runs: a backtest or a paper run of a deployment, from start to summary.

Both drive the same pipeline; only the clock and the recorder differ. Nothing is written until the data
has loaded and passed its checks, so a run that cannot start leaves no trace. A paper run that was
stopped or killed resumes under its run id: cycles already recorded are recomputed, not recorded again,
and since order ids derive from (deployment, cycle time, step, leg) no order is sent twice.
"""

from __future__ import annotations

import gc
import json
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from runner import controls
from runner.attempts import Timing
from runner.compile import CompiledBot
from runner.controls import Control
from runner.cycle import BuildContext, Cycle, Pipeline
from runner.deployments import DeploymentConflict, deploy, deployment_id
from runner.llm.cache import LlmCache
from runner.llm.record import LlmCall
from runner.loop import BacktestClock, Clock, ReplayClock, Window, drive
from runner.metrics import exposure_pct, span_ms, summarize
from runner.recorder import BacktestRecorder, CycleRecorder
from runner.runlock import run_lock
from runner.snapshot import diff
from runner.store import Store, now_iso


@dataclass
class RunOptions:
    """How to run: where the candles come from and which part of them, and cost overrides."""

    data: dict[str, str]
    start: int | None = None
    end: int | None = None
    fee_bps: float | None = None
    slippage_bps: float | None = None
    funding: dict[str, str] = field(default_factory=dict)
    entry_delay: int | None = None
    labels: dict[str, Any] = field(default_factory=dict)
    force: bool = False
    """Override breakers that allow it (losing_weeks), with an event."""
    data_until: int | None = None
    """Cut the data after this bar close, as if it ended there (see runner.lookahead)."""
    llm: str | None = None
    """How LLM planners get replies: live, cached or replay (None: cached for backtests, live otherwise)."""


def check_deployable(store: Store, bot: CompiledBot) -> None:
    """Raise DeploymentConflict if this version is deployed with another config (writes nothing)."""
    row = store.one(
        "SELECT config_id, snapshot FROM deployments WHERE bot = ? AND version = ?", (bot.spec.bot, bot.spec.version)
    )
    if row is not None and row["config_id"] != bot.config_id:
        raise DeploymentConflict(bot.spec.bot, bot.spec.version, diff(json.loads(row["snapshot"]), bot.snapshot))


def open_pipeline(
    bot: CompiledBot,
    kind: str,
    options: RunOptions,
    store: Store | None = None,
    timing: Timing | None = None,
    resume_until: int | None = None,
) -> Pipeline:
    """The bot's pipeline, opened for a run of ``kind``; a resumed run recomputes its cycles up to
    ``resume_until``."""
    ctx = BuildContext(
        bot,
        deployment_id(bot.spec.bot, bot.spec.version),
        kind,
        options.data,
        fee_bps=options.fee_bps,
        slippage_bps=options.slippage_bps,
        entry_delay=options.entry_delay,
        funding=options.funding,
        data_until=options.data_until,
        force=options.force,
        llm=llm_mode(kind, options),
        llm_cache=LlmCache(store) if store is not None else None,
    )
    ctx.resume_until = resume_until
    pipeline = Pipeline(bot, ctx, timing)
    pipeline.open()
    return pipeline


def llm_mode(kind: str, options: RunOptions) -> str:
    """The run's LLM mode: as asked, else cached for backtests (re-runs are free) and live otherwise."""
    return options.llm or ("cached" if kind == "backtest" else "live")


def _start_run(store: Store, bot: CompiledBot, kind: str, options: RunOptions) -> str:
    run_id = uuid.uuid4().hex[:12]
    dep = deploy(store, bot)
    with store.transaction():
        store.insert_all(
            "runs",
            [
                {
                    "id": run_id,
                    "deployment_id": dep,
                    "kind": kind,
                    "status": "running",
                    "started_at": now_iso(),
                    "data": json.dumps(options.data, sort_keys=True),
                    "params": json.dumps(
                        {
                            "start": options.start,
                            "end": options.end,
                            "fee_bps": options.fee_bps,
                            "slippage_bps": options.slippage_bps,
                            "entry_delay": options.entry_delay,
                            **({"llm": llm_mode(kind, options)} if _has_llm(bot) else {}),
                            **({"labels": options.labels} if options.labels else {}),
                            "funding": options.funding,
                        },
                        sort_keys=True,
                    ),
                }
            ],
        )
    return run_id


def _finish_run(store: Store, run_id: str, status: str, summary: dict[str, Any] | None, error: str = "") -> None:
    store.conn.execute(
        "UPDATE runs SET status = ?, ended_at = ?, summary = ?, error = ? WHERE id = ?",
        (status, now_iso(), json.dumps(summary, default=str) if summary is not None else None, error or None, run_id),
    )


def backtest(
    store: Store, bot: CompiledBot, options: RunOptions, progress: Callable[[int, int], None] | None = None
) -> dict[str, Any]:
    """Replay history through the pipeline as fast as possible; returns the summary."""
    check_deployable(store, bot)
    started = time.perf_counter()
    pipeline = open_pipeline(bot, "backtest", options, store)
    run_id = _start_run(store, bot, "backtest", options)
    recorder = BacktestRecorder(run_id)
    try:
        drive(
            pipeline, recorder, BacktestClock(), bot.every * 1000, Window(options.start, options.end), progress=progress
        )
    except BaseException as exc:
        _finish_run(store, run_id, "failed", None, f"{type(exc).__name__}: {exc}")
        raise
    pipeline.executor.cancel_all(Cycle(0, pipeline.lanes))
    account = pipeline.executor.account()
    fills = recorder.fills
    times = recorder.times
    summary = {
        "run_id": run_id,
        "config_id": bot.config_id,
        "deployment": deployment_id(bot.spec.bot, bot.spec.version),
        "bars": sum(len(f.timeline) for f in pipeline.feeds),
        **summarize(
            times,
            recorder.equity,
            bot.spec.account.cash,
            [f.realized_pnl for f in fills if f.realized_pnl is not None],
            account.fees,
            _exposure([(f.t, f.symbol, f.quantity if f.side == "buy" else -f.quantity) for f in fills], times),
        ),
        "funding": account.funding,
        "liquidations": account.liquidations,
        "orders": len(recorder.orders),
        "fills": len(fills),
        "failed_cycles": sum(e["kind"] == "block_error" for e in recorder.events),
        "halted": pipeline.halted,
        **({"llm": llm_summary(recorder.llm_calls)} if _has_llm(bot) else {}),
    }
    gc.freeze()  # what the run recorded lives until it is saved: collections while saving need not walk it
    try:
        with store.transaction():
            recorder.save(store)
            summary["elapsed_s"] = round(time.perf_counter() - started, 3)
            _finish_run(store, run_id, "finished", summary)
    finally:
        gc.unfreeze()
    return summary


def resumable_run(store: Store, bot: CompiledBot, kind: str, options: RunOptions) -> dict[str, Any] | None:
    """An unfinished run of this deployment over the same data, funding and start, if any: resuming one that
    started elsewhere would rebuild another state than the one it recorded. (Its end may differ: a resumed run
    may go on further.)"""
    return store.one(
        "SELECT id, last_t FROM runs WHERE deployment_id = ? AND kind = ? AND status IN ('running', 'stopped') "
        "AND data = ? AND json_extract(params, '$.start') IS ? AND json_extract(params, '$.funding') = json(?) "
        "ORDER BY started_at DESC LIMIT 1",
        (
            deployment_id(bot.spec.bot, bot.spec.version),
            kind,
            json.dumps(options.data, sort_keys=True),
            options.start,
            json.dumps(options.funding, sort_keys=True),
        ),
    )


def paper(
    store: Store,
    bot: CompiledBot,
    options: RunOptions,
    clock: Clock | None = None,
    echo: Callable[[Cycle], None] | None = None,
    stop: Callable[[], bool] = lambda: False,
    once: bool = False,
    timing: Timing | None = None,
) -> dict[str, Any]:
    """A paper run over replayed candles, recording every cycle; resumes an unfinished run of the same data.
    ``timing`` is how steps with a timeout or retries wait (tests inject a fake one)."""
    check_deployable(store, bot)
    dep = deployment_id(bot.spec.bot, bot.spec.version)
    with run_lock(store.path, _run_key(dep, "paper", options)):
        return _paper(store, bot, options, clock or ReplayClock(0), echo, stop, once, timing)


def _run_key(deployment: str, kind: str, options: RunOptions) -> str:
    """What makes two runs one: a resumed run is the unfinished run with the same key (see resumable_run)."""
    return f"{deployment}|{kind}|{json.dumps(options.data, sort_keys=True)}"


def _paper(
    store: Store,
    bot: CompiledBot,
    options: RunOptions,
    clock: Clock,
    echo: Callable[[Cycle], None] | None,
    stop: Callable[[], bool],
    once: bool,
    timing: Timing | None,
) -> dict[str, Any]:
    previous = resumable_run(store, bot, "paper", options)
    skip_until = previous["last_t"] if previous else None
    pipeline = open_pipeline(bot, "paper", options, store, timing, skip_until)
    run_id = previous["id"] if previous else _start_run(store, bot, "paper", options)
    if previous:
        store.event(run_id, skip_until, "resume", f"resumed after cycle {skip_until}")
    recorder = CycleRecorder(store, run_id, echo)
    pipeline.poll = _control_poll(store, bot.spec.bot, run_id, skip_until)

    def should_stop() -> bool:
        return stop() or (once and recorder.recorded >= 1)

    try:
        drive(
            pipeline,
            recorder,
            clock,
            bot.every * 1000,
            Window(options.start, options.end, skip_until),
            stop=should_stop,
        )
    except BaseException as exc:
        _finish_run(store, run_id, "failed", None, f"{type(exc).__name__}: {exc}")
        raise
    stopped = should_stop()
    summary = paper_summary(store, run_id, bot.spec.account.cash)
    summary["halted"] = pipeline.halted
    _finish_run(store, run_id, "stopped" if stopped else "finished", summary)
    return summary


def _exposure(fills: list[tuple[int, str, float]], times: Sequence[int]) -> float:
    return exposure_pct(fills, times[0], times[0] + span_ms(times)) if len(times) else 0.0


def _control_poll(
    store: Store, bot: str, run_id: str, recompute_until: int | None = None
) -> Callable[[int], list[Control]]:
    """A run's reader of operator commands: the one in force when it starts (a kill or a pause not since
    resumed), then each new one once, marked as taken by this run. A resumed run recomputes its recorded
    cycles up to ``recompute_until``: there it takes again, at the same cycles, only the commands it took
    before it stopped, so that it rebuilds the state it had; what came since waits for its first new cycle."""
    seen = controls.latest_id(store, bot)
    before = controls.taken_by(store, run_id) if recompute_until is not None else []
    again = {control.id for _, control in before}
    first = [c for c in [controls.standing(store, bot)] if c is not None and c.id not in again]

    def poll(t: int) -> list[Control]:
        nonlocal seen, first
        if recompute_until is not None and t <= recompute_until:
            return [control for taken_t, control in before if taken_t == t]
        found, first = first + controls.since(store, bot, seen), []
        for control in found:
            seen = max(seen, control.id)
            controls.taken(store, control, run_id, t)
        return found

    return poll


def paper_summary(store: Store, run_id: str, cash: float) -> dict[str, Any]:
    """The summary of a paper or live run, from what it recorded."""
    curve = store.rows("SELECT t, equity FROM equity WHERE run_id = ? ORDER BY t", (run_id,))
    times = [r["t"] for r in curve]
    fills = store.rows(
        "SELECT t, symbol, side, quantity, fee, realized_pnl FROM fills WHERE run_id = ? ORDER BY t, id", (run_id,)
    )
    pnls = [f["realized_pnl"] for f in fills if f["realized_pnl"] is not None]
    moves = [(f["t"], f["symbol"], f["quantity"] if f["side"] == "buy" else -f["quantity"]) for f in fills]
    summary = summarize(
        times, [r["equity"] for r in curve], cash, pnls, sum(f["fee"] for f in fills), _exposure(moves, times)
    )
    funding = store.one(
        "SELECT COALESCE(-SUM(amount), 0) AS paid FROM ledger WHERE run_id = ? AND kind = 'funding'", (run_id,)
    )
    liquidations = store.one("SELECT COUNT(*) AS n FROM events WHERE run_id = ? AND kind = 'liquidation'", (run_id,))
    summary["funding"] = funding["paid"] if funding else 0.0
    summary["liquidations"] = liquidations["n"] if liquidations else 0
    summary["run_id"] = run_id
    calls = store.rows(
        "SELECT attempt, source, error, tokens_in, tokens_out, cost_usd, COALESCE(subject, '') AS subject "
        "FROM llm_calls WHERE run_id = ?",
        (run_id,),
    )
    if calls:
        summary["llm"] = llm_summary(
            [LlmCall("", "", prompt_system="", prompt_user="", prompt_hash="", **c) for c in calls]
        )
    return summary


def _has_llm(bot: CompiledBot) -> bool:
    from runner.llm import LLM_BLOCKS

    return any(step.uses in LLM_BLOCKS for step in bot.steps)


def llm_summary(calls: Sequence[LlmCall]) -> dict[str, Any]:
    """What the run's model calls cost and how many were refused or missed in replay."""
    return {
        "calls": sum(c.source == "live" for c in calls),
        "cached": sum(c.source == "cache" for c in calls),
        "misses": sum(c.source == "miss" for c in calls),
        "errors": sum(bool(c.error) for c in calls),
        "repaired": sum(c.attempt == 2 and not c.error and not c.subject for c in calls),
        "tokens_in": sum(c.tokens_in or 0 for c in calls),
        "tokens_out": sum(c.tokens_out or 0 for c in calls),
        "cost_usd": round(sum(c.cost_usd or 0.0 for c in calls if c.source == "live"), 6),
    }
