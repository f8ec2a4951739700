"""Phase 2 of compiling: small pure checks over the whole pipeline. Each takes the CompileContext and
yields ConfigIssues; none does I/O."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Iterator

from runner.block import RefSpec, SecretSpec, Source
from runner.compile import CompileContext, StepInfo
from runner.durations import format_duration, parse_duration
from runner.errors import ConfigIssue
from runner.refs import ref_spec

Check = Callable[[CompileContext], Iterable[ConfigIssue]]

_RANK = {"source": 0, "indicator": 0, "planner": 1, "validator": 2, "executor": 3}
_ORDER_RULE = {
    0: "sources and indicators come before the planners",
    1: "planners come after the data steps and before the validators",
    2: "validators come after the planners and before the executors, so every intent passes them",
}


def check_unique_ids(ctx: CompileContext) -> Iterator[ConfigIssue]:
    """Step ids are unique within their file (a house rule against the bot's steps: check_house_ids)."""
    first: dict[tuple[bool, str], StepInfo] = {}
    for step in ctx.steps:
        if step.id is None:
            continue
        key = (step.house, step.id)
        if key in first:
            line = ctx.position((*first[key].path, "id"))[0]
            yield ctx.issue(
                (*step.path, "id"),
                f"duplicate step id '{step.id}' (first at line {line})",
                "give every step its own id",
            )
        else:
            first[key] = step


def check_house_ids(ctx: CompileContext) -> Iterator[ConfigIssue]:
    """No house rule has the id of one of the bot's own steps: verdicts, events and order ids name steps."""
    own = {step.id: step for step in ctx.steps if step.id is not None and not step.house}
    for step in ctx.steps:
        clash = own.get(step.id) if step.house and step.id is not None else None
        if clash is not None:
            line = ctx.position((*clash.path, "id"))[0]
            yield ctx.issue(
                (*step.path, "id"),
                f"house rule '{step.id}' has the id of a step of {ctx.doc.file} (line {line})",
                f"rename one of them; house rules are often prefixed, e.g. house_{step.id}",
            )


def check_shape(ctx: CompileContext) -> Iterator[ConfigIssue]:
    """The pipeline has a source, a planner and an executor, in a legal order."""
    kinds = [s.kind for s in ctx.steps if s.kind]
    if ctx.steps and len(kinds) == len(ctx.steps):
        for kind, example in (
            ("source", "source.candles"),
            ("planner", "planner.ema_cross"),
            ("executor", "executor.paper"),
        ):
            if kind not in kinds:
                yield ctx.issue(("pipeline",), f"the pipeline has no {kind} step", f"add one, e.g. {example}")
    latest: StepInfo | None = None
    for step in ctx.steps:
        if step.kind is None:
            continue
        if latest is not None and latest.kind and _RANK[step.kind] < _RANK[latest.kind]:
            yield ctx.issue(
                (*step.path, "uses"),
                f"{step.kind} '{step.id}' comes after {latest.kind} '{latest.id}'",
                _ORDER_RULE[_RANK[step.kind]],
            )
        else:
            latest = step


def check_references(ctx: CompileContext) -> Iterator[ConfigIssue]:
    """Every reference names an earlier step and one of its outputs of the right kind."""
    for step in ctx.steps:
        if step.config is None:
            continue
        for name, info in type(step.config).model_fields.items():
            spec = ref_spec(info)
            value = getattr(step.config, name)
            if spec is None or value is None:
                continue
            path = (*step.path, "with", info.alias or name)
            yield from _check_reference(ctx, step, str(value), spec, path)


def _check_reference(
    ctx: CompileContext, step: StepInfo, ref: str, spec: RefSpec, path: tuple[str | int, ...]
) -> Iterator[ConfigIssue]:
    target_id, _, field_name = ref.partition(".")
    target = ctx.step(target_id)
    earlier = [s.id for s in ctx.steps[: step.index] if s.id]
    if target is step:
        yield ctx.issue(path, f"step '{step.id}' cannot read its own output", "refer to an earlier step")
        return
    if target is None:
        close = difflib.get_close_matches(target_id, earlier, n=1, cutoff=0.6)
        hint = (
            f"did you mean '{close[0]}'?"
            if close
            else (f"earlier steps: {', '.join(earlier)}" if earlier else "no step comes before this one")
        )
        yield ctx.issue(path, f"unknown step '{target_id}'", hint)
        return
    if target.index > step.index:
        line = ctx.position(target.path)[0]
        yield ctx.issue(
            path,
            f"'{target_id}' is defined later (line {line}); a step can only read earlier steps",
            f"move step '{target_id}' above '{step.id}'",
        )
        return
    if target.block is None:
        return  # already reported where that step is defined
    config = target.config
    outputs = dict(target.block.output_fields(config) if config is not None else target.block.outputs)
    if not outputs:
        yield ctx.issue(path, f"step '{target_id}' ({target.uses}) has no outputs to read")
        return
    chosen = field_name or next(iter(outputs))
    if chosen not in outputs:
        close = difflib.get_close_matches(chosen, list(outputs), n=1, cutoff=0.6)
        hint = f"did you mean '{target_id}.{close[0]}'?" if close else f"it has {', '.join(outputs)}"
        yield ctx.issue(path, f"step '{target_id}' ({target.uses}) has no output '{chosen}'", hint)
        return
    if outputs[chosen] not in spec.kinds:
        numeric = [f"{target_id}.{n}" for n, k in outputs.items() if k in spec.kinds]
        hint = f"e.g. {numeric[0]}" if numeric else ""
        yield ctx.issue(path, f"'{ref}' is {outputs[chosen]}, but this field needs {' or '.join(spec.kinds)}", hint)


def check_cadence(ctx: CompileContext) -> Iterator[ConfigIssue]:
    """``every:`` values fit the source timeframes; sets ``ctx.every``."""
    timeframes = [
        (s, tf)
        for s in ctx.steps
        if s.block is not None
        and s.config is not None
        and issubclass(s.block, Source)
        and (tf := s.block.timeframe_seconds(s.config)) is not None
    ]
    finest = min((tf for _, tf in timeframes), default=None)
    header = ctx.header
    every = parse_duration(header.every) if header and header.every else finest
    if header and header.every and finest is not None and every is not None:
        if every < finest:
            yield ctx.issue(
                ("every",),
                f"{header.every} is finer than the finest source timeframe "
                f"{format_duration(finest)}; cycles would see no new data",
                f"use every: {format_duration(finest)} or a multiple of it",
            )
        elif every % finest:
            yield ctx.issue(
                ("every",),
                f"{header.every} is not a multiple of the source timeframe {format_duration(finest)}",
                "cycles run at candle closes",
            )
    if header and every is None and ctx.steps and not any(s.kind == "source" or s.uses is None for s in ctx.steps):
        yield ctx.issue((), "no cadence: set every:, or use a source with a timeframe", "e.g. every: 15m")
    ctx.every = every
    for step in ctx.steps:
        if step.every is None:
            continue
        if step.kind != "planner" and step.kind is not None:
            yield ctx.issue(
                (*step.path, "every"),
                f"a {step.kind} runs in every cycle; remove every:",
                "only planners may run less often; indicators see every bar",
            )
        elif every is not None and (step.every < every or step.every % every):
            yield ctx.issue(
                (*step.path, "every"),
                f"{format_duration(step.every)} is not a multiple of the bot's cadence {format_duration(every)}",
            )


def check_symbols(ctx: CompileContext) -> Iterator[ConfigIssue]:
    """Each symbol is listed once."""
    symbols = ctx.doc.data.get("symbols")
    seen: set[object] = set()
    for i, symbol in enumerate(symbols if isinstance(symbols, list) else []):
        if not isinstance(symbol, str | int | float):
            continue
        if symbol in seen:
            yield ctx.issue(("symbols", i), f"'{symbol}' is listed twice")
        seen.add(symbol)


def check_live(ctx: CompileContext) -> Iterator[ConfigIssue]:
    """``mode: live`` needs an executor that can trade live, with its credentials given as references."""
    if ctx.header is None or ctx.header.mode != "live":
        return
    executors = [s for s in ctx.steps if s.kind == "executor" and s.block is not None]
    live = [s for s in executors if s.block is not None and s.block.live]
    if executors and not live:
        names = ", ".join(sorted({str(s.uses) for s in executors}))
        yield ctx.issue(
            ("mode",),
            f"live, but no executor here can send real orders ({names} only simulates)",
            "use a venue executor, or mode: paper",
        )
    for step in live:
        if step.config is None:
            continue
        for name, info in type(step.config).model_fields.items():
            if any(isinstance(m, SecretSpec) for m in info.metadata) and not getattr(step.config, name):
                yield ctx.issue(
                    (*step.path, "with"),
                    f"mode: live needs credentials: '{name}' is not set",
                    f"add {name}: ${{env:NAME}} or ${{keystore:NAME}}",
                )


_FAILURE_KEYS = ("on_error", "timeout", "retries", "backoff")
_STOPS_THE_RUN = {"source": "a source", "indicator": "an indicator", "executor": "an executor"}


def check_failure_settings(ctx: CompileContext) -> Iterator[ConfigIssue]:
    """``on_error``, ``timeout``, ``retries`` and ``backoff`` are set only where they take effect: on planner
    and validator steps (an error elsewhere stops the run), and ``backoff`` only with retries."""
    for step in ctx.steps:
        raw = ctx.raw(step.path)
        if not isinstance(raw, dict) or step.kind is None:
            continue
        if step.kind in _STOPS_THE_RUN:
            for key in (k for k in _FAILURE_KEYS if k in raw):
                yield ctx.issue(
                    (*step.path, key),
                    f"applies to planner and validator steps only; an error in {_STOPS_THE_RUN[step.kind]} "
                    "stops the run",
                    f"remove {key}:",
                    at_key=True,
                )
        elif "backoff" in raw and not raw.get("retries"):
            yield ctx.issue((*step.path, "backoff"), "waits before a retry, but retries is 0", "set retries: 1 or more")


CHECKS: tuple[Check, ...] = (
    check_unique_ids,
    check_house_ids,
    check_shape,
    check_references,
    check_cadence,
    check_symbols,
    check_live,
    check_failure_settings,
)
